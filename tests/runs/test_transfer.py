"""Carrying runs between machines (``lottery pack`` / ``lottery unpack``, :mod:`concave_lottery.runs.transfer`):
a round trip is byte-exact; a damaged, incomplete or foreign set of parts is detected and nothing is used; a
tampered run is refused while the others install; of two copies of a run the further one is kept; and
``scripts/gpu_campaign.sh`` (the GPU campaign's one command, run here on the CPU) trains, packs and unpacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from concave_lottery.cli import main
from concave_lottery.errors import CorruptFile, ParameterError, UserError
from concave_lottery.runs import transfer
from concave_lottery.runs.digests import Digests
from concave_lottery.runs.lock import RunLock
from concave_lottery.runs.paths import RunDir
from concave_lottery.runs.progress import work_done

NEEDS_MNIST = pytest.mark.skipif(
    not os.environ.get("LOTTERY_DATA_MIRROR") and not (Path(__file__).resolve().parents[2] / "data" / "MNIST").exists(),
    reason="needs MNIST: set LOTTERY_DATA_MIRROR to the offline mirror")
pytestmark = NEEDS_MNIST


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture
def home(mnist_ticket_runs, tmp_path) -> Path:
    """A results root holding copies of the two small finished LeNet runs (soft and IMP)."""
    root = tmp_path / "home"
    for run in mnist_ticket_runs.values():
        shutil.copytree(run, root / "lenet300-mnist" / run.name)
    return root


def _runs(root: Path) -> list[Path]:
    return sorted((root / "lenet300-mnist").iterdir())


def _unfinish(run_dir: Path, keep_rounds: int) -> None:
    """Make a finished run's folder what an interrupted run leaves: no result, ``keep_rounds`` rounds
    recorded (each file removed with its digest, as the library itself does)."""
    run = RunDir(run_dir)
    digests = Digests(run)
    digests.delete(run.result)
    for rnd in run.rounds():
        if rnd.index >= keep_rounds + (0 if (run_dir / "round-0").exists() else 1):
            digests.delete(*[p for p in rnd.path.rglob("*") if p.is_file()])


def test_a_round_trip_is_byte_exact_and_a_second_unpack_keeps_the_copy_here(home, tmp_path):
    packed = transfer.pack(home, _runs(home), tmp_path / "parts")
    assert len(packed.parts) == 1 and packed.parts[0].stat().st_size <= transfer.PART_BYTES
    assert packed.parts[0].name.startswith("runs-") and sorted(packed.runs) == sorted(
        f"lenet300-mnist/{r.name}" for r in _runs(home))
    away = tmp_path / "away"
    outcome = transfer.unpack(packed.parts, away)
    assert [u.action for u in outcome] == ["added", "added"] and {u.state for u in outcome} == {"finished"}
    for run in _runs(home):
        assert _files(away / "lenet300-mnist" / run.name) == _files(run)
    again = transfer.unpack(packed.parts, away)
    assert all(u.action.startswith("kept the copy here") for u in again)
    assert not list(away.glob(".unpack-*"))  # the staging folder is gone


def test_parts_are_split_and_a_missing_or_damaged_part_is_detected_before_anything_is_used(home, tmp_path):
    packed = transfer.pack(home, _runs(home)[:1], tmp_path / "parts", part_bytes=2**20)
    assert len(packed.parts) >= 3 and all(p.stat().st_size <= 2**20 for p in packed.parts)
    away = tmp_path / "away"
    with pytest.raises(ParameterError, match="part\\(s\\) 01 are missing"):
        transfer.unpack([packed.parts[0], *packed.parts[2:]], away)
    data = bytearray(packed.parts[1].read_bytes())
    data[500] ^= 0x01  # one bit flipped in transit
    packed.parts[1].write_bytes(bytes(data))
    with pytest.raises(CorruptFile, match="do not make the archive their names carry"):
        transfer.unpack(packed.parts, away)
    assert not (away / "lenet300-mnist").exists()


def test_too_many_parts_are_refused_and_leave_nothing(home, tmp_path):
    with pytest.raises(UserError, match="more than the 2 allowed"):
        transfer.pack(home, _runs(home)[:1], tmp_path / "parts", part_bytes=2**20, max_parts=2)
    assert not list((tmp_path / "parts").iterdir())


def test_fit_leaves_out_the_run_that_got_least_far_until_the_rest_fit(home, tmp_path):
    soft, imp = _runs(home)[1], _runs(home)[0]
    _unfinish(soft, keep_rounds=1)
    alone = transfer.pack(home, [imp], tmp_path / "alone")
    both = transfer.pack(home, [soft, imp], tmp_path / "both")
    assert both.size > alone.size and both.left_out == []
    limit = -(-alone.size // 2)  # two parts hold the finished IMP run, not both runs
    assert -(-both.size // limit) > 2
    with pytest.raises(UserError, match="more than the 2 allowed"):
        transfer.pack(home, [soft, imp], tmp_path / "refused", part_bytes=limit, max_parts=2)
    packed = transfer.pack(home, [soft, imp], tmp_path / "fit", part_bytes=limit, max_parts=2, fit=True)
    assert packed.runs == [f"lenet300-mnist/{imp.name}"] and packed.left_out == [f"lenet300-mnist/{soft.name}"]
    assert [u.run for u in transfer.unpack(packed.parts, tmp_path / "away")] == packed.runs


def test_a_run_being_trained_is_not_packed(home, tmp_path):
    run = _runs(home)[0]
    with RunLock(run), pytest.raises(UserError, match="is being run by"):
        transfer.pack(home, [run], tmp_path / "parts")


def test_a_tampered_run_is_refused_and_the_others_install(home, tmp_path, capsys):
    soft, imp = _runs(home)[1], _runs(home)[0]
    assert "soft" in soft.name and "imp" in imp.name
    masks = RunDir(soft).round(1).masks
    data = bytearray(masks.read_bytes())
    data[len(data) // 2] ^= 0x01
    masks.write_bytes(bytes(data))
    packed = transfer.pack(home, [soft, imp], tmp_path / "parts")
    away = tmp_path / "away"
    status = main(["unpack", *map(str, packed.parts), "--into", str(away)])
    out = capsys.readouterr().out
    assert status == 1 and "1 verified, 1 refused" in out
    assert f"{soft.name}: refused: " in out and "does not match its digest" in out
    assert not (away / "lenet300-mnist" / soft.name).exists() and (away / "lenet300-mnist" / imp.name).is_dir()


def test_of_two_copies_the_further_one_is_kept(home, tmp_path):
    soft = _runs(home)[1]
    finished = transfer.pack(home, [soft], tmp_path / "finished")
    _unfinish(soft, keep_rounds=1)
    assert work_done(soft)[:2] == (0, 1)
    unfinished = transfer.pack(home, [soft], tmp_path / "unfinished")
    away = tmp_path / "away"
    assert transfer.unpack(unfinished.parts, away)[0].action == "added"
    assert not (away / "lenet300-mnist" / soft.name / "result.json").exists()
    outcome = transfer.unpack(finished.parts, away)[0]  # further: replaces the unfinished copy
    assert outcome.state == "finished" and outcome.action == "replaced the copy here, which was less far"
    assert (away / "lenet300-mnist" / soft.name / "result.json").exists()
    back = transfer.unpack(unfinished.parts, away)[0]  # less far: left out, unless asked for
    assert back.action.startswith("kept the copy here")
    assert transfer.unpack(unfinished.parts, away, replace=True)[0].action == "replaced the copy here (--replace)"


def test_bad_command_lines_are_one_paragraph_and_exit_2(home, tmp_path, capsys):
    assert main(["pack", "--to", str(tmp_path / "p")]) == 2
    assert "needs either run folders (RUN_DIR ...) or --spec SPEC" in capsys.readouterr().err
    stray = tmp_path / "notes.txt"
    stray.write_text("not a part")
    assert main(["unpack", str(stray), "--into", str(tmp_path / "away")]) == 2
    err = capsys.readouterr().err
    assert "PARTS" in err and "runs-<16 hex digits>.tar.gz.partNN" in err and "Traceback" not in err
    assert main(["pack", str(tmp_path), "--to", str(tmp_path / "p")]) == 2
    assert "RUN_DIR" in capsys.readouterr().err


def test_the_gpu_campaign_script_trains_packs_and_its_parts_unpack_elsewhere(repo_root, tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text('[[grid]]\npreset = "lenet300-mnist"\nmethod = "soft"\nregularizer = "log"\nlam = 3e-4\n'
                    'rounds = 1\nepochs = 1\ntrain_subset = 256\ntest_subset = 128\nseed = 0\n')
    env = {**os.environ, "DEVICE": "cpu", "PY": sys.executable, "OUT": str(tmp_path / "out"),
           "RESULTS": str(tmp_path / "device-results"), "GPU_WORKERS": "1", "CARRY": str(tmp_path / "no-carry"),
           "CPU_BENCH": "yes", "BENCH_TIME": "2s"}  # the CPU benchmark's branch runs (cut short) whatever the CPU
    script = str(repo_root / "scripts" / "gpu_campaign.sh")
    bad = subprocess.run(["bash", script, str(spec), "7x"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "DURATION='7x'" not in bad.stderr and "DURATION=7x is not allowed" in bad.stderr
    # A machine whose python lacks a package the sweep needs: named before anything is trained (exit 3).
    blocker = tmp_path / "no-safetensors"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nclass _Absent:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'safetensors':\n            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _Absent())\n")
    bare = subprocess.run(["bash", script, str(spec), "5m"], capture_output=True, text=True, timeout=120,
                          env={**env, "PYTHONPATH": str(blocker)})
    assert bare.returncode == 3 and "lacks ['safetensors']" in bare.stderr, bare.stdout + bare.stderr
    assert not (tmp_path / "device-results").exists()
    proc = subprocess.run(["bash", script, str(spec), "5m"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CPU step benchmark first" in proc.stdout and (tmp_path / "out" / "step_speed.txt").is_file()
    assert "1 unfinished runs; 1 at once" in proc.stdout and "1 runs, 1 finished" in proc.stdout
    parts = sorted((tmp_path / "out").glob("runs-*.tar.gz.part*"))
    assert len(parts) == 1
    outcome = transfer.unpack(parts, tmp_path / "home")
    assert [(u.state, u.action) for u in outcome] == [("finished", "added")]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def test_a_staged_gpu_campaign_sends_only_the_unfinished_runs_trains_only_them_and_restores_git(repo_root, tmp_path):
    """The lent-GPU round trip, on the CPU: ``gpu_stage.sh`` packs the started unfinished run, lists every
    unfinished run and takes results/ out of git's index (so that it does not travel); ``gpu_campaign.sh``,
    given only that carry, resumes and finishes those runs and never retrains the finished one; the parts
    unpack at home; ``--restore`` leaves the index as HEAD has it."""
    checkout = tmp_path / "checkout"
    (checkout / "sweeps").mkdir(parents=True)
    spec = checkout / "sweeps" / "tiny.toml"
    spec.write_text('out = "results"\n[[grid]]\npreset = "lenet300-mnist"\nmethod = "soft"\nregularizer = "log"\n'
                    'lam = 3e-4\nrounds = 2\nepochs = 1\ntrain_subset = 256\ntest_subset = 128\nseed = [0, 1, 2]\n')
    (checkout / ".gitignore").write_text(".carry/\n")
    env = {**os.environ, "PY": sys.executable, "PYTHONPATH": str(repo_root / "src"), "OMP_NUM_THREADS": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run([sys.executable, "-m", "concave_lottery.cli", "sweep", str(spec), "--workers", "1"], cwd=checkout,
                   env=env, check=True, capture_output=True)
    home = checkout / "results" / "lenet300-mnist"
    seed = {int(p.name.split("-seed")[1].split("-")[0]): p for p in home.iterdir()}
    _unfinish(seed[1], keep_rounds=1)
    shutil.rmtree(seed[2])  # never started
    _git(checkout, "init", "-q")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-q", "-m", "runs")
    tracked = _git(checkout, "ls-files")
    data = tmp_path / "data"
    data.mkdir()
    (data / "stand-in.npz").write_bytes(b"data")
    stage_env = {**env, "REPO": str(checkout), "LOTTERY_DATA": str(data), "DATA_FILE": "stand-in.npz"}
    stage = ["bash", str(repo_root / "scripts" / "gpu_stage.sh"), "sweeps/tiny.toml"]

    over = subprocess.run(stage, env={**stage_env, "LIMIT_MIB": "0"}, capture_output=True, text=True)
    assert over.returncode == 1 and "over the limit; results/ restored" in over.stderr, over.stdout + over.stderr
    assert not (checkout / ".carry" / "todo.txt").exists() and not list((checkout / ".carry" / "in").glob("*"))
    assert _git(checkout, "ls-files") == tracked and _git(checkout, "diff", "--cached", "--name-only") == ""

    proc = subprocess.run(stage, env=stage_env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    carry = checkout / ".carry"
    assert (carry / "todo.txt").read_text().split() == [seed[1].name, seed[2].name]
    assert f"packed  lenet300-mnist/{seed[1].name}" in proc.stdout and "what travels" in proc.stdout
    assert (carry / "data" / "stand-in.npz").read_bytes() == b"data"
    travels = _git(checkout, "ls-files", "--cached", "--others", "--exclude-standard").split()
    assert travels and not [p for p in travels if p.startswith(("results/", ".carry/"))]
    again = subprocess.run(stage, env=stage_env, capture_output=True, text=True)
    assert again.returncode == 2 and "already hidden" in again.stderr

    device = {**env, "DEVICE": "cpu", "OUT": str(tmp_path / "out"), "RESULTS": str(tmp_path / "device-results"),
              "CARRY": str(carry), "GPU_WORKERS": "1", "CPU_BENCH": "no"}
    run = subprocess.run(["bash", str(repo_root / "scripts" / "gpu_campaign.sh"), str(spec), "300s"], env=device,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 unfinished runs; 1 at once" in run.stdout and "2 runs, 2 finished" in run.stdout
    assert sorted(p.name for p in (tmp_path / "device-results" / "lenet300-mnist").iterdir()) == \
        sorted([seed[1].name, seed[2].name])  # the finished seed 0 was neither sent nor trained

    restored = subprocess.run(["bash", str(repo_root / "scripts" / "gpu_stage.sh"), "--restore"], env=stage_env,
                              capture_output=True, text=True)
    assert restored.returncode == 0 and "results/ is tracked again" in restored.stdout, restored.stderr
    assert _git(checkout, "ls-files") == tracked and _git(checkout, "diff", "--cached", "--name-only") == ""
    assert "gpu_stage" not in (checkout / ".git" / "info" / "exclude").read_text()
    outcome = transfer.unpack(sorted((tmp_path / "out").glob("runs-*.tar.gz.part*")), checkout / "results")
    assert sorted((u.run.split("/")[1], u.state, u.action) for u in outcome) == sorted([
        (seed[1].name, "finished", "replaced the copy here, which was less far"),
        (seed[2].name, "finished", "added")])
    assert all((seed[s] / "result.json").exists() for s in (0, 1, 2))
