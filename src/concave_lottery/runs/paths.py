"""Every file of a run folder, named in one place (the idea of open_lth's ``paths.py``).

A run folder ``<out>/<preset>/<run name>/`` holds::

    config.json                      the resolved config (written first)
    started.json                     when the run started, under which commit
    digests.json                     the sha256 of every file below (:mod:`concave_lottery.runs.digests`)
    .lock                            held while a process trains the run
    theta0.pt                        θ_0
    theta_rewind.pt                  θ_k, when rewinding to step k > 0
    round-<t>/search/checkpoint.pt   per-epoch checkpoint of the round's search (deleted with the round's record)
    round-<t>/search/metrics.json    per-epoch metrics of the search
    round-<t>/masks.pt               the mask state after round t's pruning
    round-<t>/search.json            the search's outcome (accuracy, time, entries pruned)
    round-<t>/ticket/checkpoint.pt   per-epoch checkpoint of the ticket training
    round-<t>/ticket/metrics.json    per-epoch metrics of the ticket training
    round-<t>/ticket/weights.pt      the trained ticket: final weights of the ticket training, masked, fp32
                                     (:mod:`concave_lottery.runs.tickets`; runs recorded before it have none)
    round-<t>/record.json            the round's record (written last: the round is complete)
    result.json                      config + every round's record + provenance (the run is finished)

Code never spells these names: it asks a :class:`RunDir` (``run.round(2).phase("search").checkpoint``).
:meth:`RunDir.unit_of` says, for any of these files, the smallest part of the run that is recomputed
with nothing else lost when the file is bad, for the advice of an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RESULT_FILE = "result.json"
CONFIG_FILE = "config.json"
STARTED_FILE = "started.json"
DIGESTS_FILE = "digests.json"
LOCK_FILE = ".lock"
THETA0_FILE = "theta0.pt"
THETA_REWIND_FILE = "theta_rewind.pt"
MASKS_FILE = "masks.pt"
SEARCH_FILE = "search.json"
RECORD_FILE = "record.json"
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.json"
TICKET_WEIGHTS_FILE = "weights.pt"
PHASES = ("search", "ticket")

_ROUND = re.compile(r"round-(\d+)")


@dataclass(frozen=True)
class PhaseDir:
    """``round-<t>/<phase>/``: one training (the round's ``search`` or its ``ticket``)."""

    path: Path
    name: str

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE


@dataclass(frozen=True)
class RoundDir:
    """``round-<t>/``: one round of Algorithm 1 (or one IMP level)."""

    path: Path
    index: int

    @property
    def name(self) -> str:
        return self.path.name

    def phase(self, name: str) -> PhaseDir:
        if name not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, not {name!r}")
        return PhaseDir(self.path / name, name)

    @property
    def search(self) -> PhaseDir:
        return self.phase("search")

    @property
    def ticket(self) -> PhaseDir:
        return self.phase("ticket")

    @property
    def masks(self) -> Path:
        return self.path / MASKS_FILE

    @property
    def ticket_weights(self) -> Path:
        """The trained ticket's weights (masked, fp32), written just before the round's record."""
        return self.ticket.path / TICKET_WEIGHTS_FILE

    @property
    def search_info(self) -> Path:
        return self.path / SEARCH_FILE

    @property
    def record(self) -> Path:
        return self.path / RECORD_FILE


@dataclass(frozen=True)
class RunDir:
    """A run folder and the name of every file in it."""

    path: Path

    def __init__(self, path: Path | str) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def started(self) -> Path:
        return self.path / STARTED_FILE

    @property
    def result(self) -> Path:
        return self.path / RESULT_FILE

    @property
    def digests(self) -> Path:
        return self.path / DIGESTS_FILE

    @property
    def lock(self) -> Path:
        return self.path / LOCK_FILE

    @property
    def theta0(self) -> Path:
        return self.path / THETA0_FILE

    @property
    def theta_rewind(self) -> Path:
        return self.path / THETA_REWIND_FILE

    def round(self, t: int) -> RoundDir:
        return RoundDir(self.path / f"round-{int(t)}", int(t))

    def rounds(self) -> list[RoundDir]:
        """The round folders present, by index."""
        found = [(int(m.group(1)), p) for p in self.path.glob("round-*")
                 if p.is_dir() and (m := _ROUND.fullmatch(p.name))]
        return [RoundDir(p, t) for t, p in sorted(found)]

    def phase_metrics(self, phase: str) -> list[tuple[int, Path]]:
        """(round index, metrics.json) of every round folder that has that phase's metrics."""
        return [(r.index, r.phase(phase).metrics) for r in self.rounds() if r.phase(phase).metrics.exists()]

    def relative(self, path: Path) -> str:
        """``path`` relative to the run folder, with ``/`` (the key of :mod:`~concave_lottery.runs.digests`)."""
        return Path(path).relative_to(self.path).as_posix()

    def files(self) -> list[Path]:
        """Every run file present (not the lock, the digests or a half-written ``*.tmp``), sorted."""
        skip = {LOCK_FILE, DIGESTS_FILE}
        return sorted(p for p in self.path.rglob("*")
                      if p.is_file() and p.name not in skip and not p.name.endswith(".tmp"))

    def unit_of(self, path: Path) -> str:
        """What to delete when ``path`` is bad: the smallest part of the run that is recomputed with
        nothing else lost, as an instruction (the paths are absolute, so it can be followed as is).

        A checkpoint: itself (its phase restarts). A file of round ``t``: the folder ``round-t``, every
        later round folder (each depends on round t's masks) and ``result.json`` (a finished run is
        otherwise returned as it is). ``result.json`` or ``started.json``: itself (rebuilt from the
        round records). θ_0 or θ_k: itself in a finished run, else the whole run folder, as for
        ``config.json`` or the digests.
        """
        rel = Path(path).relative_to(self.path)
        if rel.name == CHECKPOINT_FILE:
            return f"delete {path} (the {rel.parent.name} phase of {rel.parts[0]} is trained again from its start)"
        if rel.as_posix() == RESULT_FILE:
            return f"delete {path} (it is rebuilt from the round records without training)"
        if rel.as_posix() == STARTED_FILE:
            targets = " ".join(str(p) for p in (path, self.result) if p.exists())
            return (f"delete {targets} (`rm -r {targets}`; the result is rebuilt from the round records without "
                    f"training, with the time of the rerun as its start)")
        if rel.as_posix() in (THETA0_FILE, THETA_REWIND_FILE) and self.result.exists():
            return (f"delete {path} (the finished run does not use it; extending the run draws θ_0 again from the "
                    f"seed, and refuses without θ_k)")
        m = _ROUND.fullmatch(rel.parts[0]) if len(rel.parts) > 1 else None
        if m:
            t = int(m.group(1))
            later = [r.path for r in self.rounds() if r.index > t]
            targets = [self.round(t).path, *later] + ([self.result] if self.result.exists() else [])
            names = " ".join(str(p) for p in targets)
            what = f"round {t} and the rounds after it are" if later else f"round {t} is"
            return f"delete {names} (`rm -r {names}`; {what} trained again, nothing else is lost)"
        return f"delete the run folder {self.path} (`rm -r {self.path}`) and run again"
