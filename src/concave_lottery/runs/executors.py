"""Executors: where the runs of a sweep train, and how many at once. One class per engine (``EXECUTORS``).

An executor has one method, ``map(fn, tasks)``: it calls the runner ``fn`` (:func:`~concave_lottery.runs.sweep.
run_task`, one picklable :class:`~concave_lottery.runs.sweep.RunTask` in, one ``TaskOutcome`` out) on every task
and yields the outcomes in completion order. The runner knows nothing about scheduling and the executors know
nothing about training, so another engine is one more class here.

=================== ====================================================================================
``local``           this machine: one run after another (:class:`SerialExecutor`), or ``--workers N``
                    processes at once, each pinned to its share of the CPU threads (:class:`LocalExecutor`)
``submitit-local``  this machine through submitit's ``LocalExecutor`` (:class:`SubmititLocalExecutor`): the
                    cluster code path (pickled tasks, job folders, requeueing) without a cluster
``slurm``           one SLURM array job per sweep through submitit (:class:`SlurmExecutor`)
=================== ====================================================================================

The submitit executors submit each task as a :class:`~concave_lottery.runs.requeue.RequeueableTask`: when SLURM
pre-empts it or its time limit comes, submitit requeues it and it resumes from its run's last epoch checkpoint.
The results folder (on a filesystem every node sees) is the only state the jobs share; the run lock
(:mod:`concave_lottery.runs.lock`, ``flock``) keeps two jobs off one run, across nodes where the filesystem
supports ``flock`` (NFSv4, Lustre mounted with ``flock``, GPFS, BeeGFS).

Submitit's job folders (pickled tasks, results, each job's stdout and stderr) go to ``<results root>/.submitit/``,
and ``<results root>/.submitit/jobs.json`` records which job trains which run. So a sweep can be left
(``--detach``, or Ctrl-C while waiting on SLURM) and a later ``lottery sweep SPEC`` waits on the jobs still in
flight instead of submitting them again, and ``lottery sweep SPEC --dry-run`` shows each run's job and state.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, fields
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..errors import ParameterError, UserError, unknown_name

if TYPE_CHECKING:
    from .sweep import RunTask, TaskOutcome

Runner = Callable[["RunTask"], "TaskOutcome"]

#: Submitit's folder under the results root (git-ignored): job pickles, results and logs, and the job ledger.
SUBMITIT_DIR = ".submitit"
LEDGER_FILE = "jobs.json"
#: How a task's job stands: waiting to start (or requeued), training, finished well, or not.
STATES = ("pending", "running", "done", "failed")


class Executor(Protocol):
    """Where tasks run. ``map`` yields one outcome per task, in completion order."""

    def map(self, fn: Runner, tasks: Sequence[RunTask]) -> Iterator[TaskOutcome]: ...


# ------------------------------------------------------------------------------------ this machine


class SerialExecutor:
    """Run tasks one after another in this process."""

    def map(self, fn: Runner, tasks: Sequence[RunTask]) -> Iterator[TaskOutcome]:
        for task in tasks:
            yield fn(task)


def pin_threads(threads: int) -> None:
    """Give this process ``threads`` CPU threads (OpenMP, MKL and torch's intra-op pool); no progress bars."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    os.environ.setdefault("LOTTERY_PROGRESS", "0")
    import torch

    torch.set_num_threads(threads)


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """In a worker: end this process as soon as the sweep that started it is gone (even after a
    SIGKILL, which leaves it no chance to clean up), so that no orphan keeps training."""
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(1)


def _start_worker(threads: int, parent: int) -> None:
    pin_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(parent,), name="exit-with-parent", daemon=True).start()


def stop_on_sigterm() -> None:
    """Make SIGTERM (``kill``) end this process like Ctrl-C does, unwinding through ``finally``
    blocks, so that :class:`LocalExecutor` stops its workers. Call it from the main thread."""
    def stop(signum: int, frame: Any) -> None:
        print("lottery: terminated; rerun the same command to resume.", file=sys.stderr)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def _check_workers(workers: int, threads: int | None) -> None:
    if not isinstance(workers, int) or workers < 1:
        raise ParameterError("workers", workers, "workers must be an integer >= 1")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ParameterError("threads", threads, "threads must be an integer >= 1 (CPU threads per run)")


class LocalExecutor:
    """Several runs at once on this machine, in worker processes (spawned, so CUDA is safe).

    Each of the ``workers`` processes gets ``threads_per_worker`` CPU threads (default: the cores
    divided evenly); on a GPU the workers share it (several small runs fill one GPU better than one).
    """

    def __init__(self, workers: int = 1, threads_per_worker: int | None = None) -> None:
        _check_workers(workers, threads_per_worker)
        self.workers = workers
        self.threads = threads_per_worker or max(1, (os.cpu_count() or 1) // workers)

    def map(self, fn: Runner, tasks: Sequence[RunTask]) -> Iterator[TaskOutcome]:
        pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_start_worker,
                                   initargs=(self.threads, os.getpid()))
        finished = False
        try:
            pending: set[Future] = {pool.submit(fn, task) for task in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:  # interrupted (Ctrl-C, SIGTERM, the consumer stopped): stop the runs in flight too
                _terminate(pool)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (a running task cannot be cancelled;
    its run resumes from its last checkpoint next time)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)


# ------------------------------------------------------------------------------------ options


@dataclass(frozen=True)
class SlurmOptions:
    """The ``--slurm-*`` options of ``lottery sweep``, checked, and their submitit parameters."""

    partition: str | None = None
    time: int | None = None  # minutes, one task's time limit (required)
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    array_parallelism: int | None = None
    max_timeouts: int | None = None  # how often a task that reaches its time limit is requeued

    #: the command-line option of each field
    OPTIONS: ClassVar[dict[str, str]] = {
        "partition": "--slurm-partition", "time": "--slurm-time", "gpus_per_task": "--slurm-gpus-per-task",
        "cpus_per_task": "--slurm-cpus-per-task", "array_parallelism": "--slurm-array-parallelism",
        "max_timeouts": "--slurm-max-timeouts"}
    DEFAULT_MAX_TIMEOUTS: ClassVar[int] = 10

    def given(self) -> list[str]:
        """The options that were given (not left at None), as written on the command line."""
        return [self.OPTIONS[f.name] for f in fields(self) if getattr(self, f.name) is not None]

    def check(self) -> SlurmOptions:
        """Every value in range; a :class:`ParameterError` naming the option otherwise."""
        if self.time is None:
            raise ParameterError("--slurm-time", None, "--executor slurm needs a time limit per task in minutes, "
                                 "e.g. --slurm-time 240 (a task that reaches it is requeued and resumes from its "
                                 "last epoch checkpoint)")
        for name, low, what in (("time", 1, "minutes, an integer >= 1"),
                                ("gpus_per_task", 0, "an integer >= 0"),
                                ("cpus_per_task", 1, "an integer >= 1"),
                                ("array_parallelism", 1, "an integer >= 1 (array tasks running at once)"),
                                ("max_timeouts", 0, "an integer >= 0 (requeues after reaching the time limit)")):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise ParameterError(self.OPTIONS[name], value, f"{self.OPTIONS[name]} must be {what}")
        if self.partition is not None and (not self.partition.strip() or any(c.isspace() for c in self.partition)):
            raise ParameterError("--slurm-partition", self.partition,
                                 "--slurm-partition must name one SLURM partition (no spaces), e.g. gpu")
        return self

    def parameters(self, job_name: str = "lottery") -> dict[str, Any]:
        """The parameters of submitit's ``SlurmExecutor`` (the ``#SBATCH`` lines it writes): one process per
        array task on one node, the partition, time limit, GPUs and CPUs per task, and the array's
        parallelism; unset options are left to the cluster's defaults (``array_parallelism``: submitit's)."""
        self.check()
        params: dict[str, Any] = {"job_name": job_name, "time": self.time, "nodes": 1, "ntasks_per_node": 1}
        for name in ("partition", "gpus_per_task", "cpus_per_task", "array_parallelism"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        return params


def make_executor(name: str, *, workers: int = 1, threads: int | None = None, detach: bool = False,
                  slurm: SlurmOptions | None = None, job_name: str = "lottery") -> Executor:
    """The executor ``name`` (a key of ``EXECUTORS``) for these options; options that do not apply to it, or
    an engine that cannot run here, are a :class:`UserError` naming the option and what to do."""
    if name not in EXECUTORS:
        raise unknown_name("executor", name, EXECUTORS)
    slurm = slurm or SlurmOptions()
    if name != "slurm" and slurm.given():
        option = slurm.given()[0]
        raise ParameterError(option, getattr(slurm, _field_of(option)),
                             f"{option} applies only to --executor slurm (this sweep uses --executor {name})")
    _check_workers(workers, threads)
    if detach and name == "local":
        raise ParameterError("--detach", True, "--detach needs an executor that keeps running without this "
                             "command: --executor slurm (or submitit-local)")
    if name == "local":
        return SerialExecutor() if workers == 1 and threads is None else LocalExecutor(workers, threads)
    if name == "submitit-local":
        return SubmititLocalExecutor(workers=workers, threads=threads, detach=detach)
    if workers != 1 or threads is not None:
        option = "--workers" if workers != 1 else "--threads"
        raise ParameterError(option, workers if workers != 1 else threads,
                             f"{option} applies to this machine; on SLURM use --slurm-array-parallelism (array "
                             f"tasks at once) and --slurm-cpus-per-task (threads per run)")
    return SlurmExecutor(slurm.check(), detach=detach, job_name=job_name)


def _field_of(option: str) -> str:
    return {v: k for k, v in SlurmOptions.OPTIONS.items()}[option]


def _need_submitit(engine: str) -> None:
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise UserError(f"--executor {engine} needs submitit, which is not installed here: pip install "
                        f"'concave-lottery[cluster]' (or pip install submitit).") from None


# ------------------------------------------------------------------------------------ the job ledger


class Ledger:
    """``<root>/.submitit/jobs.json``: for each run (``preset/run name``), the engine, job id and submitit
    folder of the last job submitted for it. Updated under an ``flock``, so two sweeps can share a root."""

    def __init__(self, root: str | Path) -> None:
        self.dir = Path(root) / SUBMITIT_DIR
        self.path = self.dir / LEDGER_FILE

    def read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise UserError(f"{self.path} cannot be read ({exc}); it only records which job trains which run: "
                            f"delete it (runs in flight are then submitted again, and the run lock keeps "
                            f"each run to one job).") from None
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "jobs.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def record(self, entries: dict[str, dict[str, str]]) -> None:
        with self._locked():
            data = self.read()
            data.update(entries)
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            os.replace(tmp, self.path)


def run_key(task: RunTask) -> str:
    """A task's name in the ledger: its run folder under the results root."""
    return str(task.run_dir.relative_to(task.out)) if task.run_dir.is_relative_to(task.out) else str(task.run_dir)


# ------------------------------------------------------------------------------------ submitit


@dataclass
class Submitted:
    """One task and the submitit job that trains it."""

    task: RunTask
    job: Any  # submitit.Job
    engine: str
    state: str = "pending"


class SubmititExecutor:
    """The engine-independent part of the submitit executors: submit the tasks (or find their jobs still in
    flight in the ledger), wait with one line per change of a task's state, or detach.

    An engine sets ``name``, ``poll_s``, ``max_active`` (tasks submitted at once; SLURM: all, as one array)
    and implements ``_executor(folder)`` (a configured submitit executor), ``_job(folder, job_id)`` (a job
    from the ledger) and ``_state(job)`` (its state, one of ``STATES``)."""

    name: ClassVar[str] = ""
    poll_s: ClassVar[float] = 2.0
    #: a summary line at least this often while waiting, even when no state changed
    summary_s: ClassVar[float] = 600.0
    cancel_on_interrupt: ClassVar[bool] = False

    def __init__(self, *, threads: int | None = None, detach: bool = False, max_active: int | None = None) -> None:
        _need_submitit(self.name)
        self.threads = threads
        self.detach = detach
        self.max_active = max_active
        self.report: Callable[[str], None] = _report

    # -- engine hooks
    def _executor(self, folder: Path) -> Any:
        raise NotImplementedError

    @staticmethod
    def _job(folder: str, job_id: str) -> Any:
        raise NotImplementedError

    @staticmethod
    def _state(job: Any) -> str:
        raise NotImplementedError

    # -- submitting
    def folder(self, root: str | Path) -> Path:
        """Submitit's folder pattern for this root: one folder per job (``%j``, the job id)."""
        return Path(root).absolute() / SUBMITIT_DIR / "%j"

    def in_flight(self, tasks: Sequence[RunTask]) -> dict[str, Submitted]:
        """The tasks whose last recorded job (of this engine) is still pending or running, by ledger key."""
        if not tasks:
            return {}
        ledger = Ledger(tasks[0].out).read()
        recorded = [(task, ledger.get(run_key(task))) for task in tasks]
        # every job first, then their states: SLURM's are then read with one sacct call
        jobs = [(task, self._job(entry["folder"], entry["job_id"])) for task, entry in recorded
                if entry and entry.get("engine") == self.name]
        found: dict[str, Submitted] = {}
        for task, job in jobs:
            state = self._state(job)
            if state in ("pending", "running"):
                found[run_key(task)] = Submitted(task, job, self.name, state)
        return found

    def submit(self, fn: Runner, tasks: Sequence[RunTask]) -> list[Submitted]:
        """Submit ``tasks`` (``fn(task)`` each, requeueable) as one array where the engine has arrays; record
        their jobs in the ledger."""
        from .requeue import RequeueableTask

        if not tasks:
            return []
        root = tasks[0].out
        if any(t.out != root for t in tasks):
            raise ParameterError("out", sorted({t.out for t in tasks}), "the tasks of one sweep share one results root")
        executor = self._executor(self.folder(root))
        jobs = executor.map_array(RequeueableTask(fn, self.threads), list(tasks))
        submitted = [Submitted(t, j, self.name) for t, j in zip(tasks, jobs, strict=True)]
        Ledger(root).record({run_key(s.task): {"engine": self.name, "job_id": str(s.job.job_id),
                                               "folder": str(self.folder(root))} for s in submitted})
        return submitted

    def _reattach(self, tasks: Sequence[RunTask]) -> tuple[list[Submitted], list[RunTask]]:
        """(the jobs still in flight from an earlier ``lottery sweep``, reported; the tasks without one)."""
        flying = self.in_flight(tasks)
        for s in flying.values():
            self.report(f"{s.state:<8} {s.engine} job {s.job.job_id} (submitted earlier)  {s.task.label()}")
        return list(flying.values()), [t for t in tasks if run_key(t) not in flying]

    def start(self, fn: Runner, tasks: Sequence[RunTask]) -> list[Submitted]:
        """The jobs of ``tasks``, without waiting (``--detach``): those still in flight from an earlier
        ``lottery sweep``, and the others submitted now, all at once."""
        active, queue = self._reattach(tasks)
        return active + self.submit(fn, queue)

    # -- waiting
    def _outcome(self, s: Submitted) -> TaskOutcome:
        from .sweep import TaskOutcome

        try:
            outcome = s.job.result()
        except Exception as exc:  # the job failed outside the runner: killed, cancelled, out of memory, ...
            return TaskOutcome(s.task, False, None, error=f"{s.engine} job {s.job.job_id}: {exc}\n"
                               f"(its logs: {s.job.paths.stdout} and {s.job.paths.stderr})")
        return outcome

    def map(self, fn: Runner, tasks: Sequence[RunTask]) -> Iterator[TaskOutcome]:
        """Submit the tasks (at most ``max_active`` at a time) and yield their outcomes as their jobs finish,
        reporting each change of a task's state (pending, running, done, failed)."""
        active, queue = self._reattach(tasks)
        ended = {"done": 0, "failed": 0}
        finished = False
        last_summary = time.monotonic()
        try:
            while queue or active:
                room = len(queue) if self.max_active is None else self.max_active - len(active)
                if queue and room > 0:
                    fresh = self.submit(fn, queue[:room])
                    queue = queue[room:]
                    for s in fresh:
                        self.report(f"{'submitted':<8} {s.engine} job {s.job.job_id}  {s.task.label()}")
                    active += fresh
                changed = False
                for s in list(active):
                    state = self._state(s.job)
                    if state == s.state:
                        continue
                    changed = True
                    if state in ("done", "failed"):
                        outcome = self._outcome(s)
                        s.state = "done" if outcome.ok else "failed"
                        ended[s.state] += 1
                        active.remove(s)
                        self.report(f"{s.state:<8} {s.engine} job {s.job.job_id}  {s.task.label()}")
                        yield outcome
                    else:
                        s.state = state
                        self.report(f"{state:<8} {s.engine} job {s.job.job_id}  {s.task.label()}")
                if active and (changed or time.monotonic() - last_summary >= self.summary_s):
                    counts = {k: sum(s.state == k for s in active) for k in ("pending", "running")}
                    self.report(f"sweep: {counts['pending']} pending, {counts['running']} running, "
                                f"{ended['done']} done, {ended['failed']} failed"
                                + (f", {len(queue)} not submitted yet" if queue else ""))
                    last_summary = time.monotonic()
                if not changed:
                    time.sleep(self.poll_s)
            finished = True
        finally:
            if not finished and active:
                self._interrupted(active)

    def _interrupted(self, active: list[Submitted]) -> None:
        if self.cancel_on_interrupt:
            for s in active:
                with contextlib.suppress(Exception):
                    s.job.cancel(check=False)
            self.report(f"stopped {len(active)} {self.name} job(s); rerun the same command to resume them.")
        else:
            ids = ", ".join(str(s.job.job_id) for s in active)
            self.report(f"{len(active)} {self.name} job(s) keep running ({ids}); `lottery sweep` with the same "
                        f"spec waits for them again, `--dry-run` shows their state.")


def _report(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(f"lottery: {line}", file=sys.stderr)


class SubmititLocalExecutor(SubmititExecutor):
    """submitit's ``LocalExecutor``: every task is a job in its own process on this machine, pickled,
    logged and requeued as on a cluster. ``workers`` jobs at a time (all at once with ``--detach``), each with
    ``threads`` CPU threads (default: the cores divided evenly); the GPUs this process sees are visible to every job.
    A task's job is stopped with the sweep (Ctrl-C, ``kill``), and resumes from its checkpoint next time."""

    name = "submitit-local"
    poll_s = 0.5
    cancel_on_interrupt = True
    #: a job's time limit: effectively none (submitit's local default is 2 minutes)
    TIMEOUT_MIN = 60 * 24 * 365

    def __init__(self, *, workers: int = 1, threads: int | None = None, detach: bool = False) -> None:
        _check_workers(workers, threads)
        super().__init__(threads=threads or max(1, (os.cpu_count() or 1) // workers), detach=detach,
                         max_active=None if detach else workers)

    def _executor(self, folder: Path) -> Any:
        import submitit

        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=self.TIMEOUT_MIN, **_local_gpus())
        return executor

    @staticmethod
    def _job(folder: str, job_id: str) -> Any:
        import submitit

        return submitit.LocalJob(folder, job_id)

    @staticmethod
    def _state(job: Any) -> str:
        process = getattr(job, "_process", None)
        if process is not None:
            running = process.poll() is None
        else:  # a job submitted by an earlier `lottery sweep`: its controller process, if it is still there
            running = _pid_alive(int(job.job_id))
        if running:
            return "running"
        return "done" if job.paths.result_pickle.exists() else "failed"


def _local_gpus() -> dict[str, Any]:
    """submitit's local executor sets ``CUDA_VISIBLE_DEVICES`` for its jobs: keep the GPUs this process sees."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v.strip() for v in visible.split(",") if v.strip()]
        if all(v.isdigit() for v in ids):
            return {"gpus_per_node": len(ids), "visible_gpus": tuple(int(v) for v in ids)} if ids else {}
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {"gpus_per_node": count} if count else {}


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return state not in ("Z", "X")


#: SLURM job states (``sacct``) as a task's state; any other (FAILED, CANCELLED, TIMEOUT, NODE_FAIL,
#: OUT_OF_MEMORY, DEADLINE, BOOT_FAIL, ...) is a failure.
SLURM_STATES = {"PENDING": "pending", "REQUEUED": "pending", "REQUEUE_HOLD": "pending", "REQUEUE_FED": "pending",
                "CONFIGURING": "pending", "SUSPENDED": "pending", "PREEMPTED": "pending", "RESIZING": "pending",
                "UNKNOWN": "pending", "READY": "pending", "RUNNING": "running", "COMPLETING": "running",
                "COMPLETED": "done"}


class SlurmExecutor(SubmititExecutor):
    """One SLURM array job per sweep (submitit's ``SlurmExecutor.map_array``; ``--slurm-array-parallelism``
    tasks at once), with the ``--slurm-*`` options as its ``#SBATCH`` lines (:meth:`SlurmOptions.parameters`).
    Run it on the cluster's login node, with the results root on the shared filesystem. A task that is
    pre-empted or reaches ``--slurm-time`` is requeued (up to ``--slurm-max-timeouts`` times for the time
    limit; pre-emptions do not count) and resumes from its run's last epoch checkpoint. Leaving the sweep
    (``--detach``, Ctrl-C) leaves the jobs running."""

    name = "slurm"
    poll_s = 30.0

    def __init__(self, options: SlurmOptions, *, detach: bool = False, job_name: str = "lottery") -> None:
        self.options = options.check()
        self.job_name = job_name
        missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
        if missing:
            raise UserError(f"--executor slurm submits jobs with sbatch and srun, and {' and '.join(missing)} "
                            f"{'is' if len(missing) == 1 else 'are'} not on this machine's PATH: run `lottery "
                            f"sweep` on the cluster's login node (with the results root on the shared "
                            f"filesystem), or use --executor submitit-local to run the same code path here.")
        super().__init__(detach=detach)

    def submit(self, fn: Runner, tasks: Sequence[RunTask]) -> list[Submitted]:
        for task in tasks:
            if dict(task.overrides).get("precision") == "auto":
                raise ParameterError("precision", "auto", f"{task.preset} with precision=auto is decided on the "
                                     f"node that trains it, which the login node cannot know (nor, then, the "
                                     f"run's folder): give precision = \"fp32\" or \"bf16\" in a SLURM sweep")
        return super().submit(fn, tasks)

    def _executor(self, folder: Path) -> Any:
        import submitit

        max_timeouts = self.options.max_timeouts
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=SlurmOptions.DEFAULT_MAX_TIMEOUTS
                                          if max_timeouts is None else max_timeouts)
        executor.update_parameters(**self.options.parameters(self.job_name))
        return executor

    @staticmethod
    def _job(folder: str, job_id: str) -> Any:
        import submitit

        return submitit.SlurmJob(folder, job_id)

    @staticmethod
    def _state(job: Any) -> str:
        if job.paths.result_pickle.exists():
            return "done"
        state = str(job.state).split()[0].upper() if job.state else "UNKNOWN"
        return SLURM_STATES.get(state, "failed")


#: The engines of ``lottery sweep --executor``.
EXECUTORS: dict[str, type] = {"local": LocalExecutor, "submitit-local": SubmititLocalExecutor, "slurm": SlurmExecutor}


def recorded_jobs(tasks: Sequence[RunTask]) -> dict[str, tuple[str, str, str]]:
    """The recorded job of each task that has one in the ledger, and how it stands now: by ledger key,
    (engine, job id, state), the state one of ``STATES`` or ``"unknown here (...)"``."""
    if not tasks:
        return {}
    ledger = Ledger(tasks[0].out).read()
    engines: dict[str, Any] = {"submitit-local": SubmititLocalExecutor, "slurm": SlurmExecutor}
    entries = {run_key(t): ledger[run_key(t)] for t in tasks
               if run_key(t) in ledger and ledger[run_key(t)].get("engine") in engines}
    found: dict[str, tuple[str, str, str]] = {}
    for key, entry in entries.items():
        engine = engines[entry["engine"]]
        try:
            state = engine._state(engine._job(entry["folder"], entry["job_id"]))
        except Exception as exc:  # submitit missing, ...: say so, keep listing
            state = f"unknown here ({type(exc).__name__})"
        found[key] = (entry["engine"], entry["job_id"], state)
    return found


def describe_jobs(tasks: Sequence[RunTask]) -> dict[str, str]:
    """For ``lottery sweep --dry-run``: by ledger key, ``"slurm job 1234_5: running"`` for each task with a
    recorded job."""
    return {key: f"{engine} job {job}: {state}" for key, (engine, job, state) in recorded_jobs(tasks).items()}


def refuse_jobs_of_other_engines(tasks: Sequence[RunTask], engine: str, spec: str) -> None:
    """A sweep with ``--executor engine`` must not train runs whose jobs of another engine are still pending or
    running (SLURM would train them again, or find them locked): a :class:`UserError` that names them."""
    flying = [(key, *job) for key, job in recorded_jobs(tasks).items()
              if job[0] != engine and job[2] in ("pending", "running")]
    if flying:
        key, other, job, state = flying[0]
        raise UserError(f"{len(flying)} run(s) of {spec} have {other} jobs in flight (e.g. {key}: job {job}, "
                        f"{state}): wait for them with `lottery sweep {spec} --executor {other} ...` (it submits "
                        f"nothing twice), see them with --dry-run, or cancel them first (and delete "
                        f"{Ledger(tasks[0].out).path} if it is out of date).")
