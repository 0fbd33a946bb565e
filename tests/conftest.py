"""Shared test fixtures: tiny synthetic image data for the training and lottery loops, and writers of
CIFAR-10/100 folders in torchvision's on-disk format and of MNIST's raw IDX files for the data loaders.

The tests mirror the library's subpackages (``tests/method``, ``tests/runs``, ``tests/section4``,
``tests/evidence``, ``tests/data``, ``tests/models``, ``tests/book``, ``tests/cli``); this file, at the top of
``tests/``, serves them all. No ``__init__.py``: every test file's basename is unique. Keep it the only
``conftest.py``: tests import its constants with ``from conftest import ...``, and a second ``conftest.py``
in a subfolder would be imported under the same name and shadow it (their collection then fails).
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Callable
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


# ------------------------------------------------------------------ tiny book chapters (jupytext MyST sources)
#: The jupytext header of every chapter source (``notebooks/*.md``), as ``python -m concave_lottery.book sync``
#: pairs them with their ``.ipynb``.
CHAPTER_FRONT_MATTER = """\
---
jupytext:
  formats: ipynb,md:myst
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def chapter_source(title: str, *cells: str, parameters: str = "a = 1", tail: str = "") -> str:
    """A tiny chapter's MyST source: the jupytext header, ``# title``, the parameters cell (tagged
    ``parameters``, holding ``parameters``), one code cell per entry of ``cells``, then ``tail`` (Markdown)."""
    text = f"{CHAPTER_FRONT_MATTER}\n# {title}\n\n```{{code-cell}} ipython3\n:tags: [parameters]\n\n{parameters}\n```\n"
    for cell in cells:
        text += f"\n```{{code-cell}} ipython3\n{cell}\n```\n"
    return text + (f"\n{tail}" if tail else "")


@pytest.fixture(scope="session")
def jupytext_chapter() -> Callable[..., str]:
    """``jupytext_chapter(title, *cells, parameters="a = 1", tail="")``: a tiny chapter's MyST source (see
    ``chapter_source``; modules that need it at import time use ``from conftest import chapter_source``)."""
    return chapter_source


# ------------------------------------------------------------------ CIFAR folders in torchvision's format
class CifarPickles:
    """Writes CIFAR-10/100 folders as the official archives hold them (python-version pickles, protocol 2;
    a row of ``data`` is 1024 red, 1024 green, 1024 blue values) and makes the loader accept their md5s: the
    library's stand-in writers (:mod:`concave_lottery.data.standins`, which the paper-profile rehearsal uses
    too), with every substitution undone after the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.monkeypatch = monkeypatch

    @staticmethod
    def cifar10_files(rows: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict[str, bytes]:
        """The files of ``cifar-10-batches-py/``: one pickle per batch name in ``rows`` (``data_batch_1`` ...
        ``test_batch``) and ``batches.meta``."""
        from concave_lottery.data import standins

        return standins.cifar10_batches(rows, labels)

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
        from concave_lottery.data import standins

        return standins.cifar100_files(rng, n_train, n_test)

    @staticmethod
    def write(folder: Path, files: dict[str, bytes]) -> None:
        from concave_lottery.data import standins

        standins.write_folder(folder, files)

    def use(self, name: str, files: dict[str, bytes]) -> type:
        """Substitute these files' md5s in the torchvision class that ``data.cifar.SPECS[name]`` names (what
        the loader checks); return that class (it reads the same files as a cross-check)."""
        from concave_lottery.data import cifar, standins

        standins.substitute_checksums({name: {n: standins.md5(d) for n, d in files.items()}},
                                      self.monkeypatch.setitem)
        return cifar.SPECS[name].tv_class


@pytest.fixture
def cifar_pickles(monkeypatch) -> CifarPickles:
    """Writers of CIFAR-10/100 folders in torchvision's on-disk format (see ``CifarPickles``)."""
    return CifarPickles(monkeypatch)


# ------------------------------------------------------------------ recorded-run fixtures (real MNIST)
#: Skips a test that reads real MNIST when neither the offline mirror nor the data root has it.
NEEDS_MNIST = pytest.mark.skipif(
    not os.environ.get("LOTTERY_DATA_MIRROR") and not (REPO_ROOT / "data" / "MNIST").exists(),
    reason="needs MNIST: set LOTTERY_DATA_MIRROR to the offline mirror")


@pytest.fixture(scope="session")
def mnist_ticket_runs(tmp_path_factory) -> dict[str, Path]:
    """Two small finished LeNet-300-100 runs with their ticket weights (2,000 MNIST training and 1,000 test
    images, 1 epoch per round): ``soft`` (Algorithm 1 with log, 2 rounds) and ``imp`` (levels 0-2). ~10 s."""
    import torch

    from concave_lottery.runs.config import resolve_config
    from concave_lottery.runs.lottery import run_lottery

    root = tmp_path_factory.mktemp("ticket-runs")
    runs = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for method, lam in (("soft", "3e-4"), ("imp", "1e-6")):
            config = resolve_config("lenet300-mnist", {"method": method, "lam": lam, "rounds": "2", "epochs": "1",
                                                       "train_subset": "2000", "test_subset": "1000"})
            path, _ = run_lottery(config, root, device="cpu", progress=False)
            runs[method] = path.parent
    finally:
        torch.set_num_threads(threads)
    return runs


# ------------------------------------------------------------------ MNIST's raw files
class MnistIdx:
    """MNIST's four raw files in LeCun's IDX format (``train-images-idx3-ubyte`` …), and the loader told
    their md5s (undone after the test)."""

    NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.monkeypatch = monkeypatch

    @staticmethod
    def idx_bytes(array: np.ndarray) -> bytes:
        """IDX: 0, 0, 0x08 (unsigned byte), the rank, the sizes as big-endian int32, then the bytes."""
        header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
        return header + array.astype(np.uint8).tobytes()

    @classmethod
    def files(cls, train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
              test_labels: np.ndarray) -> dict[str, bytes]:
        """The four files holding these arrays (images N x 28 x 28, labels N)."""
        arrays = (train_images, train_labels, test_images, test_labels)
        return {name: cls.idx_bytes(a) for name, a in zip(cls.NAMES, arrays, strict=True)}

    def expect(self, files: dict[str, bytes]) -> None:
        """Make the loader expect these files' md5s (``data.mnist.FILES``)."""
        from concave_lottery.data import mnist

        self.monkeypatch.setattr(mnist, "FILES", {n: hashlib.md5(d).hexdigest() for n, d in files.items()})

    def install(self, folder: Path, files: dict[str, bytes]) -> Path:
        """Write the files into ``folder`` (e.g. ``<root>/MNIST/raw``) and make the loader expect them."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        self.expect(files)
        return folder


@pytest.fixture
def mnist_idx(monkeypatch) -> MnistIdx:
    """MNIST's raw files in IDX format, written and checksummed for the loader (see ``MnistIdx``)."""
    return MnistIdx(monkeypatch)


# ------------------------------------------------------------------------------------------ browser

#: Debian's Chromium, which Playwright drives (it cannot download its own browser here).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium for the browser tests (skipped when chromium is not installed)."""
    import shutil

    if not CHROMIUM.is_file() and not shutil.which("chromium"):
        pytest.skip("chromium is not installed: `make browser-deps` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    executable = str(CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium"))
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


#: The converged campaign's spec (``sweeps/``), which gains its IMP grid once the soft tickets' sparsity is known.
CONVERGED_SPEC = "sweeps/resnet20-cifar10-subset-converged.toml"


@pytest.fixture
def soft_spec(repo_root: Path, tmp_path: Path) -> str:
    """The converged spec's soft-ℓ1 and soft-log grids (3 seeds each, 6 runs), without an IMP grid whether or
    not the committed spec has one, written to a file of its own (``out`` kept)."""
    spec = tomllib.loads((repo_root / CONVERGED_SPEC).read_text())
    soft = [g for g in spec["grid"] if g["method"] == "soft"]
    assert [g["regularizer"] for g in soft] == ["l1", "log"] and all(g["seed"] == [0, 1, 2] for g in soft)
    lines = [f"out = {json.dumps(spec['out'])}"]
    for grid in soft:
        lines += ["", "[[grid]]"] + [f"{key} = {json.dumps(value)}" for key, value in grid.items()]
    path = tmp_path / "converged-soft.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)
