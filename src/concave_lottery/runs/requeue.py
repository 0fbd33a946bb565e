"""The callable a submitit job runs for one task of a sweep, and requeues when the task is pre-empted or
reaches its time limit.

Imported only where submitit is (``lottery sweep --executor submitit-local|slurm``): submitit is an optional
dependency (``pip install 'concave-lottery[cluster]'``).

SLURM (and submitit's local executor) send ``SIGUSR2`` some time before a job's time limit, and when the job is
pre-empted. Submitit's handler then calls :meth:`RequeueableTask.checkpoint`, pickles the
``DelayedSubmission`` it returns in place of the job's, requeues the job and exits. The requeued job calls the
same task again; the run itself (:class:`~concave_lottery.runs.lottery.LotteryRun`) resumes from its last
epoch checkpoint in the results folder, so no finished epoch is trained twice and none is lost: only the epoch
in progress when the signal came is trained again, from the same state, to the same numbers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from submitit.helpers import Checkpointable, DelayedSubmission

if TYPE_CHECKING:
    from .sweep import RunTask, TaskOutcome


class RequeueableTask(Checkpointable):
    """``fn(task)`` in a submitit job (``fn`` is the sweep's runner, :func:`~concave_lottery.runs.sweep.run_task`),
    with ``threads`` CPU threads (default: ``$SLURM_CPUS_PER_TASK`` where SLURM sets it, else torch's own)."""

    def __init__(self, fn: Callable[[RunTask], TaskOutcome], threads: int | None = None) -> None:
        self.fn = fn
        self.threads = threads

    def __call__(self, task: RunTask) -> TaskOutcome:
        from .executors import pin_threads

        threads = self.threads or int(os.environ.get("SLURM_CPUS_PER_TASK", "0") or 0) or None
        if threads:
            pin_threads(threads)
        os.environ.setdefault("LOTTERY_PROGRESS", "0")  # no progress bars in a job's log
        return self.fn(task)

    def checkpoint(self, task: RunTask) -> DelayedSubmission:
        """The same call again: the run's own checkpoints hold its state (nothing else to save here)."""
        print(f"lottery: {task.label()} was pre-empted or reached its time limit; requeued: it resumes from its "
              f"last epoch checkpoint.", file=sys.stderr, flush=True)
        return DelayedSubmission(self, task)
