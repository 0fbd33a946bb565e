"""Where an unfinished run stands, read from its files (never trained, never written).

A run's folder (:mod:`concave_lottery.runs.paths`) holds one ``round-<t>/`` per round begun; a round is
complete once its ``record.json`` exists, and a phase in progress has a ``checkpoint.pt`` whose
``history`` lists the epochs done (written after every epoch, with its digest). :func:`progress` turns
this into (round, phase, epochs done); :func:`work_done` into a key that orders two copies of the same
run by how far they got (:mod:`concave_lottery.runs.transfer` keeps the further one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .paths import RunDir
from .results import read_json

__all__ = ["progress", "work_done"]


def _history_length(run: RunDir, checkpoint: Path) -> int:
    """Epochs recorded in a phase checkpoint (its ``history``), read only once it matches its digest;
    0 when it does not or cannot be read (a checkpoint being written, or damaged: the run retrains
    that phase itself)."""
    from ..runs.digests import Digests

    try:
        return len(Digests(run).load_torch(checkpoint, map_location="cpu", weights_only=False)["history"])
    except Exception:
        return 0


def progress(run_dir: str | Path) -> dict[str, Any]:
    """Where an unfinished run stands, from its files: ``round`` (the first round without a record),
    ``phase`` (``search`` or ``ticket``, None before its first checkpoint) and ``epochs_done`` in that
    phase (from the phase's checkpoint, or its metrics once the phase is complete)."""
    run = RunDir(run_dir)
    rounds = sorted(run.rounds(), key=lambda r: r.index) if Path(run_dir).is_dir() else []
    done = [r.index for r in rounds if r.record.exists()]
    current = next((r for r in rounds if not r.record.exists()), None)
    if current is None:
        return {"round": (max(done) + 1) if done else None, "phase": None, "epochs_done": 0}
    for phase in (current.ticket, current.search):
        if phase.checkpoint.exists():
            return {"round": current.index, "phase": phase.name, "epochs_done": _history_length(run, phase.checkpoint)}
        if phase.metrics.exists():
            return {"round": current.index, "phase": phase.name,
                    "epochs_done": len(read_json(phase.metrics)["epochs"])}
    return {"round": current.index, "phase": None, "epochs_done": 0}


def work_done(run_dir: str | Path) -> tuple[int, int, int, int]:
    """A key ordering copies of one run by progress: (finished, rounds recorded, the current round's
    phase: 0 none yet, 1 search, 2 ticket, epochs done in that phase). A finished run (``result.json``)
    is ahead of every unfinished one."""
    run = RunDir(run_dir)
    if run.result.exists():
        return (1, 0, 0, 0)
    p = progress(run_dir)
    recorded = sum(1 for r in run.rounds() if r.record.exists()) if Path(run_dir).is_dir() else 0
    phase = {None: 0, "search": 1, "ticket": 2}[p["phase"]]
    return (0, recorded, phase, int(p["epochs_done"]))
