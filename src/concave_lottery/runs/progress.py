"""Where an unfinished run stands, read from its files (never trained, never written).

A run's folder (:mod:`concave_lottery.runs.paths`) holds one ``round-<t>/`` per round begun; a round is
complete once its ``record.json`` exists, and a phase in progress has a ``checkpoint.pt`` whose
``history`` lists the epochs done (written after every epoch, with its digest). :func:`progress` turns
this into (round, phase, epochs done); :func:`work_done` into a key that orders two copies of the same
run by how far they got (:mod:`concave_lottery.runs.transfer` keeps the further one).
:func:`epochs_planned` and :func:`epochs_trained` count a run's training in epochs, all phases together
(how much of a campaign is left), and :func:`epoch_seconds` lists how long its recorded epochs took.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .paths import RunDir
from .results import read_json

if TYPE_CHECKING:
    from .config import RunConfig

__all__ = ["progress", "work_done", "epochs_planned", "epochs_trained", "epoch_seconds", "place", "describe"]


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


def _phases_of_round(config: RunConfig, t: int) -> int:
    """Trainings in round ``t`` of a run of ``config``: an IMP level trains once (level 0 is the dense
    network); a round of Algorithm 1 searches, then trains its ticket if ``train_tickets`` asks for it."""
    return 1 if config.method == "imp" else 1 + int(config.trains_ticket(t))


def _round_indices(config: RunConfig) -> range:
    return range(0, config.rounds + 1) if config.method == "imp" else range(1, config.rounds + 1)


def epochs_planned(config: RunConfig) -> int:
    """Epochs of training a run of ``config`` does in all phases together: ``epochs`` for every IMP level
    0..L, or for every round's search and every ticket trained."""
    return sum(_phases_of_round(config, t) for t in _round_indices(config)) * int(config.epochs)


def epochs_trained(run_dir: str | Path, config: RunConfig) -> int:
    """Epochs of training the files of ``run_dir`` (a run of ``config``) record: all of them once it is
    finished; else every phase of each recorded round (a round's ``record.json`` is written after its
    phases), then, in the round in progress, each complete phase's metrics and the checkpoint of the phase
    being trained."""
    run = RunDir(run_dir)
    if run.result.exists():
        return epochs_planned(config)
    if not Path(run_dir).is_dir():
        return 0
    done = 0
    for rnd in run.rounds():
        if rnd.record.exists():
            done += _phases_of_round(config, rnd.index) * int(config.epochs)
            continue
        for phase in (rnd.search, rnd.ticket):
            if phase.metrics.exists():
                done += len(read_json(phase.metrics)["epochs"])
            elif phase.checkpoint.exists():
                done += _history_length(run, phase.checkpoint)
    return done


def epoch_seconds(run_dir: str | Path) -> list[float]:
    """Wall-clock seconds of every epoch the run's complete phases recorded (their ``metrics.json``)."""
    run = RunDir(run_dir)
    seconds: list[float] = []
    for rnd in run.rounds() if Path(run_dir).is_dir() else []:
        for phase in (rnd.search, rnd.ticket):
            if phase.metrics.exists():
                seconds += [float(e["seconds"]) for e in read_json(phase.metrics)["epochs"] if "seconds" in e]
    return seconds


def place(config: RunConfig, where: dict[str, Any]) -> str:
    """A run's place, from its :func:`progress`, in the words both the chapters and ``lottery sweep
    --dry-run`` use: "round 2 of 3 (ticket), epoch 12 of 85", or for IMP, whose levels train once each,
    "level 0 (dense) of 0-20, epoch 16 of 85"; ", starting" before a phase's first checkpoint."""
    if where["round"] is None:
        return "starting"
    if config.method == "imp":
        text = f"level {where['round']}" + (" (dense)" if where["round"] == 0 else "") + f" of 0-{config.rounds}"
        phase = ""
    else:
        text = f"round {where['round']} of {config.rounds}"
        phase = f" ({where['phase']})"
    if where["phase"] is None:
        return f"{text}, starting"
    return f"{text}{phase}, epoch {where['epochs_done']} of {config.epochs}"


def describe(run_dir: str | Path, config: RunConfig, trained: int | None = None) -> str:
    """Where a run of ``config`` stands, for ``lottery sweep --dry-run``: "finished", "not started, 510
    epochs", or its :func:`place` and the epochs left, "round 2 of 3 (ticket), epoch 12 of 85; 243 of 510
    epochs left". ``trained``: :func:`epochs_trained` of the run, where the caller has it already."""
    planned = epochs_planned(config)
    if RunDir(run_dir).result.exists():
        return "finished"
    if not Path(run_dir).is_dir():
        return f"not started, {planned:,} epochs"
    left = planned - (epochs_trained(run_dir, config) if trained is None else trained)
    return f"{place(config, progress(run_dir))}; {left:,} of {planned:,} epochs left"
