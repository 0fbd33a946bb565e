"""Shared test fixtures: tiny synthetic image data for the training and lottery loops, and writers of
CIFAR-10/100 folders in torchvision's on-disk format for the data loaders.

The tests mirror the library's subpackages (``tests/method``, ``tests/runs``, ``tests/section4``,
``tests/evidence``, ``tests/data``, ``tests/models``, ``tests/book``, ``tests/cli``); this file, at the top of
``tests/``, serves them all. No ``__init__.py``: every test file's basename is unique.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

#: The repository's root (``tests/`` is directly below it).
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder (README.md, results/, sweeps/, notebooks/ ...)."""
    return REPO_ROOT


def make_tiny_images(n_train: int = 256, n_test: int = 64, classes: int = 4, size: int = 8, channels: int = 1,
                     seed: int = 0, name: str = "mnist"):
    """Class-dependent blobs: learnable in a few epochs by LeNet-300-100 on 8x8 inputs (an ``ImageData``)."""
    import torch

    from concave_lottery.data import ImageData

    g = torch.Generator().manual_seed(seed)
    protos = torch.rand(classes, channels, size, size, generator=g)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, classes, (n,), generator=g)
        x = protos[y] * 0.7 + 0.3 * torch.rand(n, channels, size, size, generator=g)
        return (x * 255).round().to(torch.uint8), y

    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    return ImageData(name=name, train_images=xtr, train_labels=ytr, test_images=xte, test_labels=yte,
                     num_classes=classes, mean=(0.5,) * channels, std=(0.25,) * channels,
                     augmentation="none", source="synthetic")


@pytest.fixture(scope="session")
def tiny_images() -> Callable:
    """``tiny_images(n_train=256, n_test=64, classes=4, size=8, channels=1, seed=0, name="mnist")``: small
    synthetic ``ImageData`` for fast tests of the training and lottery loops (the same data for the same
    arguments)."""
    return make_tiny_images


# ------------------------------------------------------------------ CIFAR folders in torchvision's format
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class CifarPickles:
    """Writes CIFAR-10/100 folders as the official archives hold them (python-version pickles, protocol 2;
    a row of ``data`` is 1024 red, 1024 green, 1024 blue values) and makes the loader accept their md5s."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.monkeypatch = monkeypatch

    @staticmethod
    def cifar10_files(rows: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict[str, bytes]:
        """The files of ``cifar-10-batches-py/``: one pickle per batch name in ``rows`` (``data_batch_1`` ...
        ``test_batch``) and ``batches.meta``."""
        files = {}
        for name in rows:
            batch_label = "testing batch 1 of 1" if name == "test_batch" else f"training batch {name[-1]} of 5"
            entry = {
                "batch_label": batch_label,
                "labels": [int(v) for v in labels[name]],
                "data": rows[name],
                "filenames": [f"{name}_{j}.png" for j in range(len(rows[name]))],
            }
            files[name] = pickle.dumps(entry, protocol=2)
        meta = {"label_names": CIFAR10_NAMES, "num_cases_per_batch": 10000, "num_vis": 3072}
        files["batches.meta"] = pickle.dumps(meta, protocol=2)
        return files

    @classmethod
    def random_cifar10_files(cls, rng: np.random.Generator, train_sizes: tuple[int, ...],
                             n_test: int) -> dict[str, bytes]:
        """Random images and labels: five training batches of ``train_sizes`` images and a test batch."""
        rows, labels = {}, {}
        names = [f"data_batch_{i}" for i in range(1, len(train_sizes) + 1)] + ["test_batch"]
        for name, n in zip(names, (*train_sizes, n_test), strict=True):
            labels[name] = rng.integers(0, 10, n)
            rows[name] = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        return cls.cifar10_files(rows, labels)

    @staticmethod
    def cifar100_files(rng: np.random.Generator, n_train: int, n_test: int) -> dict[str, bytes]:
        """The files of ``cifar-100-python/`` (``train``, ``test``, ``meta``) with random images and labels."""
        files = {}
        for split, n in (("train", n_train), ("test", n_test)):
            fine = [int(v) for v in rng.integers(0, 100, n)]
            entry = {
                "filenames": [f"{split}_{j}.png" for j in range(n)],
                "batch_label": f"{split} batch",
                "fine_labels": fine,
                "coarse_labels": [v // 5 for v in fine],
                "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            }
            files[split] = pickle.dumps(entry, protocol=2)
        meta = {"fine_label_names": [f"f{i}" for i in range(100)],
                "coarse_label_names": [f"c{i}" for i in range(20)]}
        files["meta"] = pickle.dumps(meta, protocol=2)
        return files

    @staticmethod
    def write(folder: Path, files: dict[str, bytes]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)

    def use(self, name: str, files: dict[str, bytes]) -> type:
        """Substitute these files' md5s in the torchvision class that ``data.cifar.SPECS[name]`` names (what
        the loader checks); return that class (it reads the same files as a cross-check)."""
        from concave_lottery.data import cifar

        spec = cifar.SPECS[name]
        md5 = {n: _md5(d) for n, d in files.items()}

        class Substituted(spec.tv_class):
            pass

        Substituted.train_list = [[n, md5[n]] for n, _ in spec.tv_class.train_list]
        Substituted.test_list = [[n, md5[n]] for n, _ in spec.tv_class.test_list]
        Substituted.meta = dict(spec.tv_class.meta, md5=md5[spec.tv_class.meta["filename"]])
        self.monkeypatch.setitem(cifar.SPECS, name, replace(spec, tv_class=Substituted))
        return Substituted


@pytest.fixture
def cifar_pickles(monkeypatch) -> CifarPickles:
    """Writers of CIFAR-10/100 folders in torchvision's on-disk format (see ``CifarPickles``)."""
    return CifarPickles(monkeypatch)
