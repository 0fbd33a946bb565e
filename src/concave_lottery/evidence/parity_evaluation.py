"""Parity's evaluation control: the bf16 tickets evaluated again in fp32.

A bf16 run (``precision = "bf16"``) trains its network under bf16 autocast, and it evaluates it under bf16
autocast too: the test pass that gives a ticket its recorded accuracy runs in the precision the run trained
in (:func:`concave_lottery.runs.training.evaluate`). So a bf16 ticket's recorded accuracy
:math:`a_\\mathrm{bf16}(\\theta_\\mathrm{bf16})` mixes two effects: the weights that bf16 training reached, and
bf16 rounding in the evaluation's own forward pass. The fp32 ticket it is compared with
(:mod:`concave_lottery.evidence.parity`) has neither.

This module separates them. :func:`record` evaluates every saved bf16 ticket of a parity spec again, from
its committed weights (verified against the run's digests):

- in bf16, as the run did: :math:`a_\\mathrm{bf16}(\\theta_\\mathrm{bf16})` again, which reproduces the record
  on the kernels that computed it (emulated bf16 on a CPU without it rounds otherwise, so the file says how
  many it reproduced);
- in fp32: :math:`a_\\mathrm{fp32}(\\theta_\\mathrm{bf16})`, the accuracy of the weights bf16 training reached,
  measured the way the fp32 tickets were.

and writes both to one JSON file with its provenance (``scripts/parity_evaluation.py``; the book reads it,
it never evaluates). :func:`reread` replaces each bf16 ticket's accuracy by its fp32 evaluation, and
:func:`sentence` compares the parity comparison's accuracy rows before and after: a difference beyond the fp32
seed spread that stays beyond it comes from training in bf16, not from evaluating in it.

Each entry stores the sha256 of the ticket weights it evaluated; :func:`load` keeps only the entries whose
weights are still the run's (its ``digests.json`` lists that digest), so a file recorded for other or
changed tickets is detected and not used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import CorruptFile
from . import tables

__all__ = ["FILE", "FORMAT", "record", "load", "reread", "compare_reread", "sentence"]

#: Where the chapter reads the evaluations, relative to the results root (beside the memory-format control).
FILE = "parity-control/fp32-evaluation.json"
FORMAT = 1
_ENTRY = {"run": str, "model": str, "round": int, "weights_sha256": str, "test_images": int, "recorded": float,
          "bf16": float, "fp32": float}


def _run_key(run_dir: Path | str) -> str:
    """A run's name in the file: ``<preset>/<run folder>``, relative to any results root."""
    path = Path(run_dir)
    return f"{path.parent.name}/{path.name}"


def record(spec: str, root: str, out: Path | str, *, models: Sequence[str] | None = None,
           command: str = "", progress: bool = True) -> dict[str, Any]:
    """Evaluate every saved ticket of the finished bf16 runs of ``spec`` under ``root`` in bf16 and in fp32
    (each with the memory format the run trained in) and write the JSON file ``out``; returns its content."""
    import torch
    from tqdm.auto import tqdm

    from ..runs.config import RunConfig
    from ..runs.digests import Digests
    from ..runs.lottery import load_data
    from ..runs.paths import RunDir
    from ..runs.results import check_finished_run, load_result, now, provenance
    from ..runs.tickets import build_model, check_ticket_state, ticket_rounds
    from ..runs.training import evaluate
    from . import tiers

    layer = tiers.gather("recorded", spec, root, models=models, compute=False)
    started, entries, device = now(), [], torch.device("cpu")
    todo = []  # (run, its digests, config, result, the rounds with saved ticket weights), config read once per run
    for task in layer.tasks:
        if task.config.precision != "bf16" or not (Path(task.run_dir) / "result.json").exists():
            continue
        check_finished_run(Path(task.run_dir))
        run = RunDir(task.run_dir)
        digests = Digests(run)
        result = load_result(run.result)
        rounds = [t for t in ticket_rounds(result) if run.round(t).ticket_weights.exists()]
        todo.append((run, digests, RunConfig.from_dict(digests.read_json(run.config)), result, rounds))
    data, data_key = None, None
    bar = tqdm(total=sum(len(r[-1]) for r in todo), desc="bf16 tickets", unit="ticket", disable=not progress)
    for run, digests, config, result, rounds in todo:
        key = (config.dataset, config.train_subset, config.test_subset, config.seed)
        if key != data_key:  # the runs of one dataset come together: load it once for them
            data, data_key = load_data(config, device, progress=False), key
        model = build_model(config)
        accepted = digests.entries()
        for t in rounds:
            path = run.round(t).ticket_weights
            model.load_state_dict(check_ticket_state(digests.load_torch(path), model, path, run.unit_of(path)))
            recorded = next(r for r in result["rounds"] if r["round"] == t)["test_accuracy"]
            _, bf16 = evaluate(model, data, bf16=True, channels_last=config.channels_last)
            _, fp32 = evaluate(model, data, bf16=False, channels_last=config.channels_last)
            entries.append({"run": _run_key(run.path), "model": config.model, "round": t,
                            "weights_sha256": accepted[run.relative(path)][-1],
                            "test_images": int(data.test_labels.numel()), "recorded": float(recorded),
                            "bf16": float(bf16), "fp32": float(fp32)})
            bar.update()
    bar.close()
    content = {"format": FORMAT, "spec": spec, "command": command,
               "provenance": provenance(device, started, (now() - started).total_seconds()), "tickets": entries}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=1) + "\n")
    tmp.replace(out)
    return content


def _check(path: Path, content: Any) -> list[dict[str, Any]]:
    problem = None
    if not isinstance(content, dict) or content.get("format") != FORMAT or not isinstance(content.get("tickets"), list):
        problem = f"it is not an evaluation file of this library (format {FORMAT} with a list of 'tickets')"
    else:
        for i, entry in enumerate(content["tickets"]):
            bad = [k for k, kind in _ENTRY.items() if not isinstance(entry, dict) or not isinstance(entry.get(k), kind)
                   or (kind is float and not 0.0 <= entry[k] <= 1.0)]
            if bad:
                problem = f"its ticket {i} has no valid {', '.join(bad)}"
                break
    if problem:
        raise CorruptFile(f"{path} cannot be used: {problem}. Write it again with `python scripts/parity_evaluation.py "
                          f"SPEC` (see its --help).")
    return content["tickets"]


def load(path: Path | str, root: Path | str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The evaluations in ``path`` (one row per ticket: ``run``, ``round``, ``recorded``, ``bf16``, ``fp32``,
    ``test_images``, and ``current``: whether the run under ``root`` still has exactly those weights) and the
    file's provenance. A file that is not JSON or not of this shape raises :class:`CorruptFile`."""
    from ..runs.digests import Digests
    from ..runs.paths import RunDir

    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptFile(f"{path} is not valid JSON ({exc}), so it is not used.") from None
    rows = []
    for entry in _check(path, content):
        run = RunDir(Path(root) / entry["run"])
        try:
            known = Digests(run).entries().get(run.relative(run.round(entry["round"]).ticket_weights), [])
        except CorruptFile:
            known = []
        rows.append({**{k: entry[k] for k in _ENTRY}, "current": entry["weights_sha256"] in known})
    columns = [*_ENTRY, "current"]
    return pd.DataFrame(rows, columns=columns), content.get("provenance") or {}


def reread(points: pd.DataFrame, evaluated: pd.DataFrame) -> pd.DataFrame:
    """The parity points (:func:`concave_lottery.evidence.parity.with_precision`) with every bf16 ticket's
    ``test_accuracy`` replaced by its fp32 evaluation; bf16 tickets without a current evaluation are left
    out (their pairs then drop from the comparison), fp32 tickets are kept as they are."""
    if points.empty:
        return points
    current = evaluated[evaluated["current"]] if len(evaluated) else evaluated
    fp32 = {(r["run"], int(r["round"])): r["fp32"] for r in current.to_dict("records")}
    out = points.copy()
    keys = [(_run_key(d), int(t)) for d, t in zip(out["run_dir"], out["round"], strict=True)]
    is_bf16 = out["precision"] == "bf16"
    keep = ~is_bf16 | pd.Series([k in fp32 for k in keys], index=out.index)
    out.loc[is_bf16, "test_accuracy"] = [fp32.get(k, math.nan) for k, b in zip(keys, is_bf16, strict=True) if b]
    return out[keep].reset_index(drop=True)


def compare_reread(points: pd.DataFrame, evaluated: pd.DataFrame) -> pd.DataFrame:
    """:func:`concave_lottery.evidence.parity.compare` of the ticket accuracy, the bf16 tickets evaluated in
    fp32 (:func:`reread`)."""
    from . import parity

    return parity.compare(reread(points, evaluated), {"test_accuracy": parity.QUANTITIES["test_accuracy"]})


def sentence(rows: pd.DataFrame, again: pd.DataFrame, evaluated: pd.DataFrame, provenance: dict[str, Any],
             source: str) -> str:
    """What the fp32 evaluation says: how far it moves the bf16 tickets' accuracy (per model), whether the bf16
    evaluation redone reproduced the records, and how many of the ticket-accuracy comparisons beyond the
    fp32 seed spread (``rows``, :func:`~concave_lottery.evidence.parity.compare`) stay beyond it when the bf16
    tickets are read in fp32 (``again``, :func:`compare_reread`). Empty without evaluations."""
    from . import parity

    if evaluated.empty:
        return ""
    stale = int((~evaluated["current"]).sum())
    used = evaluated[evaluated["current"]]
    if used.empty:
        return (f"`{source}` evaluates bf16 tickets that are no longer the recorded ones ({stale} of them), so it is "
                "not used; `python scripts/parity_evaluation.py` writes it again.")
    change = used["fp32"] - used["bf16"]
    model = used["model"].map(parity._model_name)
    per_model = ", ".join(
        f"by {parity._pp(float(change[model == name].mean()))} pp on average and at most "
        f"{100 * float(change[model == name].abs().max()):.2f} pp for {name} "
        f"({tables.count_noun(int((model == name).sum()), 'ticket')})" for name in dict.fromkeys(model))
    reproduced = int((used["bf16"] == used["recorded"]).sum())
    where = provenance.get("device") or "a CPU"
    text = (f"The bf16 runs evaluate in bf16 too (autocast covers the test pass), so a bf16 ticket's recorded "
            f"accuracy mixes bf16 training with bf16 evaluation. `{source}` evaluates the saved bf16 tickets again "
            f"from their committed weights, in bf16 and in fp32 ({where}, "
            f"{str(provenance.get('started', ''))[:10] or 'date not recorded'}). Evaluated in fp32, their accuracy "
            f"moves {per_model}. The bf16 evaluation redone reproduced the recorded accuracy of "
            f"{reproduced} of {len(used)} tickets")
    text += "." if reproduced == len(used) else (" (the others were computed with other bf16 kernels; a run's "
                                                  "provenance names them).")
    key = list(parity.KEYS)
    before = rows[(rows["quantity"] == parity.QUANTITIES["test_accuracy"]) & rows["reading"].isin(
        [parity.WITHIN, parity.BEYOND])] if len(rows) else rows
    after = again.set_index(key)["reading"].to_dict() if len(again) else {}
    compared = [r for r in before.to_dict("records") if after.get(tuple(r[k] for k in key)) in (parity.WITHIN,
                                                                                                parity.BEYOND)]
    beyond = [r for r in compared if r["reading"] == parity.BEYOND]
    stay = [r for r in beyond if after[tuple(r[k] for k in key)] == parity.BEYOND]
    enter = [r for r in compared if r["reading"] == parity.WITHIN and after[tuple(r[k] for k in key)] == parity.BEYOND]
    if compared:
        text += (f" Read with the bf16 tickets evaluated in fp32, {len(stay)} of the {len(beyond)} ticket-accuracy "
                 f"comparisons beyond the fp32 seed spread stay beyond it")
        text += f", and {len(enter)} within it move beyond" if enter else ""
        if beyond and len(stay) == len(beyond):
            text += ": those differences come from the bf16 runs' training, not from their evaluation in bf16."
        elif beyond:
            text += (f": {len(beyond) - len(stay)} of them came from the evaluation in bf16, the other "
                     f"{len(stay)} from the bf16 runs' training.")
        else:
            text += "."
    if stale:
        text += (f" {tables.count_noun(stale, 'entry', 'entries')} of the file evaluate weights that are no longer the "
                 "recorded ones and are not used.")
    return text

