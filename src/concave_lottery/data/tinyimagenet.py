"""Tiny ImageNet 200 (64x64 RGB, 200 classes; 100,000 train and 10,000 labelled val images).

Raw sources, looked for in the data root, then the mirror, then downloaded into the data root:

- ``tiny-imagenet-200.zip``, the official zip (md5 ``90528d7ca1a48142e341f4ef8d21d0de``, from
  http://cs231n.stanford.edu/tiny-imagenet-200.zip, as :data:`~concave_lottery.data.sources.DOWNLOADS`
  says): the zip's md5 is checked, the members are read
  straight out of it (zip CRCs checked), nothing is extracted to disk;
- ``tiny-imagenet-200/`` holding shards (``train-*.tar.gz``, ``val.tar.gz``,
  ``wnids.txt``, ``words.txt``, ``MD5SUMS``): the tar streams are read in memory and every member
  is checked against ``MD5SUMS`` (and every listed file must be present);
- ``tiny-imagenet-200/`` extracted (``train/<wnid>/images/*.JPEG``, ``val/images``,
  ``val/val_annotations.txt``, ``wnids.txt``): checked against a ``MD5SUMS`` file in that folder when
  there is one, else unverified.

Labels: class ``k`` is the ``k``-th line of ``wnids.txt``; a training image's class is the name of its
folder, a val image's class the second column of ``val/val_annotations.txt``. Order: train images class
by class (wnids order), within a class by the number in the file name; val images in the order of
``val_annotations.txt``. The unlabeled ``test/`` split is not used: the val split is our test split.
Grayscale JPEGs are expanded to 3 identical channels (libjpeg's RGB output; 1.9% of the decoded
training images have three identical channels).

Decoded once into a uint8 tensor cache in the data root (``tinyimagenet-cache.pt``, 1.35 GB, plus
``tinyimagenet-cache.json``): the json records the source, a fingerprint of what was decoded (the md5s
of the zip or shards, or a listing of the extracted files) and the sha256 of the cache file. A later
load that finds a source with the same fingerprint checks the cache's sha256 and memory-maps it
instead of decoding; a changed source is decoded again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm  # plain text bars: tqdm.auto warns in a notebook without ipywidgets

from concave_lottery.data.imagedata import ImageData
from concave_lottery.data.sources import (
    DOWNLOADS,
    Attempts,
    Status,
    check_md5,
    download_files,
    download_workdir,
    md5_file,
    move_into_place,
    sha256_file,
)
from concave_lottery.errors import CorruptFile

FOLDER = "tiny-imagenet-200"
ZIP_NAME = "tiny-imagenet-200.zip"
ZIP_URL = DOWNLOADS["tinyimagenet"][0].urls[0]  # the official one; downloads read DOWNLOADS
CACHE_NAME = "tinyimagenet-cache.pt"
CACHE_META = "tinyimagenet-cache.json"
CACHE_FORMAT = 1
IMAGE_SHAPE = (3, 64, 64)
NUM_CLASSES = 200
# Per-channel mean and population std of the 100,000 training images, in [0, 1] pixel units
# (computed exactly from the decoded images; the often quoted std 0.2770, 0.2691, 0.2821 is slightly off).
MEAN = (0.4802, 0.4481, 0.3975)
STD = (0.2764, 0.2689, 0.2816)
DECODE_CHUNK = 2048


def zip_md5() -> str:
    """The official zip's md5 (from :data:`~concave_lottery.data.sources.DOWNLOADS`)."""
    return DOWNLOADS["tinyimagenet"][0].md5


def _fix() -> str:
    return (
        f"run `lottery data fetch tinyimagenet` on a machine that reaches {DOWNLOADS['tinyimagenet'][0].urls[0]} "
        f"(the official zip, {DOWNLOADS['tinyimagenet'][0].size_bytes / 1e6:.0f} MB), or put {ZIP_NAME} into the "
        f"data root, or `export LOTTERY_DATA_MIRROR=/path/to/mirror` for a folder holding it (or {FOLDER}/ "
        "extracted, or as train-*.tar.gz and val.tar.gz shards with an MD5SUMS file)."
    )


# ----------------------------------------------------------------------------------------- sources
class _Reader(io.RawIOBase):
    """A read-only file wrapper that reports the bytes read (for the extraction progress bar)."""

    def __init__(self, f, update: Callable[[int], object]) -> None:
        self._f, self._update = f, update

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._f.readinto(buffer)
        self._update(n or 0)
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def _rel(name: str) -> str:
    """A member path relative to the dataset folder: ``tiny-imagenet-200/train/x`` -> ``train/x``."""
    name = name.lstrip("./")
    return name[len(FOLDER) + 1 :] if name.startswith(FOLDER + "/") else name


def _wanted(rel: str) -> bool:
    """Members the loader uses: the labelled JPEGs and the two label files."""
    if rel in ("wnids.txt", "val/val_annotations.txt"):
        return True
    return rel.endswith(".JPEG") and (rel.startswith("train/") or rel.startswith("val/images/"))


def _read_md5sums(path: Path) -> dict[str, str]:
    """``MD5SUMS`` (``md5  tiny-imagenet-200/rel/path`` lines) -> {rel: md5}."""
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            md5, name = line.split(maxsplit=1)
            sums[_rel(name.strip().lstrip("*"))] = md5.lower()
    return sums


@dataclass(frozen=True)
class RawSource:
    """One place that holds the raw dataset: ``layout`` is ``zip``, ``shards`` or ``tree``."""

    kind: str  # "root" | "mirror" | "download"
    layout: str
    path: Path  # the zip, or the tiny-imagenet-200/ folder

    def describe(self) -> str:
        return f"{self.kind}:{self.path}" + ("" if self.layout == "zip" else f" ({self.layout})")

    def archives(self) -> list[Path]:
        if self.layout == "zip":
            return [self.path]
        if self.layout == "shards":
            return sorted(self.path.glob("train-*.tar.gz")) + [self.path / "val.tar.gz"]
        return []

    def size(self) -> int:
        if self.layout == "tree":
            return sum(p.stat().st_size for p in self._tree_files())
        loose = [self.path / n for n in ("wnids.txt", "words.txt", "MD5SUMS") if self.layout == "shards"]
        return sum(p.stat().st_size for p in self.archives() + [p for p in loose if p.is_file()])

    def checksums(self) -> dict[str, str] | None:
        """Expected md5 per member, or ``None`` (zip: the whole zip's md5 is checked instead)."""
        if self.layout == "zip":
            return None
        md5sums = self.path / "MD5SUMS"
        return _read_md5sums(md5sums) if md5sums.is_file() else None

    @property
    def verifiable(self) -> bool:
        return self.layout == "zip" or (self.path / "MD5SUMS").is_file()

    def fingerprint(self) -> str:
        """What the cache was decoded from: md5s of the archives, or a listing of the extracted files."""
        digest = hashlib.sha256(self.layout.encode())
        if self.layout == "tree":
            for p in self._tree_files():
                st = p.stat()
                digest.update(f"{p.relative_to(self.path)} {st.st_size} {st.st_mtime_ns}\n".encode())
        else:
            loose = [self.path / n for n in ("wnids.txt", "MD5SUMS")] if self.layout == "shards" else []
            for p in self.archives() + [p for p in loose if p.is_file()]:
                digest.update(f"{p.name} {md5_file(p)}\n".encode())
        return digest.hexdigest()

    def _tree_files(self) -> list[Path]:
        files = [self.path / "wnids.txt", self.path / "val" / "val_annotations.txt"]
        files += sorted(self.path.glob("train/*/images/*.JPEG")) + sorted(self.path.glob("val/images/*.JPEG"))
        return [p for p in files if p.is_file()]

    def members(self, progress: bool) -> Iterator[tuple[str, bytes]]:
        """Yield ``(rel path, bytes)`` of every wanted member, with a progress bar over the bytes read."""
        if self.layout == "tree":
            files = self._tree_files()
            with tqdm(
                total=sum(p.stat().st_size for p in files),
                unit="B",
                unit_scale=True,
                desc="read tiny-imagenet-200",
                disable=not progress,
            ) as bar:
                for p in files:
                    data = p.read_bytes()
                    bar.update(len(data))
                    yield p.relative_to(self.path).as_posix(), data
            return
        if self.layout == "shards":
            for name in ("wnids.txt",):
                yield name, (self.path / name).read_bytes()
        archives = self.archives()
        with tqdm(
            total=sum(p.stat().st_size for p in archives),
            unit="B",
            unit_scale=True,
            desc="extract tiny-imagenet-200",
            disable=not progress,
        ) as bar:
            for archive in archives:
                if self.layout == "zip":
                    with zipfile.ZipFile(archive) as zf:
                        for info in zf.infolist():
                            rel = _rel(info.filename)
                            if not info.is_dir() and _wanted(rel):
                                try:
                                    yield rel, zf.read(info)
                                except (zipfile.BadZipFile, OSError) as exc:
                                    raise CorruptFile(f"{archive}: member {info.filename} is corrupt ({exc})") from exc
                            bar.update(info.compress_size)
                    continue
                try:
                    with (
                        open(archive, "rb") as raw,
                        _Reader(raw, bar.update) as counted,
                        tarfile.open(fileobj=counted, mode="r|gz") as tf,
                    ):
                        for member in tf:
                            rel = _rel(member.name)
                            if member.isfile() and _wanted(rel):
                                f = tf.extractfile(member)
                                yield rel, f.read() if f is not None else b""
                except (tarfile.TarError, EOFError, OSError) as exc:
                    raise CorruptFile(f"{archive} is not a readable tar.gz archive ({exc})") from exc


def _candidates(kind: str, base: Path) -> list[RawSource]:
    found = []
    if (base / ZIP_NAME).is_file():
        found.append(RawSource(kind, "zip", base / ZIP_NAME))
    folder = base / FOLDER
    if (folder / "val.tar.gz").is_file() and any(folder.glob("train-*.tar.gz")) and (folder / "wnids.txt").is_file():
        found.append(RawSource(kind, "shards", folder))
    if (
        (folder / "train").is_dir()
        and (folder / "val" / "val_annotations.txt").is_file()
        and (folder / "wnids.txt").is_file()
    ):
        found.append(RawSource(kind, "tree", folder))
    return found


def local_sources(root: Path, mirror: Path | None, attempts: Attempts) -> list[RawSource]:
    """Every raw source present in the data root and the mirror, in the order they are preferred."""
    sources = []
    for kind, base in (("root", root), ("mirror", mirror)):
        if base is None:
            attempts.add("mirror", "none configured (LOTTERY_DATA_MIRROR is unset)")
            continue
        found = _candidates(kind, base)
        if not found:
            attempts.add(
                f"{kind} {base / ZIP_NAME} or {base / FOLDER}/",
                "neither the zip nor the shards nor an extracted folder",
            )
        sources += found
    return sources


# ----------------------------------------------------------------------------------------- decoding
def _natural_key(rel: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", rel))


def _torchvision_decoder() -> Callable[[list[bytes]], list[torch.Tensor]] | None:
    """torchvision's libjpeg-turbo decoder (a list in one call), or ``None`` where torchvision lacks it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_jpeg
    except ImportError:
        return None

    def decode(chunk: list[bytes]) -> list[torch.Tensor]:
        flat = torch.frombuffer(bytearray(b"".join(chunk)), dtype=torch.uint8)
        ends = np.cumsum([len(b) for b in chunk]).tolist()
        encoded = [flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 points at torchcodec
            return decode_jpeg(encoded, mode=ImageReadMode.RGB)

    return decode


def _pil_decode(chunk: list[bytes]) -> list[torch.Tensor]:
    """The fallback decoder (Pillow, also libjpeg; about half as fast)."""
    out = []
    for data in chunk:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                raise ValueError(f"a {image.format} file, not a JPEG")
            out.append(torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1))
    return out


def decoder() -> Callable[[list[bytes]], list[torch.Tensor]]:
    """JPEG bytes -> uint8 (3, H, W) tensors, grayscale expanded to 3 channels."""
    return _torchvision_decoder() or _pil_decode


def _decode(blobs: list[bytes], names: list[str], where: str, progress: bool, desc: str) -> torch.Tensor:
    """Decode JPEG byte strings into one uint8 (N, 3, 64, 64) tensor (grayscale -> 3 channels)."""
    decode = decoder()
    out = torch.empty((len(blobs), *IMAGE_SHAPE), dtype=torch.uint8)
    with tqdm(total=len(blobs), unit="img", desc=desc, disable=not progress) as bar:
        for start in range(0, len(blobs), DECODE_CHUNK):
            chunk = blobs[start : start + DECODE_CHUNK]
            try:
                decoded = decode(chunk)
            except (RuntimeError, ValueError, OSError):  # find the culprit
                decoded = []
                for i, data in enumerate(chunk):
                    try:
                        decoded += decode([data])
                    except (RuntimeError, ValueError, OSError) as exc:
                        raise CorruptFile(f"{where}: {names[start + i]} cannot be decoded as a JPEG ({exc})") from exc
            for i, image in enumerate(decoded):
                if tuple(image.shape) != IMAGE_SHAPE:
                    raise CorruptFile(
                        f"{where}: {names[start + i]} decodes to shape {tuple(image.shape)}, not {IMAGE_SHAPE}"
                    )
            torch.stack(decoded, out=out[start : start + len(chunk)])
            bar.update(len(chunk))
    return out


def decode_source(source: RawSource, progress: bool = True) -> dict:
    """Read, verify and decode one raw source into the arrays of the cache (no cache involved)."""
    where = source.describe()
    if source.layout == "zip":
        check_md5(source.path, zip_md5())
    expected = source.checksums()
    blobs: dict[str, bytes] = {}
    for rel, data in source.members(progress):
        if expected is not None:
            want = expected.get(rel)
            if want is None:
                raise CorruptFile(f"{where}: {rel} is not listed in MD5SUMS")
            actual = hashlib.md5(data).hexdigest()
            if actual != want:
                raise CorruptFile(f"{where}: {rel} is corrupt: its md5 is {actual} but MD5SUMS says {want}")
        blobs[rel] = data
    if expected is not None:
        missing = sorted(rel for rel in expected if _wanted(rel) and rel not in blobs)
        if missing:
            raise CorruptFile(f"{where}: {len(missing)} files listed in MD5SUMS are missing, e.g. {missing[:3]}")
    for needed in ("wnids.txt", "val/val_annotations.txt"):
        if needed not in blobs:
            raise CorruptFile(f"{where}: no {needed}")

    classes = blobs.pop("wnids.txt").decode().split()
    index = {wnid: k for k, wnid in enumerate(classes)}
    if len(index) != len(classes):
        raise CorruptFile(f"{where}: wnids.txt repeats a class")
    train_names, train_labels = [], []
    for rel in blobs:
        if rel.startswith("train/"):
            parts = rel.split("/")  # train/<wnid>/images/<file>
            if len(parts) != 4 or parts[2] != "images" or parts[1] not in index:
                raise CorruptFile(f"{where}: {rel} is not train/<a wnid of wnids.txt>/images/<file>.JPEG")
            train_names.append(rel)
    train_names.sort(key=lambda rel: (index[rel.split("/")[1]], _natural_key(rel)))
    train_labels = [index[rel.split("/")[1]] for rel in train_names]
    val_names, val_labels = [], []
    for line in blobs.pop("val/val_annotations.txt").decode().splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        rel = f"val/images/{fields[0]}"
        if len(fields) < 2 or fields[1] not in index or rel not in blobs:
            raise CorruptFile(f"{where}: val_annotations.txt line {line!r} names no val image of a known class")
        val_names.append(rel)
        val_labels.append(index[fields[1]])

    train = _decode([blobs[r] for r in train_names], train_names, where, progress, "decode train")
    val = _decode([blobs[r] for r in val_names], val_names, where, progress, "decode val")
    return {
        "train_images": train,
        "train_labels": torch.tensor(train_labels, dtype=torch.int64),
        "test_images": val,
        "test_labels": torch.tensor(val_labels, dtype=torch.int64),
        "classes": classes,
    }


# ----------------------------------------------------------------------------------------- cache
def _cache_paths(root: Path) -> tuple[Path, Path]:
    return root / CACHE_NAME, root / CACHE_META


def read_cache_meta(root: Path) -> dict | None:
    """The cache's json record, or ``None`` when there is no complete cache in ``root``."""
    pt, meta = _cache_paths(root)
    if not (pt.is_file() and meta.is_file()):
        return None
    try:
        record = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("format") == CACHE_FORMAT else None


def load_cache(root: Path, record: dict) -> dict:
    """Check the cache file's sha256 and memory-map its tensors."""
    pt, _ = _cache_paths(root)
    actual = sha256_file(pt)
    if actual != record.get("sha256"):
        raise CorruptFile(f"{pt} is corrupt: its sha256 is {actual} but {CACHE_META} says {record.get('sha256')}")
    arrays = torch.load(pt, map_location="cpu", weights_only=True, mmap=True)
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        if key not in arrays:
            raise CorruptFile(f"{pt} has no {key}")
    return arrays


def write_cache(root: Path, arrays: dict, record: dict) -> None:
    """Write the cache atomically (tensor file first, then the json that vouches for it)."""
    pt, meta = _cache_paths(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp, meta_tmp = (path.with_name(f"{path.name}.{os.getpid()}.tmp") for path in (pt, meta))
    try:
        torch.save(arrays, tmp)
        record = dict(record, sha256=sha256_file(tmp), bytes=tmp.stat().st_size)
        meta.unlink(missing_ok=True)
        tmp.replace(pt)
        meta_tmp.write_text(json.dumps(record, indent=1))
        meta_tmp.replace(meta)
    finally:
        tmp.unlink(missing_ok=True)
        meta_tmp.unlink(missing_ok=True)


def _matching(record: dict | None, sources: list[RawSource]) -> RawSource | None:
    """The source the cache was decoded from, if it is still present unchanged."""
    if record is None:
        return None
    for source in sources:
        if source.layout == record.get("layout") and source.fingerprint() == record.get("fingerprint"):
            return source
    return None


# ----------------------------------------------------------------------------------------- loading
def _image_data(name: str, arrays: dict, source: str) -> ImageData:
    return ImageData(
        name,
        arrays["train_images"],
        arrays["train_labels"],
        arrays["test_images"],
        arrays["test_labels"],
        NUM_CLASSES,
        MEAN,
        STD,
        "tinyimagenet",
        source,
    )


def _download(root: Path, attempts: Attempts) -> RawSource | None:
    """The official zip, md5-checked in a temporary folder inside the data root, then moved into place."""
    with download_workdir(root) as tmp:
        got = download_files("tinyimagenet", Path(tmp), attempts)
        if got is None:
            return None
        move_into_place(got[ZIP_NAME] if ZIP_NAME in got else next(iter(got.values())), root / ZIP_NAME)
    return RawSource("download", "zip", root / ZIP_NAME)


def load(name: str, root: Path, mirror: Path | None, download: bool, progress: bool) -> ImageData:
    attempts = Attempts(name)
    sources = local_sources(root, mirror, attempts)
    record = read_cache_meta(root)
    pt = root / CACHE_NAME
    matched = _matching(record, sources)
    if matched is not None or (record is not None and not sources):
        try:
            arrays = load_cache(root, record)
            origin = record.get("source", "?") if matched else f"{record.get('source', '?')}, no longer present"
            return _image_data(name, arrays, f"cache:{pt} (decoded from {origin})")
        except CorruptFile as exc:
            if not sources and not download:
                raise
            attempts.add(f"cache {pt}", f"corrupt ({exc})")
            warnings.warn(f"{exc}; decoding again", stacklevel=2)
    if not sources:
        if download:
            downloaded = _download(root, attempts)
            sources = [downloaded] if downloaded else []
        else:
            attempts.add(f"download {DOWNLOADS['tinyimagenet'][0].urls[0]}", "skipped: download=False")
    if not sources:
        raise attempts.error(_fix())
    source = sources[0]
    started = time.perf_counter()
    arrays = decode_source(source, progress)
    seconds = time.perf_counter() - started
    record = {
        "format": CACHE_FORMAT,
        "source": source.describe(),
        "layout": source.layout,
        "fingerprint": source.fingerprint(),
        "verified": source.verifiable,
        "decode_seconds": round(seconds, 1),
        "n_train": len(arrays["train_labels"]),
        "n_test": len(arrays["test_labels"]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        write_cache(root, arrays, record)
    except OSError as exc:
        warnings.warn(
            f"could not write the Tiny ImageNet cache into {root} ({exc}); the next load decodes again",
            stacklevel=2,
        )
    return _image_data(name, arrays, source.describe())


def verify_source(source: RawSource) -> bool | None:
    """Check a raw source's checksums without decoding (``None``: it has none)."""
    if source.layout == "zip":
        return md5_file(source.path) == zip_md5()
    expected = source.checksums()
    if expected is None:
        return None
    seen = set()
    for rel, data in source.members(progress=False):
        if expected.get(rel) != hashlib.md5(data).hexdigest():
            return False
        seen.add(rel)
    return all(rel in seen for rel in expected if _wanted(rel))


def probe(name: str, root: Path, mirror: Path | None) -> Status:
    """Find Tiny ImageNet locally (no download), check the cache or else verify the raw source."""
    attempts = Attempts(name)
    sources = local_sources(root, mirror, attempts)
    record = read_cache_meta(root)
    matched = _matching(record, sources)
    if record is not None and (matched is not None or not sources):
        pt = root / CACHE_NAME
        ok = sha256_file(pt) == record.get("sha256")
        origin = record.get("source") if matched else f"{record.get('source')}, no longer present"
        return Status(
            name,
            True,
            f"cache:{pt}",
            ok and bool(record.get("verified")),
            pt.stat().st_size,
            True,
            f"decoded from {origin}" + ("" if ok else "; the cache's sha256 does not match its json: corrupt"),
        )
    if not sources:
        return Status(name, False, detail="; ".join(f"{s}: {o}" for s, o in attempts.tried))
    source = sources[0]
    try:
        verified = verify_source(source)
    except CorruptFile as exc:
        verified, note = False, str(exc)
    else:
        note = {True: "", False: "checksum mismatch", None: "no MD5SUMS to check against"}[verified]
    note = "; ".join(filter(None, [note, "not decoded yet: `lottery data fetch tinyimagenet`"]))
    return Status(name, True, source.describe(), verified, source.size(), False, note)
