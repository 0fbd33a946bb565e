"""Tiny ImageNet on a tiny tree made here: a few classes, a few JPEGs (some grayscale), a
``val_annotations.txt``; packed as the mirror's shards, as the official zip, or left extracted."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from concave_lottery.data import dataset_status, load_dataset, sources
from concave_lottery.data import tinyimagenet as tin
from concave_lottery.errors import CorruptFile, DatasetUnavailable

WNIDS = ["n03000000", "n01000000", "n02000000"]  # deliberately not sorted: wnids.txt order is the label
TRAIN_NUMBERS = [0, 1, 2, 10]  # natural order 0,1,2,10 (not the string order 0,1,10,2)
GRAY = {("n01000000", 2), ("val", 1)}  # these are written as 1-channel JPEGs
VAL = [
    ("val_0.JPEG", "n02000000"),
    ("val_1.JPEG", "n03000000"),
    ("val_2.JPEG", "n01000000"),
    ("val_3.JPEG", "n02000000"),
]


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("LOTTERY_DATA", str(tmp_path / "root"))
    monkeypatch.delenv("LOTTERY_DATA_MIRROR", raising=False)
    monkeypatch.setenv("LOTTERY_OFFLINE", "1")


def _value(label: int, number: int) -> int:
    """The flat gray level of a test image: encodes its class and number (survives JPEG at q=95)."""
    return 20 + 60 * label + 8 * number


def _jpeg(value: int, gray: bool, tint: int = 0) -> bytes:
    if gray:
        image = Image.new("L", (64, 64), value)
    else:
        image = Image.new("RGB", (64, 64), (value, min(255, value + tint), value))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def make_tree(base: Path) -> Path:
    """Write tiny-imagenet-200/ (train, val, test, wnids.txt, words.txt) under ``base``."""
    folder = base / tin.FOLDER
    for label, wnid in enumerate(WNIDS):
        images = folder / "train" / wnid / "images"
        images.mkdir(parents=True)
        for number in TRAIN_NUMBERS:
            data = _jpeg(_value(label, number), (wnid, number) in GRAY, tint=30)
            (images / f"{wnid}_{number}.JPEG").write_bytes(data)
        (folder / "train" / wnid / f"{wnid}_boxes.txt").write_text(
            "".join(f"{wnid}_{n}.JPEG\t0\t0\t63\t63\n" for n in TRAIN_NUMBERS)
        )
    (folder / "val" / "images").mkdir(parents=True)
    lines = []
    for i, (name, wnid) in enumerate(VAL):
        (folder / "val" / "images" / name).write_bytes(_jpeg(_value(WNIDS.index(wnid), i), ("val", i) in GRAY, 30))
        lines.append(f"{name}\t{wnid}\t0\t0\t63\t63\n")
    (folder / "val" / "val_annotations.txt").write_text("".join(lines))
    (folder / "test" / "images").mkdir(parents=True)
    (folder / "test" / "images" / "test_0.JPEG").write_bytes(_jpeg(7, False))
    (folder / "wnids.txt").write_text("".join(w + "\n" for w in WNIDS))
    (folder / "words.txt").write_text("".join(f"{w}\tthing {w}\n" for w in sorted(WNIDS)))
    return folder


def _md5sums(folder: Path) -> str:
    lines = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not rel.startswith("test/") and rel != "MD5SUMS":
            lines.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {tin.FOLDER}/{rel}\n")
    return "".join(lines)


def make_shards(base: Path, tree: Path) -> Path:
    """The mirror's layout: train-0/1.tar.gz, val.tar.gz, wnids.txt, words.txt, MD5SUMS."""
    folder = base / tin.FOLDER
    folder.mkdir(parents=True)
    groups = [WNIDS[:2], WNIDS[2:]]
    for i, group in enumerate(groups):
        with tarfile.open(folder / f"train-{i}.tar.gz", "w:gz") as tf:
            for wnid in group:
                tf.add(tree / "train" / wnid, arcname=f"{tin.FOLDER}/train/{wnid}")
    with tarfile.open(folder / "val.tar.gz", "w:gz") as tf:
        tf.add(tree / "val", arcname=f"{tin.FOLDER}/val")
    for name in ("wnids.txt", "words.txt"):
        (folder / name).write_bytes((tree / name).read_bytes())
    (folder / "MD5SUMS").write_text(_md5sums(tree))
    return folder


def set_zip_md5(monkeypatch, md5: str) -> None:
    """Substitute the official zip's md5 in the library's one table of downloads."""
    (official,) = sources.DOWNLOADS["tinyimagenet"]
    monkeypatch.setitem(sources.DOWNLOADS, "tinyimagenet", (replace(official, md5=md5),))


def make_zip(base: Path, tree: Path, monkeypatch) -> Path:
    """The official layout: tiny-imagenet-200.zip holding tiny-imagenet-200/ (test/ included)."""
    base.mkdir(parents=True, exist_ok=True)
    path = base / tin.ZIP_NAME
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(tree.rglob("*")):
            zf.write(file, f"{tin.FOLDER}/{file.relative_to(tree).as_posix()}")
    set_zip_md5(monkeypatch, hashlib.md5(path.read_bytes()).hexdigest())
    return path


@pytest.fixture
def tree(tmp_path) -> Path:
    return make_tree(tmp_path / "made")


@pytest.fixture
def mirror(tmp_path, tree) -> Path:
    make_shards(tmp_path / "mirror", tree)
    return tmp_path / "mirror"


def _check_content(data) -> None:
    assert data.num_classes == 200 and data.augmentation == "tinyimagenet"
    assert data.train_images.shape == (12, 3, 64, 64) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (4, 3, 64, 64)
    assert data.train_labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4  # wnids.txt order
    assert data.test_labels.tolist() == [WNIDS.index(w) for _, w in VAL]  # val_annotations.txt order
    # each image's flat level tells its class and number: order within a class is natural (0, 1, 2, 10)
    green_free = data.train_images[:, 0].float().mean((1, 2))
    expected = [_value(label, n) for label in range(3) for n in TRAIN_NUMBERS]
    assert np.allclose(green_free.numpy(), expected, atol=2)
    val_level = data.test_images[:, 0].float().mean((1, 2))
    assert np.allclose(val_level.numpy(), [_value(WNIDS.index(w), i) for i, (_, w) in enumerate(VAL)], atol=2)


def _is_gray(image: torch.Tensor) -> bool:
    return torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])


def test_shards_labels_order_and_grayscale(mirror):
    data = load_dataset("tinyimagenet", mirror=mirror, progress=False)
    _check_content(data)
    gray_train = 1 * 4 + TRAIN_NUMBERS.index(2)  # (n01000000, 2): class 1, third image
    assert _is_gray(data.train_images[gray_train])
    assert not _is_gray(data.train_images[0])  # colour images keep their tint
    assert _is_gray(data.test_images[1])
    assert data.source == f"mirror:{mirror / tin.FOLDER} (shards)"


def test_zip_and_tree_give_the_same_tensors(tmp_path, tree, mirror, monkeypatch):
    from_shards = load_dataset("tinyimagenet", root=tmp_path / "r1", mirror=mirror, progress=False)
    make_zip(tmp_path / "r2", tree, monkeypatch)
    from_zip = load_dataset("tinyimagenet", root=tmp_path / "r2", progress=False)
    from_tree = load_dataset("tinyimagenet", root=tmp_path / "made", progress=False)
    assert from_zip.source.startswith("root:") and from_zip.source.endswith(tin.ZIP_NAME)
    assert from_tree.source.endswith("(tree)")
    for other in (from_zip, from_tree):
        assert torch.equal(other.train_images, from_shards.train_images)
        assert torch.equal(other.test_images, from_shards.test_images)
        assert torch.equal(other.train_labels, from_shards.train_labels)


def test_second_load_decodes_nothing(tmp_path, mirror, monkeypatch):
    calls = []
    real = tin._decode
    monkeypatch.setattr(tin, "_decode", lambda *a, **k: calls.append(len(a[0])) or real(*a, **k))
    first = load_dataset("tinyimagenet", mirror=mirror, progress=False)
    assert calls == [12, 4]
    root = tmp_path / "root"
    record = json.loads((root / tin.CACHE_META).read_text())
    assert record["source"] == f"mirror:{mirror / tin.FOLDER} (shards)" and record["verified"] is True
    assert len(record["fingerprint"]) == 64 and record["n_train"] == 12
    second = load_dataset("tinyimagenet", mirror=mirror, progress=False)
    assert calls == [12, 4]  # nothing decoded
    assert second.source.startswith(f"cache:{root / tin.CACHE_NAME}")
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        assert torch.equal(getattr(first, key), getattr(second, key))
    status = dataset_status("tinyimagenet", mirror=mirror)
    assert status.cached is True and status.verified is True and status.available


def test_changed_source_is_decoded_again(tmp_path, tree, mirror, monkeypatch):
    load_dataset("tinyimagenet", mirror=mirror, progress=False)
    shard = mirror / tin.FOLDER / "train-1.tar.gz"
    shard.unlink()  # rebuild the shard with one image changed (and MD5SUMS with it)
    (tree / "train" / WNIDS[2] / "images" / f"{WNIDS[2]}_0.JPEG").write_bytes(_jpeg(250, False))
    with tarfile.open(shard, "w:gz") as tf:
        tf.add(tree / "train" / WNIDS[2], arcname=f"{tin.FOLDER}/train/{WNIDS[2]}")
    (mirror / tin.FOLDER / "MD5SUMS").write_text(_md5sums(tree))
    calls = []
    real = tin._decode
    monkeypatch.setattr(tin, "_decode", lambda *a, **k: calls.append(len(a[0])) or real(*a, **k))
    data = load_dataset("tinyimagenet", mirror=mirror, progress=False)
    assert calls == [12, 4] and data.train_images[8, 0].float().mean() > 240


def test_cache_without_any_source_still_loads(tmp_path, mirror):
    load_dataset("tinyimagenet", mirror=mirror, progress=False)
    data = load_dataset("tinyimagenet", progress=False)  # no mirror now
    assert data.source.endswith("no longer present)") and data.num_train == 12


def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, mirror):
    load_dataset("tinyimagenet", mirror=mirror, progress=False)
    pt = tmp_path / "root" / tin.CACHE_NAME
    raw = bytearray(pt.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    pt.write_bytes(bytes(raw))
    assert dataset_status("tinyimagenet", mirror=mirror).verified is False
    with pytest.raises(CorruptFile, match="sha256"):
        load_dataset("tinyimagenet", progress=False, download=False)  # no source to rebuild from
    with pytest.warns(UserWarning, match="decoding again"):
        data = load_dataset("tinyimagenet", mirror=mirror, progress=False)
    _check_content(data)
    assert dataset_status("tinyimagenet", mirror=mirror).verified is True


def test_corrupt_member_of_a_shard_is_named(tmp_path, tree, mirror):
    sums = (mirror / tin.FOLDER / "MD5SUMS").read_text()
    victim = tree / "val" / "images" / "val_2.JPEG"
    victim.write_bytes(victim.read_bytes()[:-50] + b"\0" * 50)  # damaged after MD5SUMS was written
    (mirror / tin.FOLDER / "val.tar.gz").unlink()
    with tarfile.open(mirror / tin.FOLDER / "val.tar.gz", "w:gz") as tf:
        tf.add(tree / "val", arcname=f"{tin.FOLDER}/val")
    assert (mirror / tin.FOLDER / "MD5SUMS").read_text() == sums
    with pytest.raises(CorruptFile, match=r"val/images/val_2\.JPEG is corrupt: its md5 is [0-9a-f]{32} but"):
        load_dataset("tinyimagenet", mirror=mirror, progress=False)
    status = dataset_status("tinyimagenet", mirror=mirror)
    assert status.available and status.verified is False and status.cached is False
    assert not (tmp_path / "root" / tin.CACHE_NAME).exists()


def test_member_missing_from_the_shards_is_detected(tmp_path, tree, mirror):
    folder = mirror / tin.FOLDER
    (folder / "MD5SUMS").write_text(
        (folder / "MD5SUMS").read_text() + f"{'0' * 32}  {tin.FOLDER}/val/images/val_9.JPEG\n"
    )
    with pytest.raises(CorruptFile, match="missing"):
        load_dataset("tinyimagenet", mirror=mirror, progress=False)


def test_undecodable_jpeg_in_an_unverified_tree_is_named(tmp_path, tree):
    (tree / "train" / WNIDS[1] / "images" / f"{WNIDS[1]}_1.JPEG").write_bytes(b"\xff\xd8not a jpeg at all")
    status = dataset_status("tinyimagenet", root=tmp_path / "made")
    assert status.available and status.verified is None  # an extracted tree without MD5SUMS: nothing to check
    with pytest.raises(CorruptFile, match=f"train/{WNIDS[1]}/images/{WNIDS[1]}_1.JPEG cannot be decoded"):
        load_dataset("tinyimagenet", root=tmp_path / "made", progress=False)


def test_wrong_zip_md5(tmp_path, tree, monkeypatch):
    path = make_zip(tmp_path / "root", tree, monkeypatch)
    set_zip_md5(monkeypatch, "f" * 32)
    with pytest.raises(CorruptFile) as info:
        load_dataset("tinyimagenet", progress=False)
    assert str(path) in str(info.value) and "f" * 32 in str(info.value)


def test_val_annotation_of_unknown_class(tmp_path, tree):
    (tree / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn09999999\t0\t0\t1\t1\n")
    with pytest.raises(CorruptFile, match="val_annotations"):
        load_dataset("tinyimagenet", root=tmp_path / "made", progress=False)


def test_missing_names_every_source(tmp_path, monkeypatch):
    monkeypatch.delenv("LOTTERY_OFFLINE")
    monkeypatch.setattr(sources, "url_unreachable", lambda url: "unreachable (test)")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("tinyimagenet", mirror=tmp_path / "empty", progress=False)
    message = str(info.value)
    for expected in (
        str(tmp_path / "root" / tin.ZIP_NAME),
        str(tmp_path / "empty" / tin.FOLDER),
        f"{tin.ZIP_URL}: unreachable (test)",
        "lottery data fetch tinyimagenet",
    ):
        assert expected in message
    status = dataset_status("tinyimagenet", mirror=tmp_path / "empty")
    assert not status.available


def test_download_of_the_official_zip(tmp_path, tree, monkeypatch):
    import torchvision.datasets.utils

    staging = tmp_path / "staging"
    zip_path = make_zip(staging, tree, monkeypatch)
    monkeypatch.delenv("LOTTERY_OFFLINE")
    monkeypatch.setattr(sources, "url_unreachable", lambda url: None)
    calls = []

    def fake_download_url(url, root, filename=None, md5=None, **kwargs):
        calls.append((url, filename, md5))
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / filename).write_bytes(zip_path.read_bytes())

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", fake_download_url)
    data = load_dataset("tinyimagenet", progress=False)
    assert calls == [(tin.ZIP_URL, tin.ZIP_NAME, None)]  # the md5 is checked by the library itself
    _check_content(data)
    left = sorted(p.name for p in (tmp_path / "root").iterdir())
    assert left == sorted([tin.ZIP_NAME, tin.CACHE_NAME, tin.CACHE_META])  # no temporary folder


def test_pillow_fallback_decodes_the_same_pixels(tmp_path, tree, monkeypatch):
    """Where torchvision's JPEG decoder is gone (it is deprecated in 0.29), Pillow gives the same tensors."""
    fast = load_dataset("tinyimagenet", root=tmp_path / "made", progress=False)
    (tmp_path / "made" / tin.CACHE_NAME).unlink()
    monkeypatch.setattr(tin, "_torchvision_decoder", lambda: None)
    slow = load_dataset("tinyimagenet", root=tmp_path / "made", progress=False)
    assert torch.equal(fast.train_images, slow.train_images) and torch.equal(fast.test_images, slow.test_images)
