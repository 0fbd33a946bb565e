"""``lottery calibrate``: choose λ (or ε) by the sparsity wanted, with cached search-only runs as probes.

The sparsity Algorithm 1 reaches is decided only indirectly by λ of eq. (2), ε of the log regularizer, α
and the mask's step size: the same epoch-matched λ (:func:`~concave_lottery.runs.config.epoch_matched_lambda`)
gives 82% (log) or 93% (ℓ1) on ResNet-20. This module turns the question around: for a protocol (a preset
and ``key=value`` overrides, exactly as ``lottery run`` takes them) and a target sparsity s*, it finds the
value x of λ (``vary="lam"``) or of ε at fixed λ (``vary="eps"``) whose search reaches s* within a
tolerance, by bisection in log x (:func:`concave_lottery.method.bisection.bisect_log`).

**Probes are ordinary runs.** Each probe is the protocol's config with ``lam`` (or ``eps``) set to the
probed value and ``train_tickets="none"``: the search phase of every round and its pruning, no ticket
training. It lives in its own run folder ``<out>/<preset>/<run name>/`` with the same digests, lock and
per-epoch checkpoints as any run, so a rerun of the same calibration reads the finished probes without
training, and a killed calibration resumes inside the probe it was training. The probed values are a
deterministic function of the probes' outcomes (rounded to 4 significant digits), so the rerun asks for
the same folders. The sparsity of a probe is its last round's (fraction of prunable weights pruned).

**The record.** ``<out>/<preset>/calibrate-<vary>-…-<hash>/calibration.json`` (with ``digests.json``; the
hash covers the protocol, the target, the tolerance, the bracket and the factor, not the budget: a rerun
with a larger budget continues the same calibration) holds the target, every probe in the order
evaluated (value, sparsity, run folder, search accuracy, seconds), the value found, whether s was
monotone over the probes (and the pairs that were not), how it ended, the command and the provenance;
the book replays it (:mod:`concave_lottery.evidence.targeting`).

**The ticket at the value found** (:func:`train_ticket`) reuses the probe's searches: its folder is the
probe's, copied without the round records and with the ticket setting of the protocol, and only the
tickets are trained (exact, as :func:`~concave_lottery.runs.lottery.extend_rounds`: a round's ticket
depends on its mask state, the rewound θ and its own seed, all in the copy).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import ParameterError, UserError
from ..method.bisection import Bisection, Probe, bisect_log, round_value
from .config import RunConfig
from .digests import Digests
from .lock import RunLock
from .paths import RESULT_FILE, RunDir
from .results import check_finished_run, now, run_directory

__all__ = ["CALIBRATION_FILE", "DEFAULT_OUT", "VARIABLES", "CalibrationSpec", "calibrate", "calibration_dir",
           "load_calibration", "parse_calibration_args", "probe_config", "ticket_config", "train_ticket"]

CALIBRATION_FILE = "calibration.json"
#: Where the probes, the records and the tickets go by default (apart from ``results/calibration/``, the
#: mask step-size calibration of the chapter "What the paper leaves open").
DEFAULT_OUT = "results/target-sparsity"
#: The parameters that can be varied, with the bounds the bracket may be widened to.
VARIABLES: dict[str, tuple[float, float]] = {"lam": (1e-12, 1.0), "eps": (1e-6, 1e3)}
#: The methods whose sparsity λ decides (imp and hard prune a fixed fraction per round).
CALIBRATED_METHODS = ("soft", "sigmoid")
FORMAT = 1


@dataclasses.dataclass(frozen=True)
class CalibrationSpec:
    """What to calibrate: the varied parameter, the target s* and tolerance, the probe budget, the bracket
    [lo, hi] (default: the protocol's value divided and multiplied by √factor) and the widening factor."""

    vary: str = "lam"
    target_sparsity: float = 0.9
    tolerance: float = 0.01
    budget: int = 12
    lo: float | None = None
    hi: float | None = None
    factor: float = 10.0

    def bracket(self, start: float) -> tuple[float, float]:
        lo = self.lo if self.lo is not None else round_value(start / math.sqrt(self.factor))
        hi = self.hi if self.hi is not None else round_value(start * math.sqrt(self.factor))
        return lo, hi

    def identity(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("budget")
        return d


#: The calibration's own keys on the command line, with their type, default and help.
SPEC_KEYS: dict[str, tuple[type, str]] = {
    "target_sparsity": (float, "the sparsity wanted, in (0, 1) (required)"),
    "tolerance": (float, "how close the sparsity must come, in (0, 0.5) (default 0.01)"),
    "budget": (int, "the most probes (search-only runs) to train, >= 2 (default 12)"),
    "vary": (str, "the parameter varied: lam (default) or eps (ε of the log regularizer, at fixed λ)"),
    "lo": (float, "lower end of the first bracket (default: the protocol's value / √factor)"),
    "hi": (float, "upper end of the first bracket (default: the protocol's value · √factor)"),
    "factor": (float, "by how much the bracket is widened when the target lies outside it, > 1 (default 10)"),
}


def parse_calibration_args(overrides: Mapping[str, str]) -> tuple[CalibrationSpec, dict[str, str]]:
    """Split ``key=value`` overrides into the calibration's own keys (:data:`SPEC_KEYS`) and the RunConfig
    overrides; parse and check the former (ranges, lo < hi)."""
    values: dict[str, Any] = {}
    rest = {}
    for key, raw in overrides.items():
        if key not in SPEC_KEYS:
            rest[key] = raw
            continue
        kind, text = SPEC_KEYS[key]
        try:
            value = kind(float(raw)) if kind is int and float(raw).is_integer() else kind(raw)
        except ValueError:
            raise ParameterError(key, raw, f"{key} is {text}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(key, raw, f"{key} is {text}")
        values[key] = value
    if "target_sparsity" not in values:
        raise ParameterError("target_sparsity", None, "lottery calibrate needs the sparsity wanted, e.g. "
                             "target_sparsity=0.9 (a fraction of the prunable weights, in (0, 1))")
    spec = CalibrationSpec(**values)
    checks = [
        ("target_sparsity", 0 < spec.target_sparsity < 1, "target_sparsity must lie in the open interval (0, 1)"),
        ("tolerance", 0 < spec.tolerance < 0.5, "tolerance must lie in the open interval (0, 0.5)"),
        ("budget", spec.budget >= 2, "budget must be an integer >= 2 (the bracket's two ends are probed first)"),
        ("vary", spec.vary in VARIABLES, f"vary must be one of {', '.join(VARIABLES)}"),
        ("factor", spec.factor > 1, "factor must be > 1"),
    ]
    for name, ok, allowed in checks:
        if not ok:
            raise ParameterError(name, getattr(spec, name), allowed)
    low, high = VARIABLES[spec.vary]
    for name in ("lo", "hi"):
        value = getattr(spec, name)
        if value is not None and not low <= value <= high:
            raise ParameterError(name, value, f"{name} must lie in [{low:g}, {high:g}] for vary={spec.vary}")
    if spec.lo is not None and spec.hi is not None and not spec.lo < spec.hi:
        raise ParameterError("hi", spec.hi, f"hi must be larger than lo={spec.lo:g}")
    return spec, rest


def check_protocol(base: RunConfig, spec: CalibrationSpec) -> None:
    """The protocol must be one whose sparsity the varied parameter decides."""
    if base.method not in CALIBRATED_METHODS:
        raise ParameterError("method", base.method, "lottery calibrate varies λ (or ε) of Algorithm 1's penalty, so "
                             f"method must be one of {', '.join(CALIBRATED_METHODS)} (imp and hard prune a fixed "
                             "fraction per round: their sparsity is set by prune_fraction and rounds)")
    if spec.vary == "eps" and not (base.method == "soft" and base.regularizer == "log"):
        raise ParameterError("vary", "eps", "vary=eps needs method=soft and regularizer=log (ε enters only the "
                             f"log regularizer; this protocol has method={base.method}, "
                             f"regularizer={base.regularizer})")


def probe_config(base: RunConfig, vary: str, value: float) -> RunConfig:
    """The probe at ``value``: the protocol with the varied parameter set, searching only."""
    return dataclasses.replace(base, **{vary: value}, train_tickets="none").validate()


def ticket_config(base: RunConfig, vary: str, value: float) -> RunConfig:
    """The run at ``value`` that trains its tickets (the protocol's ``train_tickets``; ``last`` when the
    protocol itself said ``none``)."""
    tickets = base.train_tickets if base.train_tickets != "none" else "last"
    return dataclasses.replace(base, **{vary: value}, train_tickets=tickets).validate()


def calibration_dir(base: RunConfig, spec: CalibrationSpec, out: Path | str) -> Path:
    """The record's folder: ``<out>/<preset>/calibrate-<vary>-<method>-<regularizer>-s<target>-seed<seed>-<hash>``."""
    identity = base.identity()
    identity.pop(spec.vary, None)
    identity.pop("train_tickets", None)
    blob = json.dumps({"protocol": identity, "spec": spec.identity()}, sort_keys=True).encode()
    digest = hashlib.sha256(blob).hexdigest()[:8]
    head = f"calibrate-{spec.vary}-{base.method}-{base.regularizer}-s{spec.target_sparsity:g}"
    return Path(out) / base.preset / f"{head}-seed{base.seed}-{digest}"


def _relative(path: Path, out: Path | str) -> str:
    try:
        return Path(path).relative_to(Path(out)).as_posix()
    except ValueError:
        return str(path)


def _probe_entry(order: int, probe: Probe, run_dir: Path, result: dict[str, Any], out: Path | str) -> dict[str, Any]:
    last = result["rounds"][-1]
    return {"order": order, "value": probe.value, "sparsity": probe.sparsity,
            "remaining_weights": last.get("remaining_weights"),
            "search_test_accuracy": last.get("search_test_accuracy"),
            "seconds": round(float(result["provenance"].get("seconds", 0.0)), 3),
            "run": _relative(run_dir, out)}


def calibrate(base: RunConfig, spec: CalibrationSpec, out: Path | str = DEFAULT_OUT, *,
              device: Any = "auto", progress: bool | None = None, command: str = "", data: Any = None,
              on_probe: Callable[[dict[str, Any], Bisection, bool], None] | None = None,
              run: Callable[..., tuple[Path, dict[str, Any]]] | None = None) -> tuple[Path, dict[str, Any]]:
    """Calibrate ``spec.vary`` of the protocol ``base`` for ``spec.target_sparsity``; returns (record path,
    record). Never raises for an unreached target: the record's ``status`` says how it ended (see
    :data:`~concave_lottery.method.bisection.STATUSES`). ``on_probe(entry, bisection, cached)`` is called
    after each probe (``cached``: the probe's run was finished before). ``data`` is the dataset already loaded
    (default: loaded by name once, when a probe trains); ``run`` replaces
    :func:`~concave_lottery.runs.lottery.run_lottery` (tests)."""
    from .lottery import resolve_device, run_lottery

    torch_device = resolve_device(device)
    base = base.validate().resolved(torch_device)
    check_protocol(base, spec)
    run = run or run_lottery
    start_value = float(getattr(base, spec.vary))
    lo, hi = spec.bracket(start_value)
    record_dir = calibration_dir(base, spec, out)
    record_path = record_dir / CALIBRATION_FILE
    entries: list[dict[str, Any]] = []
    shared: dict[str, Any] = {} if data is None else {"data": data}

    def data_for(config: RunConfig) -> Any:
        """The dataset, loaded once for every probe that trains (a finished probe needs none)."""
        if "data" not in shared:
            from ..data import load_dataset

            shared["data"] = load_dataset(config.dataset, device="cpu", progress=progress is not False)
        return shared["data"]

    def sparsity_of(value: float) -> float:
        config = probe_config(base, spec.vary, value)
        run_dir = run_directory(config, out)
        cached = (run_dir / RESULT_FILE).exists()
        data = None if cached else data_for(config)
        path, result = run(config, out, device=torch_device, progress=progress, data=data)
        sparsity = float(result["rounds"][-1]["sparsity"])
        entries.append(_probe_entry(len(entries) + 1, Probe(value, sparsity), path.parent, result, out))
        shared["cached"] = cached
        return sparsity

    def after_probe(probe: Probe, bisection: Bisection) -> None:
        if on_probe is not None:
            on_probe(entries[-1], bisection, shared.get("cached", False))

    record_dir.mkdir(parents=True, exist_ok=True)
    digests = Digests(RunDir(record_dir))
    with RunLock(record_dir):
        started = now()
        if record_path.exists():
            try:
                started = datetime.fromisoformat(digests.read_json(record_path)["provenance"]["started"])
            except (UserError, KeyError, TypeError, ValueError):
                pass
        clock = time.perf_counter()
        bisection = bisect_log(sparsity_of, target=spec.target_sparsity, tolerance=spec.tolerance, lo=lo, hi=hi,
                               budget=spec.budget, factor=spec.factor, bounds=VARIABLES[spec.vary],
                               increasing=True if spec.vary == "lam" else None, on_probe=after_probe)
        record = _record(base, spec, bisection, entries, start_value, (lo, hi), command, torch_device, started,
                         time.perf_counter() - clock)
        if record_path.exists():  # a ticket trained earlier at the same value stays in the record
            try:
                old = digests.read_json(record_path)
            except UserError:
                old = {}
            if isinstance(old, dict) and old.get("ticket") and old.get("found", {}).get("value") == \
                    record["found"]["value"]:
                record["ticket"] = old["ticket"]
        digests.write_json(record_path, record)
    return record_path, record


def _record(base: RunConfig, spec: CalibrationSpec, bisection: Bisection, entries: list[dict[str, Any]],
            start_value: float, bracket: tuple[float, float], command: str, device: Any, started: datetime,
            wall: float) -> dict[str, Any]:
    from .results import provenance

    best = bisection.best
    found = next(e for e in entries if e["value"] == best.value) if best is not None else None
    seconds = sum(e["seconds"] for e in entries)
    prov = provenance(device, started, seconds, precision=base.precision, channels_last=base.channels_last)
    prov["wall_seconds_this_invocation"] = round(wall, 3)
    return {
        "format": FORMAT,
        "kind": "sparsity-calibration",
        "preset": base.preset,
        "vary": spec.vary,
        "target_sparsity": spec.target_sparsity,
        "tolerance": spec.tolerance,
        "budget": spec.budget,
        "factor": spec.factor,
        "start_value": start_value,
        "bracket": list(bracket),
        "status": bisection.status,
        "reason": bisection.reason,
        "reached": bisection.reached,
        "found": found,
        "monotone": bisection.monotone,
        "monotone_slack": bisection.slack,
        "violations": _pairs(bisection.violations),
        "dips_within_slack": _pairs([d for d in bisection.dips if d not in bisection.violations]),
        "probes": entries,
        "protocol": ticket_config(base, spec.vary, start_value).to_dict(),
        "command": command,
        "provenance": prov,
    }


def _pairs(pairs: list[tuple[Probe, Probe]]) -> list[dict[str, Any]]:
    return [{"lower": {"value": a.value, "sparsity": a.sparsity}, "upper": {"value": b.value, "sparsity": b.sparsity}}
            for a, b in pairs]


def load_calibration(path: Path | str) -> dict[str, Any]:
    """A calibration record (``calibration.json`` or its folder), verified against its digest."""
    path = Path(path)
    if path.is_dir():
        path = path / CALIBRATION_FILE
    record = Digests(RunDir(path.parent)).read_json(path)
    if not isinstance(record, dict) or record.get("kind") != "sparsity-calibration":
        raise UserError(f"{path} is not a calibration record of `lottery calibrate` (no kind "
                        f"'sparsity-calibration'); delete its folder {path.parent} and calibrate again.")
    return record


def train_ticket(record_path: Path | str, out: Path | str = DEFAULT_OUT, *, device: Any = "auto",
                 progress: bool | None = None, data: Any = None) -> tuple[Path, dict[str, Any]]:
    """Train the ticket(s) at the value a finished calibration found, reusing the found probe's searches;
    the record gains ``ticket`` (run folder, sparsity, ticket accuracy). Returns (result path, result).

    The probe's folder is copied to the ticket run's folder without ``result.json``, the round records and
    the checkpoints, with the ticket run's config; :class:`~concave_lottery.runs.lottery.LotteryRun` then finds
    every round's mask state and trains only the tickets. ``data``: the dataset already loaded (default: by
    name)."""
    from .lottery import _missing_ancestors, _remove_if_empty, run_lottery

    record_path = Path(record_path)
    if record_path.is_dir():
        record_path = record_path / CALIBRATION_FILE
    record = load_calibration(record_path)
    if not record.get("reached"):
        raise UserError(f"the calibration {record_path.parent} did not reach its target ({record.get('reason')}); "
                        "its ticket is not trained. Calibrate again with a larger budget or another bracket.")
    found = record["found"]
    base = RunConfig.from_dict(record["protocol"])
    config = ticket_config(base, record["vary"], found["value"])
    probe_dir = Path(out) / found["run"]
    target = RunDir(run_directory(config, out))
    if not (target.path / RESULT_FILE).exists() and not target.path.exists():
        check_finished_run(probe_dir)
        ignore = shutil.ignore_patterns(RESULT_FILE, "record.json", "*.tmp", ".lock", "checkpoint.pt")
        created = _missing_ancestors(target.path)
        try:
            shutil.copytree(probe_dir, target.path, ignore=ignore)
            digests = Digests(target)
            digests.delete(*[target.path / key for key in digests.entries() if not (target.path / key).exists()])
            digests.write_json(target.config, config.to_dict())
            started = digests.read_json(target.started) if target.started.exists() else {}
            digests.write_json(target.started, {**started, "searches_of_probe": found["run"]})
        except BaseException:
            shutil.rmtree(target.path, ignore_errors=True)
            _remove_if_empty(created[1:])
            raise
    path, result = run_lottery(config, out, device=device, progress=progress, data=data)
    last = result["rounds"][-1]
    ticket = {"run": _relative(path.parent, out), "sparsity": last["sparsity"],
              "test_accuracy": last.get("test_accuracy"), "best_test_accuracy": last.get("best_test_accuracy"),
              "seconds": round(float(result["provenance"].get("seconds", 0.0)), 3)}
    digests = Digests(RunDir(record_path.parent))
    with RunLock(record_path.parent):
        record = load_calibration(record_path)
        record["ticket"] = ticket
        digests.write_json(record_path, record)
    return path, result


def probe_table(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The probes of a record as rows, by value (the curve s(value)), plain (no pandas)."""
    vary = record["vary"]
    name = "λ" if vary == "lam" else "ε"
    rows = []
    for e in sorted(record["probes"], key=lambda e: e["value"]):
        acc = e.get("search_test_accuracy")
        rows.append({"#": e["order"], name: f"{e['value']:.4g}", "sparsity": round(e["sparsity"], 4),
                     "|s - target|": round(abs(e["sparsity"] - record["target_sparsity"]), 4),
                     "search acc": None if acc is None else round(acc, 4),
                     "minutes": round(e["seconds"] / 60, 1), "run": e["run"]})
    return rows
