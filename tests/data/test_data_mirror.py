"""The real offline mirror (``$LOTTERY_DATA_MIRROR``, e.g. ../shared/data): MNIST, cifar10-subset and
Tiny ImageNet as the mirror's README describes them. Skipped when the variable is unset.

The Tiny ImageNet test decodes 110,000 JPEGs the first time (about 25 s on a 2-core CPU) and caches
them (1.35 GB) in a data root that persists across runs: ``$LOTTERY_DATA`` when set, else
``$XDG_CACHE_HOME/concave-lottery/data`` (``~/.cache/...``), never the repository; later runs load the
cache in a few seconds.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import time
from pathlib import Path

import pytest
import torch

from concave_lottery.data import dataset_status, draw_runs, load_dataset, load_mnist01
from concave_lottery.data import mnist as mnist_module
from concave_lottery.data import tinyimagenet as tin

MIRROR = os.environ.get("LOTTERY_DATA_MIRROR")
pytestmark = [
    pytest.mark.mirror,
    pytest.mark.skipif(
        not MIRROR or not Path(MIRROR).is_dir(),
        reason="LOTTERY_DATA_MIRROR is unset or not a folder: export LOTTERY_DATA_MIRROR=/path/to/data "
        "(the offline dataset mirror) to run the tests on the real data",
    ),
]


@pytest.fixture
def empty_root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LOTTERY_DATA", str(tmp_path / "root"))  # only the mirror can serve
    monkeypatch.setenv("LOTTERY_OFFLINE", "1")
    return tmp_path / "root"


def test_mnist_md5s_and_content(empty_root):
    folder = Path(MIRROR) / "MNIST" / "raw"
    for name, md5 in mnist_module.FILES.items():
        assert hashlib.md5((folder / name).read_bytes()).hexdigest() == md5, name
    data = load_dataset("mnist", progress=False)
    assert data.source == f"mirror:{folder}"
    assert data.train_images.shape == (60000, 1, 28, 28) and data.test_images.shape == (10000, 1, 28, 28)
    assert data.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert torch.bincount(data.test_labels).tolist() == test_counts
    assert dataset_status("mnist").verified is True


def test_mnist01_on_the_real_digits(empty_root):
    X, y = load_mnist01(progress=False)
    assert X.shape == (12665, 400) and torch.bincount(y).tolist() == [5923, 6742]
    runs = draw_runs(X, y)  # the paper's 100 runs of 160 + 40 per digit
    assert runs.X_train.shape == (100, 320, 400) and runs.X_val.shape == (100, 80, 400)
    # the 4-pixel border that the 20x20 crop drops holds little ink (3.4% of it in the training set)
    full = load_dataset("mnist", progress=False).train_images.float()
    border = full.sum() - full[:, :, 4:24, 4:24].sum()
    assert border / full.sum() < 0.05


def test_cifar10_subset_shapes_and_class_counts(empty_root):
    import numpy as np

    data = load_dataset("cifar10-subset", progress=False)
    assert data.train_images.shape == (5170, 3, 32, 32) and data.test_images.shape == (1017, 3, 32, 32)
    train_counts, test_counts = torch.bincount(data.train_labels), torch.bincount(data.test_labels)
    assert len(train_counts) == 10 and 484 <= train_counts.min() and train_counts.max() <= 540
    assert len(test_counts) == 10 and 87 <= test_counts.min() and test_counts.max() <= 114
    with np.load(Path(MIRROR) / "cifar10-subset.npz") as npz:
        assert torch.equal(data.train_images[0], torch.from_numpy(npz["train_images"][0]).permute(2, 0, 1))
    assert dataset_status("cifar10-subset").verified is True


def _persistent_root() -> Path:
    if os.environ.get("LOTTERY_DATA"):
        return Path(os.environ["LOTTERY_DATA"]).absolute()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "concave-lottery" / "data"


@pytest.mark.slow
def test_tinyimagenet_100000_train_10000_val_200_classes(monkeypatch):
    monkeypatch.setenv("LOTTERY_OFFLINE", "1")
    root = _persistent_root()
    cached = tin.read_cache_meta(root) is not None
    started = time.perf_counter()
    data = load_dataset("tinyimagenet", root=root, progress=False)
    seconds = time.perf_counter() - started
    print(f"\nTiny ImageNet {'cached' if cached else 'first'} load: {seconds:.1f} s ({data.source})")
    assert data.train_images.shape == (100000, 3, 64, 64) and data.test_images.shape == (10000, 3, 64, 64)
    assert data.num_classes == 200
    assert torch.bincount(data.train_labels, minlength=200).tolist() == [500] * 200
    assert torch.bincount(data.test_labels, minlength=200).tolist() == [50] * 200
    wnids = (Path(MIRROR) / tin.FOLDER / "wnids.txt").read_text().split()
    with tarfile.open(Path(MIRROR) / tin.FOLDER / "val.tar.gz") as tf:
        annotations = tf.extractfile(f"{tin.FOLDER}/val/val_annotations.txt").read().decode().splitlines()
    assert [wnids.index(line.split("\t")[1]) for line in annotations] == data.test_labels.tolist()
    status = dataset_status("tinyimagenet", root=root)
    assert status.available and status.cached and status.verified
    if cached:  # a second load memory-maps the verified cache instead of decoding the archives again
        assert data.source.startswith("cache:"), data.source
