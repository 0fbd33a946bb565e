"""Stand-in datasets in the official on-disk formats, for rehearsals and tests.

A stand-in is a handful of random images written exactly as the official files are laid out:

- CIFAR-10: ``cifar-10-batches-py/`` with ``data_batch_1`` … ``data_batch_5``, ``test_batch`` and
  ``batches.meta`` (python-version pickles, protocol 2, keys ``data``, ``labels``, ``batch_label``, ``filenames``);
- CIFAR-100: ``cifar-100-python/`` with ``train``, ``test`` and ``meta`` (``fine_labels``, ``coarse_labels``);
- Tiny ImageNet: ``tiny-imagenet-200.zip`` holding ``tiny-imagenet-200/{wnids.txt, words.txt,
  train/<wnid>/images/<wnid>_<k>.JPEG, train/<wnid>/<wnid>_boxes.txt, val/images/val_<k>.JPEG,
  val/val_annotations.txt, test/images/...}`` (64x64 JPEGs, some grayscale as in the original).

The loaders check every official file's md5 against the published one (torchvision's tables for the CIFAR
pickles, :data:`concave_lottery.data.sources.DOWNLOADS` for the zip), which a stand-in cannot match. The
writers therefore return a *manifest* of the stand-ins' md5s, and :func:`substitute_checksums` puts them
into those tables, in this process only (tests pass ``monkeypatch.setitem``). Nothing in the library reads
a stand-in's checksums by itself: a process that should accept stand-ins is told so explicitly, e.g. by the
paper-profile rehearsal (:mod:`concave_lottery.book.rehearsal`), whose processes call
:func:`install_from_environment` at start-up.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
#: The environment variable naming a manifest (JSON) whose checksums :func:`install_from_environment` installs.
MANIFEST_ENV = "LOTTERY_STANDIN_MANIFEST"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ------------------------------------------------------------------------------ official formats
def cifar10_batches(rows: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The files of ``cifar-10-batches-py/`` (python-version pickles, protocol 2 like the originals) holding
    ``rows[name]`` (N x 3072 uint8, RGB planes) and ``labels[name]`` for each batch name given."""
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


def cifar10_files(rng: np.random.Generator, per_batch: int = 10) -> dict[str, bytes]:
    """A CIFAR-10 stand-in: ``per_batch`` random images in each of the six batches (labels 0, 1, …, 9, 0, …
    across the training batches: every class present once there are 10 or more)."""
    rows = {n: rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8) for n in CIFAR10_BATCHES}
    labels = {n: (np.arange(per_batch) + k * per_batch) % 10 for k, n in enumerate(CIFAR10_BATCHES)}
    return cifar10_batches(rows, labels)


def cifar100_files(rng: np.random.Generator, n_train: int = 6, n_test: int = 3) -> dict[str, bytes]:
    """A CIFAR-100 stand-in (``cifar-100-python/``: ``train``, ``test``, ``meta``) with random fine labels."""
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
    meta = {"fine_label_names": [f"f{i}" for i in range(100)], "coarse_label_names": [f"c{i}" for i in range(20)]}
    files["meta"] = pickle.dumps(meta, protocol=2)
    return files


def write_folder(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def tar_gz(path: Path, folder: str, files: dict[str, bytes]) -> None:
    """``folder/<file>`` members, as in the official CIFAR archives."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def jpeg(rng: np.random.Generator, gray: bool = False) -> bytes:
    from PIL import Image

    pixels = rng.integers(0, 256, (64, 64) if gray else (64, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def wnids(n: int) -> list[str]:
    """``n`` WordNet-style ids (``n0…``), in the order ``wnids.txt`` lists them."""
    return [f"n{1443537 + 7919 * k:08d}" for k in range(n)]


def tinyimagenet_zip(path: Path, rng: np.random.Generator, *, classes: int = 3, per_class: int = 2,
                     n_val: int = 4) -> None:
    """``tiny-imagenet-200.zip`` in the official layout, ``classes`` wnids with ``per_class`` training JPEGs
    each (every second one grayscale, as some originals are) and ``n_val`` labelled val JPEGs."""
    ids = wnids(classes)
    members: dict[str, bytes | str] = {"wnids.txt": "\n".join(ids) + "\n",
                                       "words.txt": "".join(f"{w}\tthing {w}\n" for w in ids)}
    for w in ids:
        for k in range(per_class):
            members[f"train/{w}/images/{w}_{k}.JPEG"] = jpeg(rng, gray=k % 2 == 1)
        members[f"train/{w}/{w}_boxes.txt"] = "".join(f"{w}_{k}.JPEG\t0\t0\t63\t63\n" for k in range(per_class))
    annotations = []
    for k in range(n_val):
        members[f"val/images/val_{k}.JPEG"] = jpeg(rng)
        annotations.append(f"val_{k}.JPEG\t{ids[k % classes]}\t0\t0\t63\t63\n")
    members["val/val_annotations.txt"] = "".join(annotations)
    members["test/images/test_0.JPEG"] = jpeg(rng)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(f"tiny-imagenet-200/{name}", data)


# ------------------------------------------------------------------------------ a data root of stand-ins
def write_standins(root: Path, *, seed: int = 0, cifar_per_batch: int = 4, cifar100_train: int = 20,
                   cifar100_test: int = 4, tiny_classes: int = 20, tiny_per_class: int = 1,
                   tiny_val: int = 4) -> dict[str, Any]:
    """Write CIFAR-10, CIFAR-100 and Tiny ImageNet stand-ins into the data root ``root`` in the official
    formats (by default 20 training and 4 test images each: one SGD step per epoch) and return their
    manifest ``{"cifar10": {file: md5}, "cifar100": {file: md5}, "tinyimagenet": zip md5}`` (also written as
    ``root/standins.json``)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    c10 = cifar10_files(rng, cifar_per_batch)
    c100 = cifar100_files(rng, cifar100_train, cifar100_test)
    write_folder(root / "cifar-10-batches-py", c10)
    write_folder(root / "cifar-100-python", c100)
    zip_path = root / "tiny-imagenet-200.zip"
    tinyimagenet_zip(zip_path, rng, classes=tiny_classes, per_class=tiny_per_class, n_val=tiny_val)
    manifest = {"cifar10": {n: md5(d) for n, d in c10.items()}, "cifar100": {n: md5(d) for n, d in c100.items()},
                "tinyimagenet": md5(zip_path.read_bytes())}
    (root / "standins.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def substitute_checksums(manifest: dict[str, Any], setitem: Callable[[dict, str, Any], None] | None = None) -> None:
    """Make this process's loaders accept the stand-ins of ``manifest``: the CIFAR pickles' md5s in
    :data:`concave_lottery.data.cifar.SPECS` (a subclass of torchvision's class carrying them) and the Tiny
    ImageNet zip's md5 in :data:`concave_lottery.data.sources.DOWNLOADS`. ``setitem(mapping, key, value)``
    (default: plain assignment) lets a test undo it (``monkeypatch.setitem``)."""
    from . import cifar, sources

    setitem = setitem or (lambda mapping, key, value: mapping.__setitem__(key, value))
    for name in ("cifar10", "cifar100"):
        if name not in manifest:
            continue
        sums, spec = manifest[name], cifar.SPECS[name]
        substituted = type(f"StandIn{spec.tv_class.__name__}", (spec.tv_class,), {
            "train_list": [[n, sums[n]] for n, _ in spec.tv_class.train_list],
            "test_list": [[n, sums[n]] for n, _ in spec.tv_class.test_list],
            "meta": dict(spec.tv_class.meta, md5=sums[spec.tv_class.meta["filename"]]),
        })
        setitem(cifar.SPECS, name, replace(spec, tv_class=substituted))
    if "tinyimagenet" in manifest:
        (official,) = sources.DOWNLOADS["tinyimagenet"]
        setitem(sources.DOWNLOADS, "tinyimagenet", (replace(official, md5=manifest["tinyimagenet"]),))


def install_from_environment(setitem: Callable[[dict, str, Any], None] | None = None) -> bool:
    """:func:`substitute_checksums` with the manifest that ``$LOTTERY_STANDIN_MANIFEST`` names (nothing when
    it is unset). Returns whether stand-ins were installed."""
    path = os.environ.get(MANIFEST_ENV)
    if not path:
        return False
    substitute_checksums(json.loads(Path(path).read_text()), setitem)
    return True
