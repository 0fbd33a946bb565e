"""Sweeps: a grid of lottery runs (models x datasets x methods x λ/α x seeds) run by an executor.

A sweep spec is a TOML file with one or more ``[[grid]]`` tables. Every key of a table is a
:class:`~concave_lottery.experiments.RunConfig` field (``preset`` is required); a list value is
swept (``milestones``, itself a list, is swept by a list of lists), a scalar is fixed, and a
table expands to the cartesian product of its swept values::

    out = "results"            # optional: results root (default: results)

    [[grid]]
    preset = "lenet300-mnist"
    method = "soft"
    regularizer = ["l1", "log"]
    seed = [0, 1]

    [[grid]]
    preset = "lenet300-mnist"
    method = "imp"
    seed = [0, 1]

A spec can be another spec, changed: ``extends = "paper.toml"`` (a path relative to this file) takes that
spec's ``[[grid]]`` tables (and its ``out`` unless this one sets it; ``extends = ["a.toml", "b.toml"]`` takes
the tables of both, in turn), and ``[set]`` sets its keys in every table, replacing what the table says
(``sweeps/paper-rehearsal.toml``: the paper's spec with 1 epoch and 1 round per run)::

    extends = "paper.toml"
    out = "_build/rehearsal/results"

    [set]
    epochs = 1
    rounds = 1

The runner is separate from how runs are scheduled. :func:`run_task` runs one
:class:`RunTask` (a picklable description: config, results root, device) and returns a
:class:`TaskOutcome`; an executor (:mod:`concave_lottery.runs.executors`) only decides where and how
many tasks run at once: in this process, in worker processes on this machine, or as the tasks of a
SLURM array job through submitit (requeued after pre-emption). Nothing in the runner changes.

Finished runs are skipped before scheduling (their ``result.json`` exists); interrupted runs
resume from their checkpoints, because :class:`~concave_lottery.lottery.LotteryRun` does. Where several
runs go at once, those with the most epochs left start first (:func:`longest_first`). A sweep
that is stopped (Ctrl-C, ``kill``, even ``kill -9``) takes its worker processes with it: none keeps
training unseen, and the next ``lottery sweep`` resumes each run from its last checkpoint.
"""

from __future__ import annotations

import itertools
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm  # plain text bars: tqdm.auto warns in a notebook without ipywidgets

from ..errors import ParameterError, UserError, os_error
from .config import RunConfig, resolve_config
from .executors import Executor, LocalExecutor, SerialExecutor, stop_on_sigterm
from .results import RESULT_FILE, run_directory

__all__ = ["Executor", "LocalExecutor", "RunTask", "SerialExecutor", "SweepSpec", "TaskOutcome", "load_spec",
           "longest_first", "read_spec", "run_sweep", "run_task", "select_tasks", "stop_on_sigterm",
           "tasks_from_tables"]

#: The top-level keys of a sweep spec (anything else is a mistake, e.g. a run parameter outside [[grid]]).
SPEC_KEYS = frozenset({"out", "grid", "extends", "set"})
#: RunConfig fields whose value is itself a list.
LIST_FIELDS = frozenset({"milestones"})


@dataclass(frozen=True)
class RunTask:
    """One run of a sweep: everything a worker needs, picklable."""

    preset: str
    overrides: tuple[tuple[str, Any], ...]
    out: str
    device: str = "auto"

    @property
    def config(self) -> RunConfig:
        return resolve_config(self.preset, dict(self.overrides), device=self.device)

    @property
    def run_dir(self) -> Path:
        return run_directory(self.config, self.out)

    @property
    def finished(self) -> bool:
        return (self.run_dir / RESULT_FILE).exists()

    def label(self) -> str:
        return f"{self.config.preset}/{self.config.run_name()}"


@dataclass
class TaskOutcome:
    task: RunTask
    ok: bool
    result_path: str | None = None
    seconds: float = 0.0
    error: str | None = None
    skipped: bool = False


@dataclass
class SweepSpec:
    tasks: list[RunTask] = field(default_factory=list)
    out: str = "results"


# ------------------------------------------------------------------------------------ specs


def _is_swept(key: str, value: Any) -> bool:
    """A list sweeps, except for a list-valued field (``milestones``) given one list: that is its value;
    ``milestones = [[56, 71], [40, 60]]`` sweeps two schedules."""
    if not isinstance(value, list):
        return False
    if key in LIST_FIELDS:
        return bool(value) and all(isinstance(v, list) for v in value)
    return True


def expand_grid(table: dict[str, Any]) -> list[dict[str, Any]]:
    """The cartesian product of a grid table's swept values (scalars are fixed)."""
    keys = sorted(table)
    values = [table[k] if _is_swept(k, table[k]) else [table[k]] for k in keys]
    for k, v in zip(keys, values, strict=True):
        if not v:
            raise ParameterError(k, [], "a swept value needs at least one entry")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def _as_override(value: Any) -> Any:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value if isinstance(value, str) else str(value)


def tasks_from_tables(tables: Iterable[dict[str, Any]], out: str, device: str = "auto") -> list[RunTask]:
    """Expand grid tables to validated, de-duplicated tasks (in spec order)."""
    tasks: list[RunTask] = []
    seen: set[Path] = set()
    for table in tables:
        if "preset" not in table:
            raise ParameterError("preset", None, "every [[grid]] table needs a preset")
        for point in expand_grid(table):
            preset = str(point.pop("preset"))
            overrides = tuple(sorted((k, _as_override(v)) for k, v in point.items()))
            task = RunTask(preset, overrides, out, device)
            run_dir = task.run_dir  # validates the config
            if run_dir not in seen:
                seen.add(run_dir)
                tasks.append(task)
    return tasks


def read_spec(path: str | Path, _extending: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The checked contents of a TOML sweep spec (the one reader of spec files): its ``[[grid]]``
    tables under ``grid`` (at least one; those of the spec it ``extends``, when it does, with its ``[set]``
    keys set in each) and its optional ``out``; every problem is a :class:`ParameterError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError("spec", str(path), "the sweep spec must be an existing TOML file"
                             + (" (this is a folder)" if path.is_dir() else ""))
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParameterError("spec", str(path), f"the sweep spec must be a UTF-8 text file ({exc})") from None
    except OSError as exc:
        raise ParameterError("spec", str(path), f"the sweep spec must be readable ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError("spec", str(path), f"the sweep spec must be valid TOML ({exc})") from None
    unknown = sorted(set(data) - SPEC_KEYS)
    if unknown:
        raise ParameterError("spec", str(path), f"its top-level keys must be among {', '.join(sorted(SPEC_KEYS))} "
                             f"(unknown: {', '.join(unknown)}; a run parameter belongs in a [[grid]] table)")
    if "extends" in data:
        data = _extended(path, data, _extending)
    grids = data.get("grid")
    if not isinstance(grids, list) or not grids or not all(isinstance(g, dict) for g in grids):
        raise ParameterError("spec", str(path), "the sweep spec needs at least one [[grid]] table")
    if "out" in data and (not isinstance(data["out"], str) or not data["out"].strip()):
        raise ParameterError("out", data["out"], f"out in {path} must be a string naming the results root, "
                             f"e.g. out = \"results\"")
    sets = data.pop("set", {})
    if not isinstance(sets, dict):
        raise ParameterError("set", sets, f"set in {path} must be a table of run parameters, e.g. [set] epochs = 1")
    if sets:
        data["grid"] = [{**g, **sets} for g in grids]
    return data


def _extended(path: Path, data: dict[str, Any], extending: tuple[Path, ...]) -> dict[str, Any]:
    """``data`` (a spec with ``extends``) with the grid tables, and the ``out`` unless it has its own, of the
    spec it extends, or of the specs it extends in turn (``extends = ["a.toml", "b.toml"]``: their tables one
    after the other, a run named twice run once)."""
    bases = data.pop("extends")
    names = bases if isinstance(bases, list) else [bases]
    if not names or not all(isinstance(b, str) and b.strip() for b in names):
        raise ParameterError("extends", bases, f"extends in {path} must name another spec, e.g. \"paper.toml\", "
                             f"or a list of them")
    if "grid" in data:
        raise ParameterError("spec", str(path), "a spec that extends another takes its [[grid]] tables from it: "
                             "change them with [set], or write a spec of its own without extends")
    grids: list[dict[str, Any]] = []
    outs: dict[str, str] = {}
    for base in names:
        base_path = (path.parent / base).resolve()
        if base_path in extending or base_path == path.resolve():
            raise ParameterError("extends", base, f"{path} extends itself (through {', '.join(map(str, extending))})")
        parent = read_spec(base_path, (*extending, path.resolve()))
        grids.extend(parent["grid"])
        if "out" in parent:
            outs[base] = parent["out"]
    merged = {**data, "grid": grids}
    if "out" not in merged and outs:
        if len(set(outs.values())) > 1:
            raise ParameterError("out", None, f"{path} extends specs with different results roots "
                                 f"({', '.join(f'{b}: {o}' for b, o in outs.items())}): give out in {path}")
        merged["out"] = next(iter(outs.values()))
    return merged


def load_spec(path: str | Path, *, out: str | None = None, device: str = "auto") -> SweepSpec:
    """Read a TOML sweep spec (see the module docstring) into its tasks."""
    data = read_spec(path)
    root = out or data.get("out", "results")
    return SweepSpec(tasks_from_tables(data["grid"], str(root), device), str(root))


def select_tasks(tasks: Sequence[RunTask], only: str) -> list[RunTask]:
    """The tasks whose run folders ``only`` names, in spec order: run folder names (``soft-log-…-seed1-4b4d5f23``,
    or ``<preset>/<name>``) separated by commas, or ``@FILE`` with one name a line (``#`` starts a comment; an
    empty file selects none). This is how a machine that holds only some of a spec's runs (a lent GPU, which is
    sent the unfinished runs alone, ``scripts/gpu_stage.sh``) trains just those and not the finished ones it
    does not have. A name that is not a run of the spec is a :class:`~concave_lottery.errors.ParameterError`."""
    if only.startswith("@"):
        source = Path(only[1:])
        try:
            text = source.read_text()
        except OSError as exc:
            raise ParameterError("only", only, f"@FILE names a readable file of run names, one a line; {source} "
                                               f"could not be read ({exc.strerror or exc})") from None
        names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    else:
        names = [n.strip() for n in only.split(",")]
        if not any(names):
            raise ParameterError("only", only, "run folder names separated by commas, or @FILE")
    wanted = {n.rstrip("/").rsplit("/", 1)[-1] for n in names if n}
    known = [t.run_dir.name for t in tasks]
    unknown = sorted(wanted - set(known))
    if unknown:
        raise ParameterError("only", unknown[0], f"only names runs of the spec ({len(known)}: "
                                                 f"{', '.join(sorted(known))})")
    return [t for t, name in zip(tasks, known, strict=True) if name in wanted]


# ------------------------------------------------------------------------------------ runner


def run_task(task: RunTask) -> TaskOutcome:
    """Run one task in this process (what every executor calls); never raises."""
    from .lottery import run_lottery

    start = time.perf_counter()
    try:
        path, _ = run_lottery(task.config, task.out, device=task.device, progress=False)
        return TaskOutcome(task, True, str(path), time.perf_counter() - start)
    except UserError as exc:
        return TaskOutcome(task, False, None, time.perf_counter() - start, str(exc))
    except OSError as exc:  # the output path: full, read-only, not a folder
        return TaskOutcome(task, False, None, time.perf_counter() - start, str(os_error(exc)))
    except Exception:  # a bug in one run must not take the sweep down; it is reported
        return TaskOutcome(task, False, None, time.perf_counter() - start, traceback.format_exc())


def _finished_outcome(task: RunTask) -> TaskOutcome:
    """A finished run is skipped once its files verify against their digests; a damaged one is reported
    as failed, with what to delete (a folder from before digests is skipped as it is)."""
    from .digests import Digests
    from .results import check_finished_run

    try:
        if Digests(task.run_dir).exists():
            check_finished_run(task.run_dir)
    except UserError as exc:
        return TaskOutcome(task, False, None, error=str(exc))
    return TaskOutcome(task, True, str(task.run_dir / RESULT_FILE), skipped=True)


def longest_first(tasks: Sequence[RunTask]) -> list[RunTask]:
    """``tasks`` ordered by the epochs of training each has left, most first; ties keep their order.

    Runs at once (workers, array tasks) start in this order, so the longest start first and no worker is
    left alone with a long run at the end while the others idle (longest-processing-time scheduling). The
    converged campaign's IMP runs have 1,785 epochs each and its soft runs 510: in spec order, two workers
    would end with one IMP run alone, about 510 epochs later than this order's last run."""
    from .progress import epochs_planned, epochs_trained

    left = [epochs_planned(t.config) - epochs_trained(t.run_dir, t.config) for t in tasks]
    order = sorted(range(len(tasks)), key=lambda i: -left[i])
    return [tasks[i] for i in order]


def run_sweep(tasks: Sequence[RunTask], executor: Executor | None = None, *, progress: bool | None = None,
              fn: Callable[[RunTask], TaskOutcome] = run_task) -> list[TaskOutcome]:
    """Run every unfinished task with ``executor``, the longest first where several run at once
    (:func:`longest_first`), else in spec order (one worker: ``--workers 1``, as each lane of
    ``scripts/cpu_lanes.sh`` trains its ``--only @FILE`` runs); finished ones are reported as skipped."""
    executor = executor or SerialExecutor()
    outcomes = [_finished_outcome(t) for t in tasks if t.finished]
    todo = [t for t in tasks if not t.finished]
    if not isinstance(executor, SerialExecutor) and getattr(executor, "workers", 2) > 1:
        todo = longest_first(todo)  # several at once (workers, or jobs of a cluster): the longest first
    bar = tqdm(total=len(tasks), initial=len(outcomes), desc="sweep", unit="run", disable=progress is False)
    failed = 0
    for outcome in executor.map(fn, todo):
        outcomes.append(outcome)
        failed += not outcome.ok
        bar.set_postfix({"last": outcome.task.label()[-40:], "failed": failed}, refresh=False)
        bar.update(1)
    bar.close()
    return outcomes
