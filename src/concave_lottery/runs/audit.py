"""``lottery audit RUN_DIR``: a recorded run's ticket checked against its record, from its files alone.

Each check is a :class:`Finding` (passed or not, with a message that names what differs):

``digests``
    every file of the run matches its sha256 in ``digests.json`` and none was deleted
    (:func:`~concave_lottery.runs.results.check_finished_run`). A file changed after it was written
    stops the audit here: nothing else in it can be trusted.
``config``
    ``config.json`` is the config in ``result.json``, and the run folder's name is that config's
    (:meth:`RunConfig.run_name`: its method, λ, seed and the hash of every field).
``records``
    every round's ``record.json`` is the round's entry of ``result.json``, for the rounds the config asks for.
``masks``
    the survivors only shrink from round to round (pruning never revives a weight), and for every trained
    ticket the mask it was trained under (:func:`~concave_lottery.runs.tickets.ticket_mask`) has the
    record's remaining weights, per layer and in total, and so the record's sparsity.
``zeros``
    in the saved ticket weights every pruned weight is exactly 0.
``accuracy``
    the saved ticket, evaluated on the run's test split as training evaluated it
    (:func:`~concave_lottery.runs.training.evaluate`, the recorded number of torch threads), has exactly
    the recorded test accuracy.

A run recorded before the ticket weights were kept is audited for digests, config, records and masks;
the last two checks are then not possible, which :attr:`AuditReport.missing_weights` says.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import CorruptFile, ParameterError
from .config import RunConfig
from .digests import Digests
from .paths import RunDir
from .results import check_finished_run, load_result, same_run
from .tickets import (
    KEPT_SINCE,
    NoTicketWeights,
    build_model,
    check_ticket_state,
    rerun_command,
    ticket_mask,
    ticket_rounds,
)


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str


@dataclass
class AuditReport:
    run: Path
    findings: list[Finding] = field(default_factory=list)
    #: Rounds whose ticket has no saved weights (a run recorded before they were kept).
    missing_weights: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def add(self, check: str, ok: bool, message: str) -> bool:
        self.findings.append(Finding(check, ok, message))
        return ok

    def lines(self) -> list[str]:
        return [f"{'ok  ' if f.ok else 'FAIL'}  {f.check:<9} {f.message}" for f in self.findings]


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_records(report: AuditReport, run: RunDir, config: RunConfig, result: dict[str, Any]) -> bool:
    digests = Digests(run)
    expected = list(range(0 if config.method == "imp" else 1, config.rounds + 1))
    found = [r.get("round") for r in result["rounds"]]
    if found != expected:
        return report.add("records", False, f"result.json records rounds {found}; the config asks for {expected}")
    for record in result["rounds"]:
        stored = digests.read_json(run.round(record["round"]).record)
        if stored != record:
            keys = sorted(k for k in set(stored) | set(record) if stored.get(k) != record.get(k))
            detail = ", ".join(f"{k}: {record.get(k)!r} in result.json, {stored.get(k)!r} in record.json"
                               for k in keys[:3])
            return report.add("records", False, f"round {record['round']}: result.json and "
                              f"{run.relative(run.round(record['round']).record)} differ ({detail})")
    return report.add("records", True, f"result.json and the {len(found)} round records agree")


def _check_masks(report: AuditReport, run: RunDir, config: RunConfig, result: dict[str, Any]
                 ) -> dict[int, dict[str, torch.Tensor]]:
    """The mask of every trained ticket whose masks are here; findings for the masks' agreement."""
    digests = Digests(run)
    previous: dict[str, torch.Tensor] | None = None
    for rnd in run.rounds():
        if not rnd.masks.exists():
            continue
        alive = {k: v["alive"] for k, v in digests.load_torch(rnd.masks).items()}
        if previous is not None:
            revived = {k: int((alive[k] & ~previous[k]).sum()) for k in alive if k in previous}
            if set(alive) != set(previous) or any(revived.values()):
                bad = {k: v for k, v in revived.items() if v}
                report.add("masks", False, f"{run.relative(rnd.masks)} revives weights pruned in an earlier round "
                           f"({bad or 'other layers'}): pruning only removes")
                return {}
        previous = alive
    masks: dict[int, dict[str, torch.Tensor]] = {}
    model = build_model(config)
    for t in ticket_rounds(result):
        record = next(r for r in result["rounds"] if r["round"] == t)
        try:
            mask = ticket_mask(run, config, t, model)
        except NoTicketWeights as exc:
            report.add("masks", True, f"round {t}: not checked ({exc})")
            continue
        layers = {k: int(v.sum()) for k, v in mask.items()}
        remaining, total = sum(layers.values()), sum(v.numel() for v in mask.values())
        recorded_layers = record.get("layers", layers)
        if remaining != record.get("remaining_weights") or layers != recorded_layers:
            diff = [k for k in layers if layers[k] != recorded_layers.get(k)]
            report.add("masks", False, f"round {t}: the mask the ticket was trained under keeps {remaining:,} "
                       f"weights, the record says {record.get('remaining_weights'):,}"
                       + (f" (layers differ: {diff[:4]})" if diff else ""))
        elif 1.0 - remaining / total != record["sparsity"]:
            report.add("masks", False, f"round {t}: the mask's sparsity is {1.0 - remaining / total!r}, the "
                       f"record says {record['sparsity']!r}")
        else:
            report.add("masks", True, f"round {t}: the mask keeps the record's {remaining:,} weights "
                       f"(sparsity {record['sparsity']:.4f})")
            masks[t] = mask
    return masks


def audit_run(run_dir: Path | str, *, data: Any = None) -> AuditReport:
    """Audit the finished run in ``run_dir`` (see the module docstring). ``data`` (optional): the run's
    test data already loaded (an :class:`~concave_lottery.data.ImageData` of the config's dataset)."""
    from .lottery import load_data
    from .training import evaluate

    run = RunDir(run_dir)
    if not run.config.exists() or not run.result.exists():
        raise ParameterError("RUN_DIR", str(run.path), "it must be a finished run folder (with config.json and "
                             "result.json)")
    report = AuditReport(run.path)
    try:
        check_finished_run(run.path)
    except CorruptFile as exc:
        report.add("digests", False, str(exc))
        return report
    report.add("digests", True, f"every file matches its sha256 in {run.digests.name}")
    digests = Digests(run)
    result = load_result(run.result)
    stored = digests.read_json(run.config)
    config = RunConfig.from_dict(stored)
    keys = sorted(k for k in set(stored) | set(result["config"]) if stored.get(k) != result["config"].get(k))
    try:
        one_run = not keys or same_run(stored, RunConfig.from_dict(result["config"]))
    except (TypeError, ValueError):  # result.json's config is not a config at all
        one_run = False
    if not one_run:
        report.add("config", False, f"config.json and result.json's config differ in {keys}")
    elif config.run_name() != run.name:
        report.add("config", False, f"the folder is named {run.name}, its config's run name is "
                   f"{config.run_name()} (the config was changed after the run, or the folder renamed)")
    else:
        # A run may be resumed with other speed switches (channels_last, compile: not part of its identity);
        # result.json then records the last ones, config.json the first.
        same = (f"config.json and result.json's config are the same run (they differ only in the speed switches "
                f"{keys}: it was resumed with other ones)" if keys else "config.json is result.json's config")
        report.add("config", True, f"{same}, and its hash names the folder ({config.short_hash()})")
    if not _check_records(report, run, config, result):
        return report
    masks = _check_masks(report, run, config, result)
    model = build_model(config)
    for t in ticket_rounds(result):
        path = run.round(t).ticket_weights
        if not path.exists():
            report.missing_weights.append(t)
            continue
        if t not in masks:
            continue
        state = check_ticket_state(digests.load_torch(path), model, path, run.unit_of(path))
        nonzero = {k: int((state[k][~m] != 0).sum()) for k, m in masks[t].items()}
        if any(nonzero.values()):
            bad = {k: v for k, v in nonzero.items() if v}
            report.add("zeros", False, f"round {t}: {sum(bad.values())} pruned weights are not 0 in "
                       f"{run.relative(path)} ({bad})")
            continue
        report.add("zeros", True, f"round {t}: all {sum(int((~m).sum()) for m in masks[t].values()):,} pruned "
                   f"weights are exactly 0")
        if data is None:
            data = load_data(config, torch.device("cpu"), progress=False)
        model.load_state_dict(state)
        recorded = next(r for r in result["rounds"] if r["round"] == t)["test_accuracy"]
        with _threads(result["provenance"].get("torch_threads")):
            _, accuracy = evaluate(model, data, bf16=config.precision == "bf16", channels_last=config.channels_last)
        n = data.test_labels.numel()
        if accuracy != recorded:
            report.add("accuracy", False, f"round {t}: the saved ticket scores {accuracy!r} "
                       f"({round(accuracy * n)}/{n}) on the test split, the record says {recorded!r} "
                       f"({round(recorded * n)}/{n})")
        else:
            report.add("accuracy", True, f"round {t}: the saved ticket scores the recorded {accuracy:.4f} "
                       f"({round(accuracy * n)}/{n} test images)")
    return report


def missing_weights_message(report: AuditReport, config: RunConfig) -> str:
    return (f"{report.run} has no ticket weights for rounds {report.missing_weights}: it was recorded before runs "
            f"kept their trained ticket weights ({KEPT_SINCE}), so the zeros and the accuracy of its tickets cannot "
            f"be checked (its digests, config, records and masks were). To have them, record the run again into "
            f"another results root: `{rerun_command(config)}`.")
