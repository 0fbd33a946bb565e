"""Fault injection (issue 21): damaged, truncated, deleted and wrong files, a full disk, a read-only output,
a lock race, ``kill -9`` at each phase boundary, and bad input.

Every case ends in one of two ways: a clear error (``lottery`` exits with status 2, one paragraph that names
the file or parameter and what to do, no traceback), or a result identical to an uninterrupted run's. The
runs are LeNet-300-100 on the tiny synthetic data of the ``tiny_images`` fixture (128 images of 8x8, 2 rounds of 2
epochs); ``lottery`` is called in this process (``cli.main``: an exception other than the clear error would
fail the test with its traceback) with the dataset loader replaced by that data. Cases that need a tmpfs
(full disk, read-only filesystem) are skipped, with the reason, where ``mount`` is not allowed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from concave_lottery.cli import main
from concave_lottery.runs import lottery as lotterylib
from concave_lottery.runs import training
from concave_lottery.runs.config import resolve_config
from concave_lottery.runs.digests import Digests
from concave_lottery.runs.paths import RunDir

ARGS = ["epochs=2", "batch_size=64", "rounds=2", "lr=0.05", "lam=1e-3", "alpha=0.3", "mask_lr_scale=100"]
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="session")
def tiny(tiny_images):
    """``tiny()``: the data of these runs (128 training images); a loader's arguments are ignored."""
    return lambda *args, **kwargs: tiny_images(n_train=128, n_test=32)


def the_config(**overrides):
    values = dict(a.split("=", 1) for a in ARGS)
    values.update({k: str(v) for k, v in overrides.items()})
    return resolve_config("lenet300-mnist", values)


@pytest.fixture(autouse=True)
def tiny_data(monkeypatch, tiny):
    """``lottery run`` in these tests trains on the tiny synthetic data, whatever the dataset's name."""
    monkeypatch.setattr(lotterylib, "load_dataset", tiny)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread in every run here (and in the subprocesses): bit-for-bit comparisons need the same."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def lottery(capsys, *argv: str) -> tuple[int, str, str]:
    """``lottery ARGV`` in this process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def run_cli(capsys, out: Path, *extra: str) -> tuple[int, str, str]:
    """``lottery run`` of the test config, with ``extra`` key=value overrides replacing its values."""
    values = dict(a.split("=", 1) for a in [*ARGS, *extra])
    return lottery(capsys, "run", "lenet300-mnist", *[f"{k}={v}" for k, v in values.items()], "--out", out,
                   "--device", "cpu", "--quiet")


def clear_error(code: int, err: str, *needles: str) -> None:
    """Exit status 2 and one ``lottery: error:`` paragraph that contains every needle."""
    assert code == 2, err
    assert err.startswith("lottery: error:"), err
    flat = " ".join(err.split())
    for needle in needles:
        assert needle in flat, (needle, flat)


def strip_timings(result: dict) -> dict:
    result = json.loads(json.dumps(result))
    result.pop("provenance")
    for record in result["rounds"]:
        for key in [k for k in record if "seconds" in k]:
            record.pop(key)
    return result


def same_run_files(a: Path, b: Path) -> None:
    """Two run folders hold the same result, the same masks and the same ticket weights, bit for bit."""
    ra, rb = (json.loads((d / "result.json").read_text()) for d in (a, b))
    assert strip_timings(ra) == strip_timings(rb)
    masks = sorted(p.relative_to(a) for p in a.rglob("masks.pt"))
    assert masks and masks == sorted(p.relative_to(b) for p in b.rglob("masks.pt"))
    for rel in masks:
        sa, sb = torch.load(a / rel, weights_only=True), torch.load(b / rel, weights_only=True)
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[n][k], sb[n][k]) for n in sa for k in sa[n])
    weights = sorted(p.relative_to(a) for p in a.rglob("ticket/weights.pt"))
    assert weights and weights == sorted(p.relative_to(b) for p in b.rglob("ticket/weights.pt"))
    for rel in weights:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()


def follow(advice: str) -> None:
    """Do what an error says to delete: the ``rm -r ...`` it quotes, else the one path after 'delete'."""
    flat = " ".join(advice.split())
    quoted = re.search(r"`rm -r ([^`]+)`", flat)
    targets = quoted.group(1).split() if quoted else [re.search(r"delete (\S+) \(", flat).group(1)]
    for target in map(Path, targets):
        shutil.rmtree(target) if target.is_dir() else target.unlink()


@pytest.fixture(scope="module")
def golden(tmp_path_factory, tiny) -> Path:
    """The uninterrupted run every faulty one is compared with."""
    root = tmp_path_factory.mktemp("golden")
    path, _ = lotterylib.run_lottery(the_config(), root, device="cpu", progress=False, data=tiny())
    return path.parent


def copy_of(golden: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    target = out / golden.parent.name / golden.name
    shutil.copytree(golden, target)
    return target


# ------------------------------------------------------------------ 1, 11: damaged and wrong files

RUN_FILES = ["config.json", "started.json", "result.json", "theta0.pt", "round-1/masks.pt", "round-1/search.json",
             "round-1/record.json", "round-1/search/metrics.json", "round-1/ticket/metrics.json", "round-2/masks.pt",
             "round-2/record.json", "round-2/ticket/weights.pt"]


def flip(path: Path, where: float) -> None:
    data = bytearray(path.read_bytes())
    i = min(int(where * len(data)), len(data) - 1)
    data[i] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_bit_flip_in_any_file_of_a_finished_run_is_refused_and_the_advice_works(golden, tmp_path, capsys, name):
    run = copy_of(golden, tmp_path)
    for where in (0.0, 0.5, 0.999):
        flip(run / name, where)
        code, _, err = run_cli(capsys, tmp_path / "out")
        clear_error(code, err, str(run / name), "does not match its digest", "delete")
        code, out, _ = lottery(capsys, "results", tmp_path / "out")
        assert code == 2 and f"BAD {run.parent.name}/{run.name}" in out and "does not match its digest" in out
        flip(run / name, where)  # flipped back: the same bytes verify again
    flip(run / name, 0.5)
    _, _, err = run_cli(capsys, tmp_path / "out")
    follow(err)
    code, _, err = run_cli(capsys, tmp_path / "out")
    assert code == 0, err
    same_run_files(golden, run)


def interrupted(tmp_path: Path, monkeypatch, data, evaluations: int) -> Path:
    """A run stopped (Ctrl-C) during its ``evaluations``-th evaluation: a checkpoint of the phase is left."""
    real, seen = training.evaluate, {"n": 0}

    def evaluate(*args, **kwargs):
        seen["n"] += 1
        if seen["n"] == evaluations:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "evaluate", evaluate)
    with pytest.raises(KeyboardInterrupt):
        lotterylib.run_lottery(the_config(), tmp_path / "out", device="cpu", progress=False, data=data)
    monkeypatch.setattr(training, "evaluate", real)
    return lotterylib.run_directory(the_config(), tmp_path / "out")


def test_a_bit_flipped_checkpoint_is_refused_and_deleting_it_resumes_exactly(golden, tmp_path, capsys, monkeypatch,
                                                                            tiny):
    """Issue case 1: round 2's search checkpoint is damaged in its middle (every 4th byte of 4,000)."""
    run = interrupted(tmp_path, monkeypatch, tiny(), evaluations=6)  # round 1: 2 + 2 epochs; round 2's search: epoch 2
    checkpoint = RunDir(run).round(2).search.checkpoint
    data = bytearray(checkpoint.read_bytes())
    middle = len(data) // 2 - 2000
    for i in range(middle, middle + 4000, 4):
        data[i] ^= 0x40
    checkpoint.write_bytes(bytes(data))
    code, _, err = run_cli(capsys, tmp_path / "out")
    clear_error(code, err, str(checkpoint), "does not match its digest", f"delete {checkpoint}")
    follow(err)
    code, _, err = run_cli(capsys, tmp_path / "out")
    assert code == 0, err
    same_run_files(golden, run)


def seal(run: Path, rel: str, content) -> None:
    """Write ``content`` as the run would (with its digest): a file that verifies but holds the wrong thing."""
    digests = Digests(run)
    path = run / rel
    if rel.endswith(".pt"):
        digests.save_torch(content, path)
    else:
        digests.write_json(path, content)


@pytest.mark.parametrize("sealed", [False, True], ids=["as-is", "with-its-digest"])
def test_wrong_content_is_refused(golden, tmp_path, capsys, monkeypatch, sealed, tiny):
    """Issue case 11: valid files with the wrong content, written over the file (its digest then fails) or
    with a matching digest (the structural checks catch them)."""
    run = interrupted(tmp_path, monkeypatch, tiny(), evaluations=6)
    cases = [("round-2/search/checkpoint.pt", {"foo": 1}, "not a checkpoint of this training"),
             ("round-1/masks.pt", {}, "not a mask state of this model"),
             ("round-1/record.json", {}, "lacks round"),
             ("theta0.pt", {"fc1.weight": torch.zeros(3)}, "does not hold this model's weights")]
    for rel, content, message in cases:
        before = (run / rel).read_bytes(), Digests(run).entries()
        if sealed:
            seal(run, rel, content)
        else:
            torch.save(content, run / rel) if rel.endswith(".pt") else (run / rel).write_text(json.dumps(content))
        code, _, err = run_cli(capsys, tmp_path / "out")
        clear_error(code, err, str(run / rel), message if sealed else "does not match its digest")
        (run / rel).write_bytes(before[0])
        Digests(run)._save(before[1])
    code, _, err = run_cli(capsys, tmp_path / "out")
    assert code == 0, err
    same_run_files(golden, run)


# ------------------------------------------------------------------ 2, 3, 12, 13: finished runs

@pytest.mark.parametrize("how", ["truncated", "deleted"])
def test_a_finished_run_with_a_bad_masks_file_is_caught_by_run_results_and_extend(golden, tmp_path, capsys, how):
    run = copy_of(golden, tmp_path)
    good = shutil.copytree(golden, tmp_path / "out" / golden.parent.name / "another-good-run")
    masks = run / "round-1" / "masks.pt"
    masks.write_bytes(masks.read_bytes()[:1000]) if how == "truncated" else masks.unlink()
    code, _, err = run_cli(capsys, tmp_path / "out")
    clear_error(code, err, str(masks), "round 1 and the rounds after it")
    code, out, _ = lottery(capsys, "results", tmp_path / "out")  # case 13: the good run is listed, the bad marked
    assert code == 2 and good.name in out and "1 finished runs" in out
    assert f"BAD {run.parent.name}/{run.name}" in out and "masks.pt" in out
    code, _, err = lottery(capsys, "extend", run, "--rounds", "3", "--out", tmp_path / "longer")
    clear_error(code, err, str(masks))
    assert not (tmp_path / "longer").exists()
    follow(err)  # case 12: the advice, followed, recomputes the run exactly
    code, _, err = run_cli(capsys, tmp_path / "out")
    assert code == 0, err
    same_run_files(golden, run)


def test_a_sweep_reports_a_damaged_finished_run_instead_of_skipping_it(golden, tmp_path, capsys):
    run = copy_of(golden, tmp_path)
    spec = tmp_path / "spec.toml"
    grid = "\n".join(f"{k} = {v}" for k, v in (a.split("=", 1) for a in ARGS))
    spec.write_text(f'out = "{tmp_path / "out"}"\n[[grid]]\npreset = "lenet300-mnist"\n{grid}\n')
    code, out, _ = lottery(capsys, "sweep", spec)
    assert code == 0 and "skipped (finished)" in out
    masks = run / "round-2" / "masks.pt"
    masks.write_bytes(masks.read_bytes()[:-10])
    code, out, err = lottery(capsys, "sweep", spec)
    assert code == 1 and "FAILED" in out and str(masks) in " ".join(err.split())


@pytest.mark.parametrize("sealed", [False, True], ids=["as-is", "with-its-digest"])
def test_a_result_without_rounds_is_refused(golden, tmp_path, capsys, sealed):
    """Issue case 3: ``"rounds": []``."""
    run = copy_of(golden, tmp_path)
    result = json.loads((run / "result.json").read_text())
    result["rounds"] = []
    seal(run, "result.json", result) if sealed else (run / "result.json").write_text(json.dumps(result))
    for argv in (["results", tmp_path / "out"],):
        code, out, _ = lottery(capsys, *argv)
        assert code == 2 and "BAD" in out
    code, _, err = run_cli(capsys, tmp_path / "out")
    clear_error(code, err, str(run / "result.json"), "holds 0 round records" if sealed else "does not match")
    follow(err)
    code, _, err = run_cli(capsys, tmp_path / "out")
    assert code == 0, err
    same_run_files(golden, run)


def test_a_run_folder_from_before_digests(golden, tmp_path, capsys):
    """A finished run without digests is refused with the migration command; an unfinished one is adopted
    (its checkpoints resume) with a one-line notice."""
    run = copy_of(golden, tmp_path)
    (run / "digests.json").unlink()
    code, _, err = run_cli(capsys, tmp_path / "out")
    clear_error(code, err, "lottery migrate-digests")
    code, out, _ = lottery(capsys, "migrate-digests", tmp_path / "out")
    assert code == 0 and "1 run folders given digests" in out
    code, _, err = run_cli(capsys, tmp_path / "out")
    assert code == 0, err
    (run / "digests.json").unlink()
    shutil.rmtree(run / "round-2")
    (run / "result.json").unlink()
    code, _, err = run_cli(capsys, tmp_path / "out")
    assert code == 0 and "adopted" in err
    same_run_files(golden, run)


# ------------------------------------------------------------------ 5: the lock

LOCKER = textwrap.dedent("""
    import os, sys, time
    from concave_lottery.errors import UserError
    from concave_lottery.runs.lock import RunLock
    folder, log, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    done = 0
    while done < n:
        try:
            with RunLock(folder):
                with open(log, "a") as f:
                    f.write(f"in {os.getpid()}\\n")
                time.sleep(0.002)
                with open(log, "a") as f:
                    f.write(f"out {os.getpid()}\\n")
            done += 1
        except UserError:
            time.sleep(0.0005)
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}


def test_two_processes_are_never_inside_the_lock_together(tmp_path):
    log, n = tmp_path / "log", 100
    procs = [subprocess.Popen([sys.executable, "-c", LOCKER, str(tmp_path), str(log), str(n)], env=_env())
             for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0
    lines = log.read_text().split()
    events = list(zip(lines[0::2], lines[1::2], strict=True))
    assert len(events) == 4 * n
    for enter, leave in zip(events[0::2], events[1::2], strict=True):
        assert enter[0] == "in" and leave == ("out", enter[1])  # nobody entered before the holder left
    assert len({pid for _, pid in events}) == 2


def test_stale_empty_and_foreign_locks_are_taken_over(tmp_path):
    from concave_lottery.errors import UserError

    lock = tmp_path / ".lock"
    sleeper = subprocess.Popen(["sleep", "60"])  # a live process unrelated to the library
    try:
        for content in ("", "999999999", f"{sleeper.pid}", "not a pid"):
            lock.write_text(content)
            with lotterylib.RunLock(tmp_path):
                assert lock.read_text().split()[0] == str(os.getpid())
            assert lock.read_text() == ""
    finally:
        sleeper.kill()
        sleeper.wait()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                               str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match="being run by"), lotterylib.RunLock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with lotterylib.RunLock(tmp_path):  # its holder was killed: the kernel released the lock
        pass


# ------------------------------------------------------------------ kill -9 at each phase boundary

KILLER = textwrap.dedent("""
    # One process imports the library once, then forks one child per kill point (no torch computation has
    # run in it yet, so forking is safe); each child runs and is killed with SIGKILL at its point.
    import json, os, signal, sys
    import torch
    from concave_lottery.runs import digests, lottery
    from concave_lottery.runs.config import resolve_config

    def child(out, target, nth, mid, args):
        torch.set_num_threads(1)
        real_write, seen = digests.Digests.write_bytes, {"n": 0}

        def write_bytes(self, path, data):
            if self.run.relative(path) == target:
                seen["n"] += 1
                if seen["n"] == nth and mid:  # after the new content's digest is added, before the rename
                    digests.os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)
            real_write(self, path, data)
            if self.run.relative(path) == target and seen["n"] == nth:
                os.kill(os.getpid(), signal.SIGKILL)

        digests.Digests.write_bytes = write_bytes
        config = resolve_config("lenet300-mnist", dict(a.split("=", 1) for a in args))
        lottery.run_lottery(config, out, device="cpu", progress=False, data=data)

    points, data, args, status = json.loads(sys.argv[1]), torch.load(sys.argv[2], weights_only=False), sys.argv[3:], []
    for out, target, nth, when in points:
        pid = os.fork()
        if pid == 0:
            try:
                child(out, target, nth, when == "mid", args)
            finally:
                os._exit(3)  # the kill point was never reached
        status.append(os.waitpid(pid, 0)[1])
    print(json.dumps([os.WIFSIGNALED(s) and os.WTERMSIG(s) == signal.SIGKILL for s in status]))
""")

KILL_POINTS = [("theta0.pt", 1, "after"), ("round-1/search/checkpoint.pt", 1, "after"),
               ("round-1/search/checkpoint.pt", 2, "mid"), ("round-1/search.json", 1, "after"),
               ("round-1/masks.pt", 1, "mid"), ("round-1/ticket/metrics.json", 1, "after"),
               ("round-1/ticket/weights.pt", 1, "mid"), ("round-1/record.json", 1, "after"),
               ("round-2/search/checkpoint.pt", 1, "after"),
               ("round-2/ticket/checkpoint.pt", 2, "mid"), ("result.json", 1, "mid")]


def test_kill_9_at_each_phase_boundary_resumes_to_the_same_result(golden, tmp_path, tiny):
    points = [(str(tmp_path / f"k{i}"), *point) for i, point in enumerate(KILL_POINTS)]
    data = tmp_path / "tiny.pt"  # the children train on the same tiny data as the golden run
    torch.save(tiny(), data)
    done = subprocess.run([sys.executable, "-c", KILLER, json.dumps(points), str(data), *ARGS], env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [True] * len(points), done.stderr  # each one was killed
    for out, *_ in points:
        run = lotterylib.run_directory(the_config(), out)
        assert not (run / "result.json").exists()
        lotterylib.run_lottery(the_config(), out, device="cpu", progress=False, data=tiny())
        same_run_files(golden, run)


# ------------------------------------------------------------------ 6, 7: the output path

def test_an_output_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(capsys, tmp_path / "file")
    clear_error(code, err, str(tmp_path / "file"), "choose another --out")
    code, _, err = run_cli(capsys, tmp_path / "file" / "below")
    clear_error(code, err, "not a folder")


@pytest.fixture
def tmpfs(tmp_path):
    """A tmpfs mounted at ``tmp_path/mnt`` (``mount(size, ro)``), unmounted at the end; skipped where not allowed."""
    point = tmp_path / "mnt"
    point.mkdir()
    mounted = []

    def mount(options: str) -> Path:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not allowed here ({done.stderr.decode().strip() or done.returncode})")
        mounted.append(point)
        return point

    yield mount
    for p in mounted:
        subprocess.run(["umount", str(p)], check=False)


def test_a_read_only_output_is_a_clear_error_and_leaves_nothing(golden, tmp_path, tmpfs, capsys):
    ro = tmpfs("ro,size=256k")
    code, _, err = run_cli(capsys, ro)
    clear_error(code, err, str(ro), "read-only", "choose a writable --out")
    run = copy_of(golden, tmp_path)
    code, _, err = lottery(capsys, "extend", run, "--rounds", "3", "--out", ro)
    clear_error(code, err, "read-only")
    code, _, err = lottery(capsys, "extend", run, "--rounds", "3", "--out", run / "result.json")
    clear_error(code, err, "not a folder")


def test_a_full_disk_is_a_clear_error_and_the_run_resumes_after(golden, tmp_path, tmpfs, capsys):
    """Issue case 7: a 1.5 MB tmpfs as --out fills up during the run."""
    full = tmpfs("size=1536k")
    code, _, err = run_cli(capsys, full)
    clear_error(code, err, str(full), "No space left on device", "the disk is full")
    subprocess.run(["mount", "-o", "remount,size=16m", str(full)], check=True)
    code, _, err = run_cli(capsys, full)
    assert code == 0, err
    same_run_files(golden, lotterylib.run_directory(the_config(), full))


# ------------------------------------------------------------------ 4, 8, 9, 10 and the small cases: bad input

@pytest.mark.parametrize("override", ["lr=1e6", "lr=inf", "weight_decay=inf"])
def test_divergence_is_a_clear_error_with_what_to_try(tmp_path, capsys, override):
    code, _, err = run_cli(capsys, tmp_path / "out", override)
    assert code == 2 and err.startswith("lottery: error:") and ("smaller lr" in err or "finite" in err), err


def _lam_must_be_finite() -> bool:
    from concave_lottery.errors import ParameterError
    from concave_lottery.runs.config import RunConfig

    try:
        RunConfig(lam=float("inf")).validate()
    except ParameterError:
        return True
    return False


@pytest.mark.skipif(not _lam_must_be_finite(), reason="RunConfig.validate does not check that floats are finite yet "
                    "(issue 20's part of issue 21, in runs/config.py)")
def test_lam_inf_is_refused(tmp_path, capsys):
    code, _, err = run_cli(capsys, tmp_path / "out", "lam=inf")
    clear_error(code, err, "lam")
    assert not (tmp_path / "out").exists()


def test_a_rewind_step_beyond_the_first_phase_is_refused_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(lotterylib, "train", lambda *a, **k: pytest.fail("training started"))
    code, _, err = run_cli(capsys, tmp_path / "out", "rewind_step=5")  # 2 epochs of 2 steps: 4 steps
    clear_error(code, err, "rewind_step=5", "at most 4")
    assert not (tmp_path / "out").exists()


def test_a_refused_subset_leaves_no_folder(tmp_path, capsys):
    code, _, err = run_cli(capsys, tmp_path / "out", "train_subset=100000")
    assert code == 2 and err.startswith("lottery: error:")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["folder", "not-utf8", "unknown-key", "out-not-a-string"])
def test_bad_sweep_specs_are_clear_errors(tmp_path, capsys, case):
    spec = tmp_path / "spec.toml"
    grid = '[[grid]]\npreset = "lenet300-mnist"\nepochs = 1\n'
    if case == "folder":
        spec.mkdir()
    elif case == "not-utf8":
        spec.write_bytes(grid.encode() + b"# \xff\xfe\n")
    elif case == "unknown-key":
        spec.write_text('epochs = 1\n' + grid)
    else:
        spec.write_text('out = 5\n' + grid)
    code, _, err = lottery(capsys, "sweep", spec, "--dry-run")
    needle = {"folder": "folder", "not-utf8": "UTF-8", "unknown-key": "unknown: epochs", "out-not-a-string": "out=5"}
    clear_error(code, err, needle[case])


# ------------------------------------------------------------------ the committed results

def test_every_committed_run_verifies_against_its_digests(repo_root):
    """``lottery migrate-digests results`` gave the committed runs their digests, trusting the files as they
    were: every file of every committed run still matches (their numbers are the recorded ones; that they
    still reproduce is tests/runs/test_reproducibility.py)."""
    from concave_lottery.runs.results import check_finished_run, load_result

    root = repo_root
    listed = subprocess.run(["git", "ls-files", "results/*result.json"], cwd=root, capture_output=True, text=True)
    if listed.returncode != 0 or not listed.stdout.strip():
        pytest.skip("not a git checkout with committed results")
    runs = [root / Path(line).parent for line in listed.stdout.split()]
    for run in runs:
        check_finished_run(run)
        assert load_result(run)["rounds"]
    assert len(runs) >= 70
