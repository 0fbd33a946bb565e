"""``lottery data check`` / ``lottery data fetch``: the table and the exit codes scripts rely on."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from concave_lottery.data import DATASETS, cifar, commands

EXIT_OK, EXIT_MISSING, EXIT_USAGE = 0, 1, 2


@pytest.fixture
def mirror(tmp_path, monkeypatch, mnist_idx):
    """A mirror holding a small MNIST and a small cifar10-subset (their md5s patched in)."""
    base = tmp_path / "mirror"
    rng = np.random.default_rng(0)
    files = mnist_idx.files(rng.integers(0, 256, (20, 28, 28)), np.arange(20) % 10,
                            rng.integers(0, 256, (5, 28, 28)), np.arange(5))
    mnist_idx.install(base / "MNIST" / "raw", files)
    subset = {
        "train_images": rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8),
        "train_labels": np.arange(8, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8),
        "test_labels": np.arange(3, dtype=np.uint8),
        "train_source": np.stack([np.ones(8), np.arange(8)], axis=1).astype(np.int32),
        "test_source": np.stack([np.zeros(3), np.arange(3)], axis=1).astype(np.int32),
    }
    np.savez(base / "cifar10-subset.npz", **subset)
    monkeypatch.setattr(cifar, "SUBSET_DIGEST", cifar.subset_digest(subset))
    monkeypatch.setenv("LOTTERY_DATA", str(tmp_path / "root"))
    monkeypatch.setenv("LOTTERY_DATA_MIRROR", str(base))
    monkeypatch.setenv("LOTTERY_OFFLINE", "1")
    return base


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="lottery")
    commands.add_data_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", *argv])
    return args.func(args)


def test_check_prints_a_row_per_dataset_and_exits_1_when_one_is_missing(mirror, capsys):
    assert run("check") == EXIT_MISSING  # no CIFAR, no Tiny ImageNet in this mirror
    out = capsys.readouterr().out
    assert "dataset" in out and "available" in out and "verified" in out and "cached" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line and line.split()[0] in DATASETS}
    assert set(lines) == set(DATASETS)
    assert lines["mnist"][1:4] == ["yes", f"mirror:{mirror / 'MNIST' / 'raw'}", "yes"]
    assert lines["cifar10-subset"][1] == "yes" and lines["cifar10"][1] == "NO" and lines["tinyimagenet"][1] == "NO"
    assert "tiny-imagenet-200" in out  # the notes say where it was looked for
    assert "fix: `lottery data fetch cifar10`" in out and "fix: `lottery data fetch cifar100`" in out


def test_check_of_available_datasets_exits_0(mirror, capsys):
    assert run("check", "mnist", "mnist01", "cifar10-subset") == EXIT_OK
    assert "cifar100" not in capsys.readouterr().out


def test_check_json(mirror, capsys):
    assert run("check", "mnist", "cifar10", "--json") == EXIT_MISSING
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["name"] for r in rows] == ["mnist", "cifar10"]
    assert rows[0]["available"] and rows[0]["verified"] and rows[0]["size_bytes"] > 0
    assert not rows[1]["available"]


def test_check_reports_a_corrupt_file_and_exits_1(mirror, capsys, monkeypatch):
    monkeypatch.setattr(cifar, "SUBSET_DIGEST", "0" * 64)
    assert run("check", "cifar10-subset") == EXIT_MISSING
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("cifar10-subset"))
    assert line.split()[3] == "NO" and "the digest of its arrays is not the cifar10-subset's" in out
    assert run("fetch", "cifar10-subset", "--quiet") == EXIT_MISSING  # a copy that does not match is refused
    assert "0" * 64 in capsys.readouterr().err


def test_unknown_name_is_a_usage_error(mirror, capsys):
    assert run("check", "imagenet") == EXIT_USAGE
    assert run("fetch", "imagenet") == EXIT_USAGE
    assert "dataset must be one of" in capsys.readouterr().err


def test_fetch_available_dataset_exits_0(mirror, capsys):
    assert run("fetch", "mnist", "--quiet") == EXIT_OK
    assert "mnist: ok" in capsys.readouterr().out


def test_fetch_missing_dataset_exits_1_with_the_sources_tried(mirror, capsys):
    assert run("fetch", "cifar10", "--no-download") == EXIT_MISSING
    err = capsys.readouterr().err
    assert "Sources tried" in err and "cifar-10-batches-py" in err and "lottery data fetch cifar10" in err


def test_fetch_all_carries_on_past_failures(mirror, capsys):
    assert run("fetch", "all", "--quiet") == EXIT_MISSING
    captured = capsys.readouterr()
    assert "mnist: ok" in captured.out and "cifar10-subset: ok" in captured.out
    assert "not fetched: cifar10, cifar100, tinyimagenet" in captured.err


def test_missing_subcommand_is_argparse_usage_error(mirror):
    with pytest.raises(SystemExit) as info:
        run()
    assert info.value.code == EXIT_USAGE


def test_exit_codes_are_documented():
    doc = commands.__doc__
    assert "``0``" in doc and "``1``" in doc and "``2``" in doc
