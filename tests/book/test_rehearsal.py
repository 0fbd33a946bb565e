"""``make rehearse-paper`` (concave_lottery.book.rehearsal): what it prepares before the build. The build itself
(every chapter in the paper profile, about an hour on a 2-core CPU) is run by hand and reported; the profile it
builds is checked in test_profile_extends.py and its spec in tests/runs/test_sweep_extends.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from concave_lottery.book import rehearsal
from concave_lottery.data import standins


def test_prepare_writes_standins_and_an_environment_that_accepts_them(tmp_path, monkeypatch):
    monkeypatch.delenv("LOTTERY_DATA_MIRROR", raising=False)
    monkeypatch.delenv("LOTTERY_DATA", raising=False)
    env = rehearsal.prepare(tmp_path, tmp_path / "_rehearsal")
    data = Path(env["LOTTERY_DATA"])
    assert data == (tmp_path / "_rehearsal" / "data").resolve()
    for official in ("cifar-10-batches-py/data_batch_5", "cifar-10-batches-py/test_batch", "cifar-100-python/meta",
                     "tiny-imagenet-200.zip"):
        assert (data / official).is_file(), official
    assert env["LOTTERY_DATA_MIRROR"] == str((tmp_path / "data").resolve())  # the usual data root, read-only
    manifest = json.loads(Path(env[standins.MANIFEST_ENV]).read_text())
    assert set(manifest) == {"cifar10", "cifar100", "tinyimagenet"}
    site = Path(env["PYTHONPATH"].split(":")[0])
    assert (site / "sitecustomize.py").read_text() == rehearsal.SITECUSTOMIZE
    # a process started with this environment (a papermill kernel, a sweep worker) accepts the stand-ins
    code = ("from concave_lottery.data import load_dataset; "
            "d = load_dataset('tinyimagenet', download=False, progress=False); print(tuple(d.train_images.shape))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "(20, 3, 64, 64)"


def test_an_explicit_mirror_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTTERY_DATA_MIRROR", "/somewhere/mirror")
    assert rehearsal.prepare(tmp_path, tmp_path / "w")["LOTTERY_DATA_MIRROR"] == "/somewhere/mirror"
