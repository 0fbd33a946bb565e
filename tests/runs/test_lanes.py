"""``scripts/cpu_lanes.sh``: a campaign as lanes, one background one-thread sweep per lane file. Lanes train their
runs (each in spec order) side by side and finish the spec; a lane naming a run the spec does not have is refused
before anything starts (exit 2); ``stop`` ends a lane's whole process group, and its run resumes later."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import NEEDS_MNIST

from concave_lottery.runs.progress import progress
from concave_lottery.runs.sweep import load_spec

pytestmark = NEEDS_MNIST

GRID = ('[[grid]]\npreset = "lenet300-mnist"\nmethod = "soft"\nregularizer = "log"\nlam = 3e-4\nrounds = 1\n'
        'train_subset = 256\ntest_subset = 128\n')


def _lanes(repo_root: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PY": sys.executable, "OUT": str(tmp_path / "results"), "LANES_DIR": str(tmp_path / "lanes")}
    return subprocess.run(["bash", str(repo_root / "scripts" / "cpu_lanes.sh"), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def _wait(predicate, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


def _alive(pid_file: Path) -> bool:
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text()), 0)
    except ProcessLookupError:
        return False
    return True


def test_lanes_train_side_by_side_a_bad_lane_is_refused_and_stop_ends_a_lane(repo_root, tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(f"{GRID}epochs = 1\nseed = 0\n{GRID}epochs = 20000\nseed = 1\n")  # seed 1: far longer than the test
    tasks = load_spec(str(spec), out=str(tmp_path / "results")).tasks
    (tmp_path / "a.txt").write_text(f"# the short run\n{tasks[0].run_dir.name}\n")
    (tmp_path / "b.txt").write_text(f"{tasks[1].run_dir.name}\n")
    (tmp_path / "bad.txt").write_text("soft-log-lam0.0003-seed9-00000000\n")
    bad = _lanes(repo_root, tmp_path, "start", str(spec), str(tmp_path / "a.txt"), str(tmp_path / "bad.txt"))
    assert bad.returncode == 2 and "only" in bad.stderr and "seed9" in bad.stderr
    assert not (tmp_path / "lanes").exists()  # refused before any lane started

    started = _lanes(repo_root, tmp_path, "start", str(spec), str(tmp_path / "a.txt"), str(tmp_path / "b.txt"))
    assert started.returncode == 0 and started.stdout.count("started lane") == 2, started.stderr
    lanes = tmp_path / "lanes"
    assert _wait(lambda: not _alive(lanes / "a.pid"), 300)  # lane a: the short run
    assert load_spec(str(spec), out=str(tmp_path / "results")).tasks[0].finished
    assert "1 runs: 1 ok, 0 failed" in (lanes / "a.log").read_text()
    long = tasks[1]
    assert _wait(lambda: progress(long.run_dir)["epochs_done"] >= 1, 120)  # lane b, side by side
    status = _lanes(repo_root, tmp_path, "status", str(spec))
    assert "lane a: not running" in status.stdout and "lane b: running" in status.stdout
    assert "2 runs, 1 finished" in status.stdout

    group = int((lanes / "b.pid").read_text())  # the lane's sweep leads its own process group (setsid)
    assert len(_members(group)) >= 2  # the sweep and its worker
    stopped = _lanes(repo_root, tmp_path, "stop")
    assert stopped.returncode == 0 and "stopped lane b" in stopped.stdout
    assert not list(lanes.glob("*.pid"))
    done = progress(long.run_dir)["epochs_done"]
    time.sleep(2)
    assert progress(long.run_dir)["epochs_done"] == done >= 1  # nothing trains on: the worker ended too
    assert not (long.run_dir / "result.json").exists()  # stopped mid-run; its checkpoint resumes it
    assert not _members(group)  # the sweep and its worker process are gone


def _members(group: int) -> list[int]:
    """The live processes of process group ``group`` (a zombie, ended but not yet reaped, is not live)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if os.getpgid(int(entry.name)) == group and state != "Z":
                    found.append(int(entry.name))
            except (ProcessLookupError, FileNotFoundError):
                pass
    return found


def test_a_lane_thread_count_that_is_not_a_whole_number_of_at_least_one_is_refused(repo_root, tmp_path):
    for bad in ("0", "two", "-1", ""):
        env = {**os.environ, "PY": sys.executable, "LANES_DIR": str(tmp_path / "lanes"), "THREADS": bad}
        done = subprocess.run(["bash", str(repo_root / "scripts" / "cpu_lanes.sh"), "stop"], env=env,
                              capture_output=True, text=True, timeout=60)
        if bad == "":  # unset or empty: the default, one thread per lane
            assert done.returncode == 0, done.stderr
            continue
        assert done.returncode == 2 and f"THREADS={bad} is not usable" in done.stderr
        assert "a whole number of at least 1" in done.stderr and not (tmp_path / "lanes").exists()
