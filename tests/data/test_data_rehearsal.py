"""A fresh machine, rehearsed: every dataset downloaded from its official files, and ``cifar10-subset``
derived from the official CIFAR-10 batches.

A local HTTP server on 127.0.0.1 serves archives this test writes in the official on-disk formats (the
CIFAR-10 and CIFAR-100 python-version tar.gz, MNIST's four gz files, the Tiny ImageNet zip in its
official layout), with a few images each. The library's download table
(:data:`concave_lottery.data.sources.DOWNLOADS`, its one override) is pointed at the server and given the
archives' md5s; the per-file md5s (CIFAR pickles, MNIST IDX files) and the subset's digest are
substituted the same way. From an empty data root and no mirror, ``lottery data fetch all`` must
succeed and ``lottery data check`` must show every dataset verified; a corrupted archive must be
refused with a message naming its URL, leaving nothing in the data root.

The derivation test writes CIFAR-format pickles holding the offline mirror's ``cifar10-subset`` images at
their recorded indices (plus filler images after them), derives the subset and checks that the digest
is the library's constant and the arrays are the mirror's: the rule reproduces the data of the recorded
runs. It is skipped where the mirror (``$LOTTERY_DATA_MIRROR``) is absent.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
from dataclasses import replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from concave_lottery.data import DATASETS, cifar, commands, load_dataset, sources, standins
from concave_lottery.data import tinyimagenet as tin

FILLER = 3  # images after the subset's prefix in every batch: the subset must not take them


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ------------------------------------------------------------------------------ official formats
def tinyimagenet_zip(path: Path, rng: np.random.Generator) -> None:
    """The official layout (3 classes, 2 training JPEGs each, one of them grayscale, 4 val JPEGs): the library's
    stand-in writer, :func:`concave_lottery.data.standins.tinyimagenet_zip`."""
    standins.tinyimagenet_zip(path, rng, classes=3, per_class=2, n_val=4)


# ------------------------------------------------------------------------------ the server
class _Handler(SimpleHTTPRequestHandler):
    requested: list[str]

    def do_GET(self):  # noqa: N802 - http.server's name
        self.requested.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):  # noqa: A002 - silence the access log
        pass


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 (a daemon thread) serving ``tmp_path/served``; shut down afterwards."""
    served = tmp_path / "served"
    served.mkdir()
    requested: list[str] = []
    handler = type("Handler", (_Handler,), {"requested": requested})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{httpd.server_address[1]}", requested
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """No mirror, downloads allowed, npm never called: only the official downloads can serve."""
    monkeypatch.delenv("LOTTERY_DATA_MIRROR", raising=False)
    monkeypatch.delenv("LOTTERY_OFFLINE", raising=False)
    monkeypatch.setenv("LOTTERY_DATA", str(tmp_path / "unused-root"))

    def no_npm(spec, dest, timeout=600.0):
        raise RuntimeError("npm is not used in this test")

    monkeypatch.setattr(sources, "npm_pack", no_npm)


def _patterned(n: int, offset: int) -> np.ndarray:
    """Distinct images that gzip well (the archive stays small although the subset needs 6,187 images)."""
    return ((np.arange(3072)[None, :] + 7 * np.arange(n)[:, None] + offset) % 251).astype(np.uint8)


@pytest.fixture
def official(server, monkeypatch, cifar_pickles, mnist_idx):
    """Write the official-format archives into the served folder and point DOWNLOADS at them."""
    served, base, requested = server
    rng = np.random.default_rng(0)
    rows, labels = {}, {}
    for k, (name, count) in enumerate(cifar.SUBSET_COUNTS):
        rows[name] = _patterned(count + FILLER, 1000 * k)
        labels[name] = (np.arange(count + FILLER) * 3 + k) % 10
    c10 = cifar_pickles.cifar10_files(rows, labels)
    standins.tar_gz(served / "cifar-10-python.tar.gz", "cifar-10-batches-py", c10)
    cifar_pickles.use("cifar10", c10)
    c100 = cifar_pickles.cifar100_files(rng, n_train=6, n_test=3)
    standins.tar_gz(served / "cifar-100-python.tar.gz", "cifar-100-python", c100)
    cifar_pickles.use("cifar100", c100)
    idx = mnist_idx.files(rng.integers(0, 256, (30, 28, 28)), np.arange(30) % 10,
                          rng.integers(0, 256, (10, 28, 28)), np.arange(10))
    for name, data in idx.items():
        (served / f"{name}.gz").write_bytes(gzip.compress(data))
    mnist_idx.expect(idx)
    tinyimagenet_zip(served / tin.ZIP_NAME, rng)

    for key, items in list(sources.DOWNLOADS.items()):
        local = tuple(
            replace(item, md5=_md5((served / item.filename).read_bytes()), urls=(f"{base}/{item.filename}",))
            for item in items
        )
        monkeypatch.setitem(sources.DOWNLOADS, key, local)
    # the subset this archive gives: the first SUBSET_COUNTS images of each batch, never the filler
    expected = {}
    for split, names in (("train", [n for n, _ in cifar.SUBSET_COUNTS[:5]]), ("test", ["test_batch"])):
        counts = dict(cifar.SUBSET_COUNTS)
        expected[f"{split}_images"] = np.concatenate(
            [rows[n][: counts[n]].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1) for n in names]
        )
        expected[f"{split}_labels"] = np.concatenate([labels[n][: counts[n]] for n in names]).astype(np.uint8)
        batch_numbers = [0 if n == "test_batch" else int(n[-1]) for n in names]
        expected[f"{split}_source"] = np.concatenate(
            [
                np.stack([np.full(counts[n], b), np.arange(counts[n])], 1)
                for n, b in zip(names, batch_numbers, strict=True)
            ]
        ).astype(np.int32)
    monkeypatch.setattr(cifar, "SUBSET_DIGEST", cifar.subset_digest(expected))
    return served, base, requested, expected


def run(*argv: str) -> int:
    return commands.main(list(argv))


# ------------------------------------------------------------------------------ the tests
def test_downloads_are_torchvisions_official_files():
    """The download table holds exactly torchvision's URLs and md5s (MNIST's mirrors in its order)."""
    from torchvision.datasets import CIFAR10, CIFAR100, MNIST

    for key, tv in (("cifar10", CIFAR10), ("cifar100", CIFAR100)):
        (item,) = sources.DOWNLOADS[key]
        assert (item.urls, item.filename, item.md5) == ((tv.url,), tv.filename, tv.tgz_md5)
    assert [(i.filename, i.md5) for i in sources.DOWNLOADS["mnist"]] == [tuple(r) for r in MNIST.resources]
    for item in sources.DOWNLOADS["mnist"]:
        assert item.urls == tuple(m + item.filename for m in MNIST.mirrors)
    (zip_item,) = sources.DOWNLOADS["tinyimagenet"]
    assert zip_item.urls == ("http://cs231n.stanford.edu/tiny-imagenet-200.zip",)
    assert zip_item.md5 == "90528d7ca1a48142e341f4ef8d21d0de"


def test_fresh_machine_fetch_all_then_check(fresh, official, tmp_path, capsys):
    served, base, requested, expected = official
    root = tmp_path / "root"
    assert run("fetch", "all", "--quiet", "--root", str(root)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    for name in DATASETS:
        assert f"{name}: ok" in out
    # every official file was asked for (torchvision's download_url opens a URL twice: redirects, then data)
    assert set(requested) == {f"/{i.filename}" for items in sources.DOWNLOADS.values() for i in items}
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary folder left

    assert run("check", "--json", "--root", str(root)) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["name"] for r in rows] == list(DATASETS)
    assert all(r["available"] and r["verified"] is True for r in rows), rows
    assert all(r["source"].startswith(f"root:{root}") or r["source"].startswith(f"cache:{root}") for r in rows)

    data = load_dataset("cifar10-subset", root=root, download=False)
    assert data.num_train == 5170 and data.num_test == 1017
    with np.load(root / cifar.SUBSET_FILE) as npz:
        for key, array in expected.items():
            np.testing.assert_array_equal(npz[key], array)
            assert npz[key].dtype == array.dtype


def test_subset_alone_downloads_cifar10_and_derives(fresh, official, tmp_path, capsys):
    served, base, requested, expected = official
    root = tmp_path / "root"
    assert run("fetch", "cifar10-subset", "--quiet", "--root", str(root)) == 0, capsys.readouterr().err
    assert set(requested) == {"/cifar-10-python.tar.gz"}
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py", cifar.SUBSET_FILE]
    assert cifar.subset_digest(cifar._read_subset(root / cifar.SUBSET_FILE)) == cifar.SUBSET_DIGEST


@pytest.mark.parametrize(
    ("dataset", "archive"),
    [
        ("cifar10-subset", "cifar-10-python.tar.gz"),
        ("cifar100", "cifar-100-python.tar.gz"),
        ("mnist", "t10k-labels-idx1-ubyte.gz"),
        ("tinyimagenet", tin.ZIP_NAME),
    ],
)
def test_corrupted_archive_is_refused_and_leaves_nothing(fresh, official, tmp_path, capsys, dataset, archive):
    served, base, requested, _ = official
    path = served / archive
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    root = tmp_path / "root"
    assert run("fetch", dataset, "--quiet", "--root", str(root)) == 1
    err = capsys.readouterr().err
    assert f"{base}/{archive}" in err and "REFUSED" in err and _md5(bytes(raw)) in err
    assert "Fix: run `lottery data fetch" in err and "shared" not in err
    assert not root.exists() or list(root.rglob("*")) == []  # nothing half-written
    assert run("check", dataset, "--root", str(root)) == 1


def test_unreachable_server_names_the_url_and_the_fix(fresh, tmp_path, monkeypatch, capsys):
    (item,) = sources.DOWNLOADS["cifar10"]
    monkeypatch.setitem(sources.DOWNLOADS, "cifar10", (replace(item, urls=("http://127.0.0.1:9/cifar.tar.gz",)),))
    assert run("fetch", "cifar10-subset", "--quiet", "--root", str(tmp_path / "root")) == 1
    err = capsys.readouterr().err
    assert "download http://127.0.0.1:9/cifar.tar.gz: unreachable" in err
    assert "lottery data fetch cifar10-subset" in err and "cifar-10-batches-py" in err and "shared" not in err


MIRROR = os.environ.get("LOTTERY_DATA_MIRROR")


@pytest.mark.skipif(
    not MIRROR or not (Path(MIRROR) / cifar.SUBSET_FILE).is_file(),
    reason=f"needs the offline mirror's {cifar.SUBSET_FILE}: export LOTTERY_DATA_MIRROR=/path/to/mirror",
)
def test_the_rule_reproduces_the_recorded_subset(tmp_path, monkeypatch, capsys, cifar_pickles):
    """CIFAR-format pickles holding the mirror's images at their recorded indices, filler after them:
    the derived subset has the library's digest and the mirror's arrays."""
    with np.load(Path(MIRROR) / cifar.SUBSET_FILE) as npz:
        mirror = {key: npz[key] for key in cifar.SUBSET_KEYS}
    rng = np.random.default_rng(5)
    rows, labels = {}, {}
    for name, _count in cifar.SUBSET_COUNTS:
        split = "test" if name == "test_batch" else "train"
        batch = 0 if name == "test_batch" else int(name[-1])
        at = mirror[f"{split}_source"][:, 0] == batch
        index = mirror[f"{split}_source"][at, 1]
        n = int(index.max()) + 1
        assert sorted(index.tolist()) == list(range(n))  # the recorded indices are a prefix of the batch
        images = np.empty((n + FILLER, 3072), np.uint8)
        images[index] = mirror[f"{split}_images"][at].transpose(0, 3, 1, 2).reshape(-1, 3072)
        images[n:] = rng.integers(0, 256, (FILLER, 3072), dtype=np.uint8)
        rows[name] = images
        labels[name] = np.concatenate([np.empty(n, np.int64), rng.integers(0, 10, FILLER)])
        labels[name][index] = mirror[f"{split}_labels"][at]
    files = cifar_pickles.cifar10_files(rows, labels)
    root = tmp_path / "root"
    cifar_pickles.write(root / "cifar-10-batches-py", files)
    cifar_pickles.use("cifar10", files)  # only the pickles' md5s are substituted, never the digest
    monkeypatch.delenv("LOTTERY_DATA_MIRROR")
    monkeypatch.setenv("LOTTERY_OFFLINE", "1")
    assert run("fetch", "cifar10-subset", "--quiet", "--root", str(root)) == 0, capsys.readouterr().err
    derived = cifar._read_subset(root / cifar.SUBSET_FILE)
    assert cifar.subset_digest(derived) == cifar.SUBSET_DIGEST == cifar.subset_digest(mirror)
    for key in cifar.SUBSET_KEYS:
        np.testing.assert_array_equal(derived[key], mirror[key])
        assert derived[key].dtype == mirror[key].dtype


def test_no_user_facing_text_points_at_this_projects_machines(repo_root):
    """README, docs, book pages, chapters and the data messages speak to a user's machine."""
    repo = repo_root
    files = [repo / "README.md", *sorted((repo / "docs").glob("*.md")), *sorted((repo / "book").glob("*.md"))]
    files += sorted((repo / "notebooks").glob("*.md"))
    files += sorted((repo / "src" / "concave_lottery" / "data").glob("*.py"))
    phrases = ("../shared", "/work/shared", "machines that build this book", "project's offline mirror",
               "artefact of the offline mirror", "this project's machines")
    found = [f"{p.relative_to(repo)}: {ph}" for p in files for ph in phrases if ph in p.read_text()]
    assert found == []
