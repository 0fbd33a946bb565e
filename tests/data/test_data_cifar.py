"""CIFAR-10/100 loaders on small pickles in torchvision's on-disk format (the ``cifar_pickles`` fixture of
``tests/conftest.py``), and the
mirror-style ``cifar10-subset.npz``; torchvision's own CIFAR classes read the same files as a cross-check."""

from __future__ import annotations

import hashlib
import pickle
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from concave_lottery.data import batches, load_dataset, sources
from concave_lottery.data import cifar as cifar_module
from concave_lottery.errors import CorruptFile, DatasetUnavailable, ParameterError

N_TRAIN_PER_BATCH = (7, 5, 6, 4, 3)  # CIFAR-10: five data_batch files
N_TEST = 6


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("LOTTERY_DATA", str(tmp_path / "root"))
    monkeypatch.delenv("LOTTERY_DATA_MIRROR", raising=False)
    monkeypatch.setenv("LOTTERY_OFFLINE", "1")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar10(pickles, base: Path, seed: int = 0) -> type:
    """Write cifar-10-batches-py/ under ``base`` (random images, five training batches of
    ``N_TRAIN_PER_BATCH``); the loader accepts its md5s; return the torchvision class carrying them."""
    files = pickles.random_cifar10_files(np.random.default_rng(seed), N_TRAIN_PER_BATCH, N_TEST)
    pickles.write(base / "cifar-10-batches-py", files)
    return pickles.use("cifar10", files)


def write_cifar100(pickles, base: Path, seed: int = 1) -> type:
    files = pickles.cifar100_files(np.random.default_rng(seed), n_train=9, n_test=4)
    pickles.write(base / "cifar-100-python", files)
    return pickles.use("cifar100", files)


def test_cifar10_matches_torchvision_reading_the_same_files(cifar_pickles, tmp_path, monkeypatch):
    root = tmp_path / "root"
    tv_class = write_cifar10(cifar_pickles, root)
    data = load_dataset("cifar10")
    n_train = sum(N_TRAIN_PER_BATCH)
    assert data.train_images.shape == (n_train, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (N_TEST, 3, 32, 32)
    assert data.train_labels.dtype == torch.int64 and data.train_labels.shape == (n_train,)
    assert data.num_classes == 10 and data.augmentation == "cifar"
    assert data.mean == cifar_module.CIFAR10_MEAN and data.std == cifar_module.CIFAR10_STD
    assert data.source == f"root:{root / 'cifar-10-batches-py'}"
    for train in (True, False):
        reference = tv_class(str(root), train=train, download=False)  # md5-checks and reads the same pickles
        images, labels = (data.train_images, data.train_labels) if train else (data.test_images, data.test_labels)
        # torchvision's .data is HWC; ours is CHW; the label order is the batch files' order
        assert torch.equal(images, torch.from_numpy(reference.data).permute(0, 3, 1, 2))
        assert labels.tolist() == list(reference.targets)


def test_cifar10_pixel_layout_is_rgb_planes(cifar_pickles, tmp_path, monkeypatch):
    """A row of the pickle is 1024 red, 1024 green, 1024 blue values, row-major within a plane."""
    root = tmp_path / "root"
    write_cifar10(cifar_pickles, root)
    with open(root / "cifar-10-batches-py" / "data_batch_2", "rb") as f:
        row = pickle.load(f, encoding="latin1")["data"][3]
    image = load_dataset("cifar10").train_images[N_TRAIN_PER_BATCH[0] + 3]
    assert image[1, 0, 0] == row[1024] and image[2, 31, 31] == row[3071] and image[0, 1, 0] == row[32]


def test_cifar100_uses_fine_labels(cifar_pickles, tmp_path, monkeypatch):
    root = tmp_path / "root"
    tv_class = write_cifar100(cifar_pickles, root)
    data = load_dataset("cifar100")
    reference = tv_class(str(root), train=True, download=False)
    assert data.num_classes == 100 and data.train_images.shape == (9, 3, 32, 32) and data.num_test == 4
    assert data.train_labels.tolist() == list(reference.targets)
    assert data.mean == cifar_module.CIFAR100_MEAN


def test_cifar_normalisation_uses_cifar_statistics(cifar_pickles, tmp_path, monkeypatch):
    write_cifar10(cifar_pickles, tmp_path / "root")
    data = load_dataset("cifar10")
    (x, y), *_ = batches(data, 4, train=False)
    mean = torch.tensor(cifar_module.CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(cifar_module.CIFAR10_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(x, (data.test_images[:4].float() / 255 - mean) / std)
    assert torch.equal(y, data.test_labels[:4])


def test_wrong_md5_is_a_corrupt_file_naming_file_and_md5s(cifar_pickles, tmp_path, monkeypatch):
    root = tmp_path / "root"
    write_cifar10(cifar_pickles, root)
    path = root / "cifar-10-batches-py" / "data_batch_3"
    good = _md5(path)
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptFile) as info:
        load_dataset("cifar10")
    message = str(info.value)
    assert str(path) in message and good in message and _md5(path) in message


def test_missing_cifar_names_every_source_and_the_fix(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.delenv("LOTTERY_OFFLINE")
    monkeypatch.setattr(sources, "url_unreachable", lambda url: "unreachable (test)")
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar100", mirror=mirror)
    message = str(info.value)
    assert str(tmp_path / "root" / "cifar-100-python") in message
    assert str(mirror / "cifar-100-python") in message
    assert "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz: unreachable (test)" in message
    assert "lottery data fetch cifar100" in message and "LOTTERY_DATA_MIRROR" in message
    with pytest.raises(DatasetUnavailable, match="skipped: download=False"):
        load_dataset("cifar10", download=False)


def test_mirror_is_used_when_the_root_lacks_cifar(cifar_pickles, tmp_path, monkeypatch):
    write_cifar10(cifar_pickles, tmp_path / "mirror")
    data = load_dataset("cifar10", mirror=tmp_path / "mirror")
    assert data.source.startswith("mirror:")


def test_download_of_the_official_archive_is_checked_then_moved_into_place(cifar_pickles, tmp_path, monkeypatch):
    """The download asks torchvision's ``download_url`` for the official URL, checks the archive's md5
    itself, extracts it in a temporary folder and moves ``cifar-10-batches-py/`` into the data root."""
    staging = tmp_path / "staging"
    tv_class = write_cifar10(cifar_pickles, staging)
    archive = staging / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(staging / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    (official,) = sources.DOWNLOADS["cifar10"]
    monkeypatch.setitem(sources.DOWNLOADS, "cifar10", (replace(official, md5=_md5(archive)),))
    monkeypatch.delenv("LOTTERY_OFFLINE")
    monkeypatch.setattr(sources, "url_unreachable", lambda url: None)
    calls = []

    def fake_download(url, root, filename=None, md5=None, **kwargs):
        calls.append((url, filename))
        (Path(root) / filename).write_bytes(archive.read_bytes())

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", fake_download)
    data = load_dataset("cifar10")
    assert calls == [(tv_class.url, tv_class.filename)]
    root = tmp_path / "root"
    assert data.source == f"download:{root / 'cifar-10-batches-py'}" and data.num_train == sum(N_TRAIN_PER_BATCH)
    assert [p.name for p in root.iterdir()] == ["cifar-10-batches-py"]  # no archive, no temporary folder


def write_subset(base: Path, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, 12).astype(np.uint8),
        "test_images": rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, 5).astype(np.uint8),
        "train_source": np.zeros((12, 2), np.int32),
        "test_source": np.zeros((5, 2), np.int32),
    }
    base.mkdir(parents=True, exist_ok=True)
    np.savez(base / "cifar10-subset.npz", **arrays)
    return arrays


def test_cifar10_subset_from_a_test_written_npz(tmp_path, monkeypatch):
    arrays = write_subset(tmp_path / "mirror")
    monkeypatch.setattr(cifar_module, "SUBSET_DIGEST", cifar_module.subset_digest(arrays))
    data = load_dataset("cifar10-subset", mirror=tmp_path / "mirror")
    assert torch.equal(data.train_images, torch.from_numpy(arrays["train_images"]).permute(0, 3, 1, 2))
    assert data.test_labels.dtype == torch.int64 and data.test_labels.tolist() == arrays["test_labels"].tolist()
    assert data.mean == cifar_module.CIFAR10_MEAN and data.augmentation == "cifar"
    monkeypatch.setattr(cifar_module, "SUBSET_DIGEST", "0" * 64)
    with pytest.raises(CorruptFile, match="0{64}"):
        load_dataset("cifar10-subset", mirror=tmp_path / "mirror")


def test_cifar10_subset_missing_names_the_official_archive_and_never_a_project_folder(tmp_path):
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar10-subset")
    message = str(info.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message
    assert "lottery data fetch cifar10-subset" in message and "cifar-10-batches-py" in message
    assert "shared" not in message and "mirror of this project" not in message


def test_unknown_dataset_name():
    with pytest.raises(ParameterError, match="dataset must be one of"):
        load_dataset("cifar11")


def test_subset_is_stratified_and_reproducible(cifar_pickles, tmp_path, monkeypatch):
    write_cifar10(cifar_pickles, tmp_path / "root")
    data = load_dataset("cifar10")
    a, b = data.subset(n_train=10, n_test=3, seed=5), data.subset(n_train=10, n_test=3, seed=5)
    assert a.num_train == 10 and a.num_test == 3
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)
    with pytest.raises(ParameterError):
        data.subset(n_train=10_000)
