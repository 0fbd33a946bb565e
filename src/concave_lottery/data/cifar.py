"""CIFAR-10, CIFAR-100 (torchvision's python-version pickles) and ``cifar10-subset``, a fixed part of CIFAR-10.

``cifar10`` / ``cifar100``: the folders ``cifar-10-batches-py/`` / ``cifar-100-python/`` of torchvision's
layout, looked for in the data root, then the mirror, else downloaded from the official archive
(:data:`~concave_lottery.data.sources.DOWNLOADS`: torchvision's URL and archive md5), extracted in a
temporary folder inside the data root and moved into place once every file checks out (the file names
and per-file md5s are read from torchvision's own ``CIFAR10`` / ``CIFAR100`` classes). Every pickle is
md5-checked *before* it is unpickled, so no unknown pickle is ever loaded. The pickles hold rows of 3072
bytes, the 1024 red, then green, then blue values of a 32x32 image: a row reshaped to (3, 32, 32) is
already CHW (torchvision's ``.data`` transposes it to HWC).

``cifar10-subset``: 5,170 train / 1,017 test images of the official CIFAR-10, defined by their indices: the
first 1,102 images of ``data_batch_1``, the first 1,017 of ``data_batch_2`` ... ``data_batch_5`` and the
first 1,017 of ``test_batch`` (:data:`SUBSET_COUNTS`; the arrays ``train_source`` / ``test_source`` of
the npz record each image's batch and index). The reduced-scale recorded runs trained on it. It is read
from ``cifar10-subset.npz`` in the data root or the mirror, else derived from the CIFAR-10 batches (data
root, mirror, else the official download) and written into the data root. Any copy is accepted only
when the digest of its arrays (:func:`subset_digest`) is :data:`SUBSET_DIGEST`.

Normalisation uses CIFAR's own per-channel statistics of the full training sets (not ImageNet's):
the mean and the population standard deviation of all 50,000 training images, in [0, 1] pixel units.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision.datasets

from concave_lottery.data.imagedata import ImageData
from concave_lottery.data.sources import (
    DOWNLOADS,
    Attempts,
    Status,
    check_md5,
    download_files,
    download_urls,
    download_workdir,
    md5_file,
    move_into_place,
)
from concave_lottery.errors import CorruptFile, DatasetUnavailable

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
#: The subset's definition: the first N images of each official CIFAR-10 python-version batch, in this order.
SUBSET_COUNTS: tuple[tuple[str, int], ...] = (
    ("data_batch_1", 1102),
    ("data_batch_2", 1017),
    ("data_batch_3", 1017),
    ("data_batch_4", 1017),
    ("data_batch_5", 1017),
    ("test_batch", 1017),
)
SUBSET_KEYS = ("train_images", "train_labels", "test_images", "test_labels", "train_source", "test_source")
#: sha256 of the subset's arrays (:func:`subset_digest`), not of any npz file's bytes.
SUBSET_DIGEST = "150cb52273196c2484b1ff3e7214e2f513cf2d2820ebd9f641ba005dcec414f1"


def _fix(name: str, spec: CifarSpec, root: Path) -> str:
    return (
        f"run `lottery data fetch {name}` on a machine that reaches {_url(name)}, or put "
        f"torchvision's `{spec.folder}/` folder into {root} (or `export LOTTERY_DATA=...` / "
        f"`export LOTTERY_DATA_MIRROR=...` to a folder that holds it)."
    )


def _url(name: str) -> str:
    return " or ".join(download_urls(name))


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


def _download(name: str, spec: CifarSpec, root: Path, attempts: Attempts) -> Path | None:
    """Download the official archive (md5-checked), extract it in a temporary folder inside the data
    root and move ``spec.folder`` into place; nothing is left behind when any step fails."""
    from torchvision.datasets.utils import extract_archive

    with download_workdir(root) as tmp:
        work = Path(tmp)
        got = download_files(name, work, attempts)
        if got is None:
            return None
        (archive,) = got.values()
        url = _url(name)
        try:
            extract_archive(str(archive), str(work))
        except Exception as exc:  # noqa: BLE001 - an archive that does not extract is refused
            attempts.add(f"download {url}", f"REFUSED: {archive.name} does not extract ({exc})")
            return None
        missing = _missing(work / spec.folder, spec)
        if missing:
            attempts.add(f"download {url}", f"REFUSED: {archive.name} lacks {spec.folder}/{', '.join(missing)}")
            return None
        files = spec.files["train"] + spec.files["test"] + [(spec.tv_class.meta["filename"], spec.tv_class.meta["md5"])]
        bad = [n for n, md5 in files if md5_file(work / spec.folder / n) != md5]
        if bad:
            attempts.add(f"download {url}", f"REFUSED: md5 mismatch of {', '.join(bad)} inside {archive.name}")
            return None
        move_into_place(work / spec.folder, root / spec.folder)
    return root / spec.folder


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


def _find(name: str, spec: CifarSpec, root: Path, mirror: Path | None, download: bool, attempts: Attempts):
    """(kind, folder) of the complete batches folder: data root, mirror, else the official download."""
    found = _locate(name, spec, root, mirror, attempts)
    if found is None:
        if download:
            folder = _download(name, spec, root, attempts)
            found = ("download", folder) if folder is not None else None
        else:
            attempts.add(f"download {_url(name)}", "skipped: download=False")
    if found is None:
        raise attempts.error(_fix(name, spec, root))
    return found


def load(name: str, root: Path, mirror: Path | None, download: bool, progress: bool) -> ImageData:
    if name == "cifar10-subset":
        return load_subset(root, mirror, download)
    spec = SPECS[name]
    attempts = Attempts(name)
    kind, folder = _find(name, spec, root, mirror, download, attempts)
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


def subset_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the subset's arrays: for each of :data:`SUBSET_KEYS`, its name, dtype and shape, then its
    bytes in C order. Two copies with this digest hold the same images, labels and indices, whatever
    npz writer (compression, zip metadata) stored them."""
    digest = hashlib.sha256()
    for key in SUBSET_KEYS:
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key} {array.dtype.str} {array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def derive_subset(folder: Path, spec: CifarSpec | None = None) -> dict[str, np.ndarray]:
    """The subset's arrays from torchvision's ``cifar-10-batches-py/`` folder (every pickle md5-checked).

    ``train_images`` / ``test_images``: (N, 32, 32, 3) uint8 HWC like torchvision's ``CIFAR10.data``;
    labels uint8; ``train_source`` / ``test_source``: (N, 2) int32 = (batch number 1..5, 0 for the test
    batch; index of the image in that batch). The images are the first :data:`SUBSET_COUNTS` of each batch.
    """
    spec = spec or SPECS["cifar10"]
    md5s = dict(spec.files["train"] + spec.files["test"])
    parts: dict[str, list] = {"train": [], "test": []}
    for filename, count in SUBSET_COUNTS:
        entry = _read_pickle(folder / filename, md5s[filename])
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = np.asarray(entry["labels"], dtype=np.int64)
        if len(data) < count or len(labels) < count:
            raise CorruptFile(f"{folder / filename} holds {len(data)} images; the subset takes its first {count}")
        images = data[:count].reshape(count, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW rows -> HWC
        batch = 0 if filename == "test_batch" else int(filename.rsplit("_", 1)[1])
        source = np.stack([np.full(count, batch), np.arange(count)], axis=1).astype(np.int32)
        parts["test" if batch == 0 else "train"].append((images, labels[:count].astype(np.uint8), source))
    arrays = {}
    for split, chunks in parts.items():
        arrays[f"{split}_images"] = np.ascontiguousarray(np.concatenate([c[0] for c in chunks]))
        arrays[f"{split}_labels"] = np.concatenate([c[1] for c in chunks])
        arrays[f"{split}_source"] = np.concatenate([c[2] for c in chunks])
    return arrays


def _read_subset(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in SUBSET_KEYS}
    except (OSError, ValueError, KeyError) as exc:
        raise CorruptFile(f"{path} is not a readable {SUBSET_FILE} ({exc}); delete it and fetch it again") from exc


def _check_subset(arrays: dict[str, np.ndarray], where: str) -> None:
    actual = subset_digest(arrays)
    if actual != SUBSET_DIGEST:
        raise CorruptFile(
            f"{where} does not hold the cifar10-subset: the digest of its arrays is {actual} but {SUBSET_DIGEST} "
            "was expected. Delete it and run `lottery data fetch cifar10-subset`, which derives it again from "
            "the official CIFAR-10 archive."
        )


def _write_subset(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write the npz atomically (a partial file never looks complete)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, **arrays)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


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


def _subset_fix(root: Path) -> str:
    return (
        f"run `lottery data fetch cifar10-subset` on a machine that reaches {_url('cifar10')} (it downloads the "
        f"official CIFAR-10 python archive, {DOWNLOADS['cifar10'][0].size_bytes / 1e6:.0f} MB, and keeps the "
        f"subset's images in {root / SUBSET_FILE}), or put torchvision's `cifar-10-batches-py/` folder into the "
        f"data root {root}, or `export LOTTERY_DATA_MIRROR=...` to a folder of official files that holds it."
    )


def load_subset(root: Path, mirror: Path | None, download: bool = True) -> ImageData:
    """``cifar10-subset``: a verified npz in the data root or the mirror, else derived from the official
    CIFAR-10 batches (data root, mirror, else downloaded) and written into the data root."""
    attempts = Attempts("cifar10-subset")
    found = _locate_subset(root, mirror, attempts)
    if found is not None:
        kind, path = found
        arrays = _read_subset(path)
        _check_subset(arrays, str(path))
        source = f"{kind}:{path}"
    else:
        spec = SPECS["cifar10"]
        try:
            batches_kind, folder = _find("cifar10", spec, root, mirror, download, attempts)
        except DatasetUnavailable:
            raise attempts.error(_subset_fix(root)) from None
        arrays = derive_subset(folder, spec)
        _check_subset(arrays, f"the subset derived from {folder}")
        path = root / SUBSET_FILE
        _write_subset(arrays, path)
        source = f"derived:{path} (from {batches_kind}:{folder})"

    def images(key: str) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(arrays[key].transpose(0, 3, 1, 2)))  # HWC -> CHW

    def labels(key: str) -> torch.Tensor:
        return torch.from_numpy(arrays[key].astype(np.int64))

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
        source,
    )


def probe(name: str, root: Path, mirror: Path | None) -> Status:
    """Find the dataset locally (no download) and check its md5s."""
    attempts = Attempts(name)
    if name == "cifar10-subset":
        found = _locate_subset(root, mirror, attempts)
        if found is None:
            batches = _locate("cifar10", SPECS["cifar10"], root, mirror, Attempts(name))
            if batches is not None:
                attempts.add(f"{batches[0]} {batches[1]}", "the CIFAR-10 batches it is derived from are here")
            return Status(name, False, detail="; ".join(f"{s}: {o}" for s, o in attempts.tried))
        kind, path = found
        try:
            ok, note = subset_digest(_read_subset(path)) == SUBSET_DIGEST, ""
        except CorruptFile as exc:
            ok, note = False, str(exc)
        note = note or ("" if ok else "the digest of its arrays is not the cifar10-subset's")
        return Status(name, True, f"{kind}:{path}", ok, path.stat().st_size, None, note)
    spec = SPECS[name]
    found = _locate(name, spec, root, mirror, attempts)
    if found is None:
        return Status(name, False, detail="; ".join(f"{s}: {o}" for s, o in attempts.tried))
    kind, folder = found
    files = spec.files["train"] + spec.files["test"] + [(spec.tv_class.meta["filename"], spec.tv_class.meta["md5"])]
    bad = [n for n, md5 in files if md5_file(folder / n) != md5]
    size = sum((folder / n).stat().st_size for n, _ in files)
    return Status(name, True, f"{kind}:{folder}", not bad, size, None, f"md5 mismatch: {', '.join(bad)}" if bad else "")
