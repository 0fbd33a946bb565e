"""``scripts/snapshot_runs.py``: a campaign's runs, unfinished ones with their git-ignored checkpoints, are staged
for a commit (never a lock or a half-written file), deletions included, and the STAGED copies are checked: a
run whose staged copy fails its digests is taken out of the index and named (exit status 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import NEEDS_MNIST

from concave_lottery.runs.digests import Digests
from concave_lottery.runs.paths import RunDir
from concave_lottery.runs.sweep import load_spec

pytestmark = NEEDS_MNIST


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def test_a_snapshot_stages_unfinished_runs_checks_the_staged_copies_and_refuses_a_damaged_one(repo_root, tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "sweeps").mkdir(parents=True)
    (checkout / "sweeps" / "tiny.toml").write_text(
        'out = "results"\n[[grid]]\npreset = "lenet300-mnist"\nmethod = "soft"\nregularizer = "log"\nlam = 3e-4\n'
        'rounds = 2\nepochs = 1\ntrain_subset = 256\ntest_subset = 128\nseed = [0, 1, 2]\n')
    ignored = [line for line in (repo_root / ".gitignore").read_text().splitlines() if line.startswith("results/")]
    (checkout / ".gitignore").write_text("\n".join(ignored) + "\n")  # the repository's own: checkpoints ignored
    env = {**os.environ, "PYTHONPATH": str(repo_root / "src"), "OMP_NUM_THREADS": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    tasks = load_spec(str(checkout / "sweeps" / "tiny.toml"), out=str(checkout / "results")).tasks
    only = ",".join(t.run_dir.name for t in tasks[:2])  # seed 2 is never started
    subprocess.run([sys.executable, "-m", "concave_lottery.cli", "sweep", "sweeps/tiny.toml", "--only", only,
                    "--workers", "1"], cwd=checkout, env=env, check=True, capture_output=True)
    runs = {int(p.name.split("-seed")[1].split("-")[0]): p for p in (checkout / "results" / "lenet300-mnist").iterdir()}
    unfinished = RunDir(runs[1])
    digests = Digests(unfinished)
    digests.delete(unfinished.result)  # seed 1: interrupted in round 2
    digests.delete(*[p for p in unfinished.round(2).path.rglob("*") if p.is_file()])
    (runs[1] / ".lock").write_text("")
    (runs[1] / "checkpoint.pt.tmp").write_bytes(b"half written")
    _git(checkout, "init", "-q")
    _git(checkout, "add", ".gitignore", "sweeps")
    _git(checkout, "commit", "-q", "-m", "spec")  # the runs are not committed yet
    snapshot = [sys.executable, str(repo_root / "scripts" / "snapshot_runs.py"), "sweeps/tiny.toml"]

    proc = subprocess.run(snapshot, cwd=checkout, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    staged = set(_git(checkout, "diff", "--cached", "--name-only").split())
    theta0 = {f"results/lenet300-mnist/{runs[s].name}/theta0.pt" for s in (0, 1)}
    assert theta0 <= staged  # git-ignored, staged all the same
    assert f"results/lenet300-mnist/{runs[0].name}/result.json" in staged
    assert not [f for f in staged if f.endswith((".lock", ".tmp"))]
    assert f"finished       results/lenet300-mnist/{runs[0].name}" in proc.stdout
    assert f"unfinished     results/lenet300-mnist/{runs[1].name}" in proc.stdout
    assert "2 of 2 run folders staged and checked" in proc.stdout
    _git(checkout, "commit", "-q", "-m", "runs")

    # The unfinished run goes on and deletes a file (as a finished phase removes its checkpoint), while a bit
    # of the finished run's record flips on disk: the deletion is staged, the damaged run is refused.
    digests.delete(unfinished.round(1).path / "masks.pt")
    record = runs[0] / "round-1" / "record.json"
    record.write_bytes(record.read_bytes().replace(b"{", b"[", 1))
    proc = subprocess.run(snapshot, cwd=checkout, env=env, capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"BAD, unstaged  results/lenet300-mnist/{runs[0].name}" in proc.stdout
    assert f"results/lenet300-mnist/{runs[0].name}: " in proc.stderr and "record.json" in proc.stderr
    changes = _git(checkout, "diff", "--cached", "--name-status").splitlines()
    assert sorted(changes) == [f"D\tresults/lenet300-mnist/{runs[1].name}/round-1/masks.pt",
                               f"M\tresults/lenet300-mnist/{runs[1].name}/digests.json"]


def test_a_snapshot_outside_git_or_of_a_bad_spec_is_a_usage_error(repo_root, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(repo_root / "src"), "GIT_CEILING_DIRECTORIES": str(tmp_path)}
    script = str(repo_root / "scripts" / "snapshot_runs.py")
    outside = subprocess.run([sys.executable, script, "nowhere.toml"], cwd=tmp_path, env=env, capture_output=True,
                             text=True)
    assert outside.returncode == 2 and "not inside a git checkout" in outside.stderr
    _git(tmp_path, "init", "-q")
    missing = subprocess.run([sys.executable, script, "nowhere.toml"], cwd=tmp_path, env=env, capture_output=True,
                             text=True)
    assert missing.returncode == 2 and "nowhere.toml" in missing.stderr and "Traceback" not in missing.stderr
