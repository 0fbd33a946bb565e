"""Sweeps: spec expansion, skipping finished runs, resuming, and the executor interface."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from concave_lottery.cli import main
from concave_lottery.errors import ParameterError
from concave_lottery.runs.sweep import (
    LocalExecutor,
    RunTask,
    SerialExecutor,
    TaskOutcome,
    load_spec,
    longest_first,
    run_sweep,
    select_tasks,
    tasks_from_tables,
)

SPEC = """
out = "{out}"

[[grid]]
preset = "lenet300-mnist"
method = "soft"
regularizer = ["l1", "log"]
seed = [0, 1]
epochs = 1

[[grid]]
preset = "lenet300-mnist"
method = "imp"
seed = [0, 1]
milestones = [1, 2]
"""


def write_spec(tmp_path, text=SPEC):
    path = tmp_path / "spec.toml"
    path.write_text(text.format(out=tmp_path / "results"))
    return path


def test_spec_expands_to_the_cartesian_product(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    assert len(spec.tasks) == 6
    configs = [t.config for t in spec.tasks]
    assert {(c.method, c.regularizer, c.seed) for c in configs if c.method == "soft"} == \
        {("soft", r, s) for r in ("l1", "log") for s in (0, 1)}
    assert all(c.milestones == (1, 2) for c in configs if c.method == "imp")
    assert len({t.run_dir for t in spec.tasks}) == 6


def test_only_selects_runs_by_folder_name_in_spec_order_and_refuses_a_stranger(tmp_path):
    tasks = load_spec(write_spec(tmp_path)).tasks
    names = [t.run_dir.name for t in tasks]
    picked = select_tasks(tasks, f"{names[3]}, lenet300-mnist/{names[1]}")
    assert [t.run_dir.name for t in picked] == [names[1], names[3]]
    listed = tmp_path / "todo.txt"
    listed.write_text(f"# the unfinished runs\n{names[5]}\n\n{names[0]}  # started\n")
    assert [t.run_dir.name for t in select_tasks(tasks, f"@{listed}")] == [names[0], names[5]]
    listed.write_text("")
    assert select_tasks(tasks, f"@{listed}") == []
    with pytest.raises(ParameterError, match=r"only='soft-l1-lam9-seed7-00000000' is not allowed: only names runs of "
                                             r"the spec \(6: "):
        select_tasks(tasks, f"{names[0]},soft-l1-lam9-seed7-00000000")
    with pytest.raises(ParameterError, match="could not be read"):
        select_tasks(tasks, f"@{tmp_path / 'missing.txt'}")
    with pytest.raises(ParameterError, match="separated by commas"):
        select_tasks(tasks, " , ")


def test_duplicate_points_are_run_once(tmp_path):
    tables = [{"preset": "lenet300-mnist", "seed": [0, 0, 1]}]
    assert len(tasks_from_tables(tables, str(tmp_path))) == 2


@pytest.mark.parametrize("text, name", [
    ("[[grid]]\nmethod = 'soft'\n", "preset"),
    ("[[grid]]\npreset = 'lenet300-mnist'\nalpha = [0.5, 2.0]\n", "alpha"),
    ("[[grid]]\npreset = 'lenet300-mnist'\ncolour = 'red'\n", "key"),
    ("out = 'x'\n", "spec"),
    ("[[grid\n", "spec"),
])
def test_bad_specs_are_user_errors(tmp_path, text, name):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ParameterError, match=f"{name}="):
        load_spec(path)


def fake_run(task: RunTask) -> TaskOutcome:
    """A stand-in runner: writes result.json as a finished run would (picklable: module level)."""
    import json

    task.run_dir.mkdir(parents=True, exist_ok=True)
    (task.run_dir / "result.json").write_text(json.dumps({"config": {}, "rounds": [], "provenance": {}}))
    return TaskOutcome(task, True, str(task.run_dir / "result.json"), 0.0)


def test_finished_runs_are_skipped(tmp_path):
    tasks = load_spec(write_spec(tmp_path)).tasks
    calls = []

    def counting(task):
        calls.append(task)
        return fake_run(task)

    first = run_sweep(tasks[:2], SerialExecutor(), fn=counting, progress=False)
    assert len(calls) == 2 and all(o.ok and not o.skipped for o in first)
    second = run_sweep(tasks, SerialExecutor(), fn=counting, progress=False)
    assert len(calls) == 6
    assert sum(o.skipped for o in second) == 2 and len(second) == 6


def test_runs_at_once_start_longest_first_and_one_at_a_time_keeps_spec_order(tmp_path):
    tables = [{"preset": "lenet300-mnist", "method": "soft", "rounds": 1, "epochs": 2},   # 2 phases x 2 = 4 epochs
              {"preset": "lenet300-mnist", "method": "imp", "rounds": 2, "epochs": 2},    # levels 0-2: 6
              {"preset": "lenet300-mnist", "method": "soft", "rounds": 3, "epochs": 1},   # 3 x 2 x 1 = 6
              {"preset": "lenet300-mnist", "method": "soft", "rounds": 2, "epochs": 3}]   # 12, 6 of them done
    tasks = tasks_from_tables(tables, str(tmp_path / "results"))
    started = tasks[3].run_dir / "round-1"
    started.mkdir(parents=True)
    (started / "record.json").write_text("{}")  # round 1 recorded: its search and ticket, 6 epochs
    assert longest_first(tasks) == [tasks[1], tasks[2], tasks[3], tasks[0]]  # 6, 6 (spec order), 6 left, 4

    class Recording:  # an executor (runs at once) that records the order it is given
        def __init__(self):
            self.order = []

        def map(self, fn, todo):
            self.order = list(todo)
            return iter([])

    at_once = Recording()
    run_sweep(tasks, at_once, progress=False)
    assert at_once.order == longest_first(tasks)
    one_worker = Recording()
    one_worker.workers = 1  # a pool of one (``--workers 1``) trains one at a time: spec order
    run_sweep(tasks, one_worker, progress=False)
    assert one_worker.order == tasks
    calls = []
    run_sweep(tasks, SerialExecutor(), fn=lambda t: calls.append(t) or fake_run(t), progress=False)
    assert calls == tasks


def test_local_executor_runs_tasks_in_worker_processes(tmp_path):
    tasks = load_spec(write_spec(tmp_path)).tasks
    outcomes = run_sweep(tasks, LocalExecutor(workers=2, threads_per_worker=1), fn=fake_run, progress=False)
    assert len(outcomes) == 6 and all(o.ok for o in outcomes)
    assert all(t.finished for t in tasks)
    with pytest.raises(ParameterError, match="workers="):
        LocalExecutor(workers=0)


def test_a_failing_run_is_reported_not_raised(tmp_path, monkeypatch):
    from concave_lottery.runs import sweep

    task = load_spec(write_spec(tmp_path)).tasks[0]

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("concave_lottery.runs.lottery.run_lottery", broken)
    outcome = sweep.run_task(task)
    assert not outcome.ok and "disk on fire" in outcome.error


def test_sweep_command_runs_resumes_and_skips(tmp_path, monkeypatch, capsys, tiny_images):
    """End to end on a tiny synthetic dataset: an interrupted sweep resumes and skips finished runs."""
    from concave_lottery.runs import lottery

    real = lottery.load_data
    monkeypatch.setattr(lottery, "load_data", lambda config, device, progress=None, base=None:
                        real(config, device, progress, tiny_images()))
    spec = write_spec(tmp_path, """
out = "{out}"
[[grid]]
preset = "lenet300-mnist"
method = ["soft", "imp"]
epochs = 1
rounds = 1
batch_size = 64
""")
    runs = {"n": 0}
    real_run = lottery.LotteryRun.run

    def die_on_second(self):
        runs["n"] += 1
        if runs["n"] == 2:
            raise KeyboardInterrupt
        return real_run(self)

    monkeypatch.setattr(lottery.LotteryRun, "run", die_on_second)
    assert main(["sweep", str(spec)]) == 130
    monkeypatch.setattr(lottery.LotteryRun, "run", real_run)
    assert main(["sweep", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "skipped (finished)" in out and "2 runs: 2 ok, 0 failed" in out
    assert main(["sweep", str(spec), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("done ") == 2 and "2 runs, 2 finished; 0 of " in out and " epochs of training left" in out


SLOW_SWEEP = '''
import os, sys, time
from pathlib import Path
from concave_lottery.runs.sweep import LocalExecutor, RunTask, run_sweep, stop_on_sigterm

def slow(task):
    Path(sys.argv[1], f"{os.getpid()}.pid").write_text("")
    time.sleep(120)

if __name__ == "__main__":
    stop_on_sigterm()
    tasks = [RunTask("lenet300-mnist", (("seed", s),), sys.argv[1]) for s in range(4)]
    run_sweep(tasks, LocalExecutor(workers=2, threads_per_worker=1), fn=slow, progress=False)
'''


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT], ids=["term", "kill", "int"])
def test_a_stopped_sweep_leaves_no_worker_running(tmp_path, sig):
    script = tmp_path / "slow_sweep.py"
    script.write_text(SLOW_SWEEP)
    # a shell without job control starts background jobs with SIGINT ignored, and a Python started
    # that way never raises KeyboardInterrupt: give the sweep Ctrl-C's default, as in a terminal
    sweep = subprocess.Popen([sys.executable, str(script), str(tmp_path)], cwd=tmp_path,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("*.pid"))) < 2:
        assert time.monotonic() < deadline, "the workers did not start"
        assert sweep.poll() is None, "the sweep ended early"
        time.sleep(0.2)
    workers = [int(p.stem) for p in tmp_path.glob("*.pid")]
    assert all(_alive(pid) for pid in workers)
    sweep.send_signal(sig)
    sweep.wait(timeout=30)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), f"workers still running after {sig.name}"
    assert len(list(tmp_path.glob("*.pid"))) == 2  # the two queued tasks never started
