"""CIFAR-10, CIFAR-100 (torchvision's python-version pickles) and the mirror's partial CIFAR-10.

``cifar10`` / ``cifar100``: the folders ``cifar-10-batches-py/`` / ``cifar-100-python/`` of torchvision's
layout, looked for in the data root, then the mirror, else downloaded and extracted into the data root
by torchvision's md5-checked ``download_and_extract_archive`` (the URL, archive md5, file names and
per-file md5s are read from torchvision's own ``CIFAR10`` / ``CIFAR100`` classes, so they are exactly
torchvision's). Every pickle is md5-checked *before* it is unpickled, so no unknown pickle is ever
loaded. The pickles hold rows of 3072 bytes, the 1024 red, then green, then blue values of a 32x32
image: a row reshaped to (3, 32, 32) is already CHW (torchvision's ``.data`` transposes it to HWC).

``cifar10-subset``: the mirror's ``cifar10-subset.npz`` (5,170 train / 1,017 test real CIFAR-10 images,
HWC like torchvision's ``.data``), from the data root or the mirror; it has no download.

Normalisation uses CIFAR's own per-channel statistics of the full training sets (not ImageNet's):
the mean and the population standard deviation of all 50,000 training images, in [0, 1] pixel units.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision.datasets

from concave_lottery.data.imagedata import ImageData
from concave_lottery.data.sources import Attempts, Status, check_md5, md5_file, url_unreachable
from concave_lottery.errors import CorruptFile

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


@dataclass(frozen=True)
class CifarSpec:
    """One CIFAR variant: torchvision's class (file names, md5s, URL), its label key and statistics."""

    tv_class: type  # torchvision.datasets.CIFAR10 or CIFAR100 (or a subclass, e.g. in tests)
    label_key: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def folder(self) -> str:
        return self.tv_class.base_folder

    @property
    def files(self) -> dict[str, list[tuple[str, str]]]:
        return {"train": list(self.tv_class.train_list), "test": list(self.tv_class.test_list)}


SPECS: dict[str, CifarSpec] = {
    "cifar10": CifarSpec(torchvision.datasets.CIFAR10, "labels", 10, CIFAR10_MEAN, CIFAR10_STD),
    "cifar100": CifarSpec(torchvision.datasets.CIFAR100, "fine_labels", 100, CIFAR100_MEAN, CIFAR100_STD),
}

SUBSET_FILE = "cifar10-subset.npz"
SUBSET_MD5 = "3a87b8de8866076bbebce891bcada512"


def _fix(name: str, spec: CifarSpec, root: Path) -> str:
    return (
        f"run `lottery data fetch {name}` on a machine that reaches {spec.tv_class.url}, or put "
        f"torchvision's `{spec.folder}/` folder into {root} (or `export LOTTERY_DATA=...` / "
        f"`export LOTTERY_DATA_MIRROR=...` to a folder that holds it). Full CIFAR is not in this "
        "project's offline mirror; `cifar10-subset` is."
    )


def _missing(folder: Path, spec: CifarSpec) -> list[str]:
    names = [n for n, _ in spec.files["train"] + spec.files["test"]] + [spec.tv_class.meta["filename"]]
    return [n for n in names if not (folder / n).is_file()]


def _locate(name: str, spec: CifarSpec, root: Path, mirror: Path | None, attempts: Attempts):
    for kind, base in (("root", root), ("mirror", mirror)):
        if base is None:
            attempts.add("mirror", "none configured (LOTTERY_DATA_MIRROR is unset)")
            continue
        folder = base / spec.folder
        missing = _missing(folder, spec)
        if not missing:
            return kind, folder
        attempts.add(f"{kind} {folder}", "missing " + ", ".join(missing) if folder.is_dir() else "no such folder")
    return None


def _download(spec: CifarSpec, root: Path, attempts: Attempts) -> Path | None:
    from torchvision.datasets.utils import download_and_extract_archive

    url = spec.tv_class.url
    reason = url_unreachable(url)
    if reason:
        attempts.add(f"torchvision download {url}", reason)
        return None
    try:
        root.mkdir(parents=True, exist_ok=True)
        download_and_extract_archive(url, str(root), filename=spec.tv_class.filename, md5=spec.tv_class.tgz_md5)
    except Exception as exc:  # noqa: BLE001 - any failure means this source did not serve
        attempts.add(f"torchvision download {url}", f"failed ({exc})")
        return None
    folder = root / spec.folder
    if _missing(folder, spec):
        attempts.add(f"torchvision download {url}", f"the archive did not give {folder}")
        return None
    return folder


def _read_pickle(path: Path, md5: str) -> dict:
    check_md5(path, md5)  # before unpickling: only the published files are ever unpickled
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _read_split(folder: Path, spec: CifarSpec, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for filename, md5 in spec.files[split]:
        entry = _read_pickle(folder / filename, md5)
        try:
            data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            target = np.asarray(entry[spec.label_key], dtype=np.int64)
        except (KeyError, ValueError) as exc:
            raise CorruptFile(f"{folder / filename} is not a CIFAR python-version batch ({exc})") from exc
        if len(target) != len(data):
            raise CorruptFile(f"{folder / filename}: {len(data)} images but {len(target)} labels")
        images.append(data)
        labels.append(target)
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def load(name: str, root: Path, mirror: Path | None, download: bool, progress: bool) -> ImageData:
    if name == "cifar10-subset":
        return load_subset(root, mirror)
    spec = SPECS[name]
    attempts = Attempts(name)
    found = _locate(name, spec, root, mirror, attempts)
    if found is None:
        if download:
            folder = _download(spec, root, attempts)
            found = ("torchvision-download", folder) if folder is not None else None
        else:
            attempts.add(f"torchvision download {spec.tv_class.url}", "skipped: download=False")
    if found is None:
        raise attempts.error(_fix(name, spec, root))
    kind, folder = found
    meta = spec.tv_class.meta
    check_md5(folder / meta["filename"], meta["md5"])
    train_images, train_labels = _read_split(folder, spec, "train")
    test_images, test_labels = _read_split(folder, spec, "test")
    return ImageData(
        name,
        train_images,
        train_labels,
        test_images,
        test_labels,
        spec.num_classes,
        spec.mean,
        spec.std,
        "cifar",
        f"{kind}:{folder}",
    )


def _locate_subset(root: Path, mirror: Path | None, attempts: Attempts) -> tuple[str, Path] | None:
    for kind, base in (("root", root), ("mirror", mirror)):
        if base is None:
            attempts.add("mirror", "none configured (LOTTERY_DATA_MIRROR is unset)")
            continue
        path = base / SUBSET_FILE
        if path.is_file():
            return kind, path
        attempts.add(f"{kind} {path}", "no such file")
    return None


def load_subset(root: Path, mirror: Path | None) -> ImageData:
    attempts = Attempts("cifar10-subset")
    found = _locate_subset(root, mirror, attempts)
    if found is None:
        attempts.add("download", "none exists: this partial CIFAR-10 is an artefact of the offline mirror")
        raise attempts.error(
            f"`export LOTTERY_DATA_MIRROR=/path/to/mirror` (a folder holding {SUBSET_FILE}, "
            f"e.g. ../shared/data next to this project), or copy {SUBSET_FILE} into the data root {root}."
        )
    kind, path = found
    check_md5(path, SUBSET_MD5)
    with np.load(path, allow_pickle=False) as npz:

        def images(key: str) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(npz[key].transpose(0, 3, 1, 2)))  # HWC -> CHW

        def labels(key: str) -> torch.Tensor:
            return torch.from_numpy(npz[key].astype(np.int64))

        return ImageData(
            "cifar10-subset",
            images("train_images"),
            labels("train_labels"),
            images("test_images"),
            labels("test_labels"),
            10,
            CIFAR10_MEAN,
            CIFAR10_STD,
            "cifar",
            f"{kind}:{path}",
        )


def probe(name: str, root: Path, mirror: Path | None) -> Status:
    """Find the dataset locally (no download) and check its md5s."""
    attempts = Attempts(name)
    if name == "cifar10-subset":
        found = _locate_subset(root, mirror, attempts)
        if found is None:
            return Status(name, False, detail="; ".join(f"{s}: {o}" for s, o in attempts.tried))
        kind, path = found
        ok = md5_file(path) == SUBSET_MD5
        return Status(name, True, f"{kind}:{path}", ok, path.stat().st_size, None, "" if ok else "md5 mismatch")
    spec = SPECS[name]
    found = _locate(name, spec, root, mirror, attempts)
    if found is None:
        return Status(name, False, detail="; ".join(f"{s}: {o}" for s, o in attempts.tried))
    kind, folder = found
    files = spec.files["train"] + spec.files["test"] + [(spec.tv_class.meta["filename"], spec.tv_class.meta["md5"])]
    bad = [n for n, md5 in files if md5_file(folder / n) != md5]
    size = sum((folder / n).stat().st_size for n, _ in files)
    return Status(name, True, f"{kind}:{folder}", not bad, size, None, f"md5 mismatch: {', '.join(bad)}" if bad else "")
