"""Sweeps through submitit (issue 19): ``lottery sweep --executor submitit-local`` runs the cluster code path on
this machine (submitit's LocalExecutor really spawns a job process per task), a pre-empted task is requeued and
ends with the same result as an uninterrupted run, ``--detach`` leaves the jobs running and a later sweep waits
for them, and bad SLURM options are clear errors. SLURM itself is not here: the ``--slurm-*`` options are
checked against the ``#SBATCH`` lines submitit writes for them.

The runs are LeNet-300-100 on 512 MNIST images (the job processes load them themselves, from the offline mirror
or the data root), 2 rounds of 2 epochs, one thread each.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from conftest import NEEDS_MNIST

from concave_lottery.cli import main
from concave_lottery.errors import ParameterError, UserError
from concave_lottery.runs.executors import Ledger, SlurmOptions, SubmititLocalExecutor, make_executor, run_key
from concave_lottery.runs.sweep import load_spec, run_sweep

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"

SPEC = """
out = "{out}"
[[grid]]
preset = "lenet300-mnist"
method = {methods}
rounds = 2
epochs = 2
train_subset = 512
test_subset = 256
batch_size = 64
"""


def write_spec(folder: Path, methods: str = '["soft", "imp"]') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.toml"
    path.write_text(SPEC.format(out=folder / "results", methods=methods))
    return path


def numbers(result_path: str | Path) -> dict:
    """A result.json without its wall times and provenance: the numbers a run records."""
    result = json.loads(Path(result_path).read_text())
    result.pop("provenance")
    for record in result["rounds"]:
        for key in [k for k in record if "seconds" in k]:
            record.pop(key)
    return result


def lottery(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture
def job_environment(monkeypatch):
    """The job processes import this library (and this test module, for the pre-empting runner) as pytest does."""
    paths = [str(SRC), str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]  # (tests/: conftest)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


# ------------------------------------------------------------------------------------ SLURM options


def test_slurm_options_become_the_sbatch_lines_of_one_array_job(tmp_path):
    from submitit.slurm.slurm import _make_sbatch_string

    options = SlurmOptions(partition="gpu", time=240, gpus_per_task=1, cpus_per_task=8, array_parallelism=4)
    params = options.parameters("lottery-paper")
    text = _make_sbatch_string(command="python -m submitit.core._submit x", folder=tmp_path / "%j", map_count=27,
                               **params)
    lines = set(text.splitlines())
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=240", "#SBATCH --gpus-per-task=1",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --array=0-26%4", "#SBATCH --nodes=1",
                 "#SBATCH --ntasks-per-node=1", "#SBATCH --job-name=lottery-paper"):
        assert line in lines, (line, text)
    assert any(line.startswith("#SBATCH --signal=USR2@") for line in lines)  # the requeue signal, before the limit
    # options left out are the cluster's defaults: no line for them
    bare = SlurmOptions(time=30).parameters()
    assert "partition" not in bare and "gpus_per_task" not in bare and bare["time"] == 30


@pytest.mark.parametrize("argv, option", [
    (["--executor", "slurm", "--slurm-time", "-5"], "--slurm-time"),
    (["--executor", "slurm", "--slurm-time", "0"], "--slurm-time"),
    (["--executor", "slurm", "--slurm-time", "60", "--slurm-gpus-per-task", "-1"], "--slurm-gpus-per-task"),
    (["--executor", "slurm", "--slurm-time", "60", "--slurm-array-parallelism", "0"], "--slurm-array-parallelism"),
    (["--executor", "slurm", "--slurm-time", "60", "--slurm-partition", "a b"], "--slurm-partition"),
    (["--executor", "slurm"], "--slurm-time"),
    (["--slurm-gpus-per-task", "1"], "--slurm-gpus-per-task"),
    (["--executor", "submitit-local", "--slurm-partition", "gpu"], "--slurm-partition"),
    (["--executor", "kubernetes"], "executor"),
    (["--detach"], "--detach"),
    (["--executor", "slurm", "--slurm-time", "60", "--workers", "4"], "--workers"),
    (["--executor", "submitit-local", "--workers", "0"], "workers"),
], ids=["negative-time", "zero-time", "negative-gpus", "zero-parallelism", "partition-with-space", "no-time",
        "gpus-without-slurm", "slurm-option-on-submitit-local", "unknown-executor", "detach-local",
        "workers-on-slurm", "zero-workers"])
def test_bad_executor_options_are_one_clear_paragraph(tmp_path, capsys, argv, option):
    spec = write_spec(tmp_path)
    code, out, err = lottery(capsys, "sweep", spec, *argv)
    assert code == 2, err
    assert err.startswith("lottery: error: ") and f"{option}=" in err, err
    assert "\n\n" not in err and not (tmp_path / "results").exists()  # nothing was submitted or created


def test_slurm_where_sbatch_is_absent_says_where_to_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))
    code, _, err = lottery(capsys, "sweep", write_spec(tmp_path), "--executor", "slurm", "--slurm-time", "60")
    assert code == 2
    assert "sbatch" in err and "login node" in err and "submitit-local" in err


def test_slurm_refuses_precision_auto_which_only_the_node_can_decide(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"  # sbatch and srun that would fail if called: the check comes before any submission
    bin_dir.mkdir()
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    executor = make_executor("slurm", slurm=SlurmOptions(time=60))
    task = load_spec(write_spec(tmp_path, '"soft"\nprecision = "auto"')).tasks[0]
    with pytest.raises(ParameterError, match="precision='auto'"):
        executor.submit(lambda t: None, [task])


def test_submitit_takes_the_slurm_parameters(tmp_path, monkeypatch):
    """submitit's own SlurmExecutor accepts the parameters (it refuses unknown ones) and requeues a task after its
    time limit up to --slurm-max-timeouts times (default 10)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    (bin_dir / "sbatch").write_bytes((bin_dir / "srun").read_bytes())
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    options = SlurmOptions(partition="gpu", time=90, gpus_per_task=1, cpus_per_task=4, array_parallelism=2)
    executor = make_executor("slurm", slurm=options, job_name="lottery-x")
    slurm = executor._executor(tmp_path / "%j")
    assert slurm.max_num_timeout == 10
    assert {k: slurm.parameters[k] for k in options.parameters("lottery-x")} == options.parameters("lottery-x")
    assert make_executor("slurm", slurm=SlurmOptions(time=5, max_timeouts=0))._executor(tmp_path).max_num_timeout == 0


def test_submitit_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # `import submitit` raises ImportError
    with pytest.raises(UserError, match=r"concave-lottery\[cluster\]"):
        make_executor("submitit-local")


# ------------------------------------------------------------------------------------ submitit-local


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A two-run sweep through ``lottery sweep --executor submitit-local`` (the runs of the tests below compare
    with its soft run): (spec, exit status, stdout, stderr)."""
    folder = tmp_path_factory.mktemp("reference")
    spec = write_spec(folder)
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTHONPATH", os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    try:
        from io import StringIO

        out, err = StringIO(), StringIO()
        mp.setattr(sys, "stdout", out)
        mp.setattr(sys, "stderr", err)
        code = main(["sweep", str(spec), "--executor", "submitit-local", "--workers", "2", "--threads", "1"])
    finally:
        mp.undo()
    return spec, code, out.getvalue(), err.getvalue()


@pytest.mark.mirror
@NEEDS_MNIST
def test_a_submitit_local_sweep_runs_every_task_in_its_own_job(reference, capsys):
    spec, code, out, err = reference
    assert code == 0, err
    assert "2 runs: 2 ok, 0 failed" in out
    tasks = load_spec(spec).tasks
    assert all(t.finished for t in tasks)
    ledger = Ledger(tasks[0].out).read()
    job_ids = {ledger[run_key(t)]["job_id"] for t in tasks}
    assert len(job_ids) == 2  # one job (process) per task
    for task in tasks:  # each task's state was reported as it changed, and its job kept a log
        job = ledger[run_key(task)]["job_id"]
        assert f"submitted submitit-local job {job}  {task.label()}" in err
        assert f"done     submitit-local job {job}  {task.label()}" in err
        assert "Job completed successfully" in (Path(tasks[0].out) / ".submitit" / job / f"{job}_0_log.out").read_text()
    code, out, _ = lottery(capsys, "sweep", spec, "--dry-run")
    assert code == 0 and out.count("done ") == 2
    code, out, _ = lottery(capsys, "sweep", spec, "--executor", "submitit-local")  # finished: nothing submitted
    assert code == 0 and out.count("skipped (finished)") == 2 and Ledger(tasks[0].out).read() == ledger


def preempted_once(task):
    """The sweep's runner, pre-empted once, as SLURM pre-empts a job: SIGUSR2 to the job's process, here right
    after the run has saved its first epoch checkpoint. Every checkpoint saved is logged (process, file, epochs
    in it), so the test can see that the requeued job went on from that checkpoint."""
    from concave_lottery.runs import lottery as lotterylib
    from concave_lottery.runs.sweep import run_task

    log, marker = Path(task.out) / "checkpoints.log", Path(task.out) / "preempted"
    real_save = lotterylib._DigestedCheckpoints.save

    def save(self, obj, path):
        real_save(self, obj, path)
        with log.open("a") as handle:
            handle.write(f"{os.getpid()} {Path(path).relative_to(task.out)} {len(obj['history'])}\n")
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGUSR2)  # submitit's handler checkpoints, requeues and exits here

    lotterylib._DigestedCheckpoints.save = save
    return run_task(task)


@pytest.mark.mirror
@NEEDS_MNIST
def test_a_preempted_task_is_requeued_and_ends_with_the_same_result(reference, tmp_path, job_environment):
    spec, code, _, _ = reference
    assert code == 0
    soft = next(t for t in load_spec(spec).tasks if t.config.method == "soft")
    task = load_spec(write_spec(tmp_path, '"soft"')).tasks[0]
    executor = SubmititLocalExecutor(workers=1, threads=1)
    executor.report = lambda line: None
    [outcome] = run_sweep([task], executor, fn=preempted_once, progress=False)
    assert outcome.ok, outcome.error

    root = Path(task.out)
    job = Ledger(root).read()[run_key(task)]["job_id"]
    log = (root / ".submitit" / job / f"{job}_0_log.out").read_text()
    err = (root / ".submitit" / job / f"{job}_0_log.err").read_text()
    assert "Caught signal SIGUSR2" in err and "this job is preempted" in err, err
    assert "resumes from its last epoch checkpoint" in err, err
    assert "Requeued job" in log and "Job completed successfully" in log, log
    saves = [line.split() for line in (root / "checkpoints.log").read_text().splitlines()]
    first, second = saves[0][0], saves[-1][0]
    assert first == (root / "preempted").read_text() and second != first  # the requeued job is a new process
    # nothing trained twice: each epoch checkpoint of each phase was saved once, by one of the two processes
    assert len({(path, epochs) for _, path, epochs in saves}) == len(saves)
    assert sum(pid == first for pid, _, _ in saves) == 1
    # nothing lost: the same numbers as the uninterrupted run of the reference sweep
    assert numbers(outcome.result_path) == numbers(soft.run_dir / "result.json")


@pytest.mark.mirror
@NEEDS_MNIST
def test_detach_leaves_the_job_running_and_a_later_sweep_waits_for_it(tmp_path, capsys, job_environment):
    spec = write_spec(tmp_path, '"imp"')
    code, out, _ = lottery(capsys, "sweep", spec, "--executor", "submitit-local", "--threads", "1", "--detach")
    assert code == 0
    task = load_spec(spec).tasks[0]
    job = Ledger(task.out).read()[run_key(task)]["job_id"]
    assert f"submitit-local job {job}  {task.label()}" in out and str(Path(task.out).absolute() / ".submitit") in out
    code, out, _ = lottery(capsys, "sweep", spec, "--dry-run")
    assert code == 0 and (f"(submitit-local job {job}: running)" in out or out.startswith("done "))
    code, out, _ = lottery(capsys, "sweep", spec, "--executor", "submitit-local", "--threads", "1")
    assert code == 0 and "1 runs: 1 ok, 0 failed" in out
    assert task.finished and Ledger(task.out).read()[run_key(task)]["job_id"] == job  # waited, not submitted again


@pytest.mark.parametrize("sacct, state", [("PENDING", "pending"), ("REQUEUED", "pending"), ("RUNNING", "running"),
                                          ("COMPLETED", "done"), ("TIMEOUT", "failed"), ("OUT_OF_MEMORY", "failed"),
                                          ("CANCELLED by 1234", "failed")])
def test_a_slurm_job_state_is_a_task_state(tmp_path, sacct, state):
    from types import SimpleNamespace

    from concave_lottery.runs.executors import SlurmExecutor

    job = SimpleNamespace(state=sacct, paths=SimpleNamespace(result_pickle=tmp_path / "1234_0_result.pkl"))
    assert SlurmExecutor._state(job) == state
    job.paths.result_pickle.write_bytes(b"")  # its result is there: done, whatever sacct says yet
    assert SlurmExecutor._state(job) == "done"


def test_runs_with_jobs_in_flight_are_shown_and_not_trained_by_another_executor(tmp_path, capsys):
    spec = write_spec(tmp_path, '"imp"')
    task = load_spec(spec).tasks[0]
    job = str(os.getpid())  # a live process stands for the controller of a submitit-local job still training
    Ledger(task.out).record({run_key(task): {"engine": "submitit-local", "job_id": job,
                                             "folder": str(Path(task.out).absolute() / ".submitit" / "%j")}})
    code, out, _ = lottery(capsys, "sweep", spec, "--dry-run")
    assert code == 0 and f"todo  {task.run_dir}  (submitit-local job {job}: running)" in out
    code, _, err = lottery(capsys, "sweep", spec)  # --executor local would train it a second time
    err = " ".join(err.split())  # the paragraph as one line
    assert code == 2 and "submitit-local jobs in flight" in err and f"job {job}, running" in err
    assert "--executor submitit-local" in err and not task.run_dir.exists()


def test_the_sweep_command_line_imports_submitit_only_for_a_submitit_executor(tmp_path):
    import subprocess

    code = ("import sys\nfrom concave_lottery.cli import main\n"
            "main(['sweep', sys.argv[1], '--dry-run'])\nprint('submitit' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, str(write_spec(tmp_path))], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"
