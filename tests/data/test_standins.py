"""Stand-in datasets in the official formats (concave_lottery.data.standins): the library's own loaders read
them once their checksums are substituted, and refuse them otherwise."""

from __future__ import annotations

import json

import pytest
import torch

from concave_lottery.data import load_dataset, standins
from concave_lottery.errors import CorruptFile


@pytest.fixture
def standin_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    manifest = standins.write_standins(root, tiny_classes=5, tiny_val=3)
    monkeypatch.setenv("LOTTERY_DATA", str(root))
    monkeypatch.delenv("LOTTERY_DATA_MIRROR", raising=False)
    return root, manifest


def test_the_loaders_read_the_standins_once_their_checksums_are_substituted(standin_root, monkeypatch):
    root, manifest = standin_root
    assert json.loads((root / "standins.json").read_text()) == manifest
    standins.substitute_checksums(manifest, monkeypatch.setitem)
    c10 = load_dataset("cifar10", download=False, progress=False)
    assert c10.train_images.shape == (20, 3, 32, 32) and c10.test_images.shape == (4, 3, 32, 32)
    assert c10.num_classes == 10 and sorted(c10.train_labels.unique().tolist()) == list(range(10))
    assert c10.source.startswith("root:")
    c100 = load_dataset("cifar100", download=False, progress=False)
    assert c100.train_images.shape == (20, 3, 32, 32) and c100.num_classes == 100
    tiny = load_dataset("tinyimagenet", download=False, progress=False)
    assert tiny.train_images.shape == (5, 3, 64, 64) and tiny.test_images.shape == (3, 3, 64, 64)
    assert tiny.train_labels.tolist() == [0, 1, 2, 3, 4] and tiny.train_images.dtype == torch.uint8
    assert "tiny-imagenet-200.zip" in tiny.source


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "tinyimagenet"])
def test_without_substitution_the_standins_are_refused(standin_root, name):
    with pytest.raises(CorruptFile, match="md5"):
        load_dataset(name, download=False, progress=False)


def test_install_from_environment(standin_root, monkeypatch):
    """What the rehearsal's processes do at start-up (its sitecustomize): nothing without the variable."""
    root, _ = standin_root
    monkeypatch.delenv(standins.MANIFEST_ENV, raising=False)
    assert standins.install_from_environment(monkeypatch.setitem) is False
    with pytest.raises(CorruptFile):
        load_dataset("cifar100", download=False, progress=False)
    monkeypatch.setenv(standins.MANIFEST_ENV, str(root / "standins.json"))
    assert standins.install_from_environment(monkeypatch.setitem) is True
    assert load_dataset("cifar100", download=False, progress=False).train_images.shape == (20, 3, 32, 32)
