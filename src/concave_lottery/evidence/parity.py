"""bf16 against fp32 with the same seeds (issue 16, item 2): parity shown rather than assumed.

A run with ``precision = "bf16"`` trains the network under bf16 autocast (its products take bf16-rounded
inputs and accumulate in fp32, :mod:`concave_lottery.runs.precision`), so it is another run, in a folder of
its own (``...-bf16-seed0-<hash>``), and it is not assumed to find the same tickets. A parity spec
(``sweeps/parity-bf16.toml``) lists every run twice, ``precision = "fp32"`` and ``"bf16"``, with the same
seeds; its fp32 half is the recorded runs themselves (``fp32`` is left out of a run's identity). This module
reads such a spec's runs (never trains them, :func:`concave_lottery.evidence.tiers.gather` with
``compute=False``) and compares the two halves:

- the runs are **paired** by model, dataset, method label (``soft-l1``, ``imp``, ...), seed and round (IMP:
  level); for every pair and quantity q (the ticket's sparsity, its final test accuracy) the difference
  :math:`d_s = q_\\mathrm{bf16}(s) - q_\\mathrm{fp32}(s)` of seed s;
- the **yardstick** of a method and round is the fp32 seed-to-seed spread of the same quantity,
  :math:`S = \\max_s q_\\mathrm{fp32}(s) - \\min_s q_\\mathrm{fp32}(s)` (the range over the fp32 seeds);
- the **reading** (:func:`reading`) of the mean difference :math:`\\bar d` over the paired seeds:
  "within the seed spread" when :math:`|\\bar d| \\le S`, "beyond the seed spread" when
  :math:`|\\bar d| > S`, "pending" when one half is not recorded yet (no paired seed), and "no seed spread"
  when fewer than two fp32 seeds give no yardstick.

With two seeds per precision (the parity spec's), :math:`S` is a single difference
:math:`|q(0) - q(1)|`: a rough yardstick, and :func:`conclusion` says so. The issue's rule: if bf16 moves a
result beyond the seed spread, the conclusion says so and the recorded runs stay fp32. Whether a bf16 run
was computed natively or emulated is read from its provenance (``native_bf16``), never assumed.

**The memory-format control** (:func:`control`, ``sweeps/parity-control.toml``). Where the bf16 runs trained
channels_last and the fp32 runs contiguous, a difference mixes bf16 with the memory format (other kernels,
another summation order, which alone makes two trainings drift apart). The control trains some fp32 runs
again in channels_last (same names, under :data:`CONTROL_ROOT`) and compares them with the recorded fp32
runs the same way: where the memory format alone moves a result beyond the seed spread, a bf16 difference
beyond it is not laid on bf16 (:func:`control_sentence`).

**The evaluation control** (:mod:`concave_lottery.evidence.parity_evaluation`). A bf16 run evaluates its
tickets in bf16 too; the saved bf16 tickets evaluated again in fp32 (a recorded file) tell whether an
accuracy difference comes from training in bf16 or from evaluating in it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import analysis, tables, tiers

__all__ = ["QUANTITIES", "WITHIN", "BEYOND", "PENDING", "NO_SPREAD", "MODEL_NAMES", "reading", "with_precision",
           "compare", "status_table", "pending_runs", "conclusion", "Parity", "build", "gather", "CONTROL_ROOT",
           "control", "control_sentence"]

#: At most this many rows beyond the seed spread are named one by one in :func:`conclusion`; more are
#: counted per model (the table marks each).
LISTED = 4

#: The quantities compared, column of the ticket points → the word a reader reads.
QUANTITIES: dict[str, str] = {"sparsity": "sparsity", "test_accuracy": "ticket accuracy"}

WITHIN = "within the seed spread"
BEYOND = "beyond the seed spread"
PENDING = "pending"
NO_SPREAD = "no seed spread"

#: The names the book gives the models.
MODEL_NAMES: dict[str, str] = {"lenet300": "LeNet-300-100", "logreg": "logistic regression", "resnet20": "ResNet-20",
                               "resnet56": "ResNet-56", "wrn20": "WRN-20", "vgg11": "VGG-11"}

#: A difference this small counts as no difference (the sparsity of two IMP runs at one level is the same
#: fraction computed twice).
TOLERANCE = 1e-12

#: What identifies a pair: one row of the comparison per key and quantity.
KEYS = ("model", "dataset_label", "method_label", "round")


def reading(difference: float, spread: float) -> str:
    """The reading of a mean difference :math:`\\bar d` (bf16 − fp32) against the fp32 seed spread S:
    :data:`PENDING` when :math:`\\bar d` is NaN (a half not recorded), :data:`NO_SPREAD` when S is NaN
    (fewer than two fp32 seeds), else :data:`WITHIN` if :math:`|\\bar d| \\le S` and :data:`BEYOND` if not.
    Symmetric in the sign of :math:`\\bar d`; a difference within S stays within any larger spread."""
    if difference is None or math.isnan(difference):
        return PENDING
    if spread is None or math.isnan(spread):
        return NO_SPREAD
    return WITHIN if abs(difference) <= spread + TOLERANCE else BEYOND


def _label(method: str) -> str:
    return "IMP" if method == "imp" else method.replace("l1", "ℓ1")


def _model_name(model: str) -> str:
    return MODEL_NAMES.get(model, model)


def with_precision(layer: tiers.Layer) -> pd.DataFrame:
    """The layer's ticket points with the ``precision`` (``fp32`` or ``bf16``) of the run each comes from,
    taken from the spec's run configs (result files written before ``precision`` existed are fp32), and
    ``native_bf16`` from each run's provenance (missing where it was not recorded)."""
    points = layer.points.copy()
    if points.empty:
        return points.assign(precision=pd.Series(dtype=str), native_bf16=pd.Series(dtype=object))
    precision = {str(t.run_dir): t.config.precision for t in layer.tasks}
    points["precision"] = [precision.get(str(d), "fp32") for d in points["run_dir"]]
    native = points["prov_native_bf16"] if "prov_native_bf16" in points else pd.Series(None, index=points.index)
    points["native_bf16"] = [None if v is None or (isinstance(v, float) and math.isnan(v)) else bool(v)
                             for v in native]
    return points


def _one_per_seed(group: pd.DataFrame, precision: str, quantity: str, by: str = "precision") -> pd.Series:
    part = group[group[by] == precision]
    if part["seed"].duplicated().any():
        key = ", ".join(f"{k}={group.iloc[0][k]}" for k in KEYS)
        raise ValueError(f"two {precision} runs of the same seed at {key}: a parity spec lists every run once "
                         "per precision and seed")
    return part.set_index("seed")[quantity].astype(float).sort_index()


def compare(points: pd.DataFrame, quantities: Mapping[str, str] = QUANTITIES, *, by: str = "precision",
            base: str = "fp32", other: str = "bf16") -> pd.DataFrame:
    """One row per model, dataset, method, round and quantity of ``points`` (ticket points with a
    ``precision`` column, :func:`with_precision`): ``fp32`` and ``bf16`` (means over the paired seeds; over
    the seeds recorded when none is paired), ``difference`` (mean over the paired seeds of bf16 − fp32),
    ``differences`` (per paired seed, ``{seed: d}``), ``spread`` (range over the fp32 seeds, NaN for fewer
    than two), ``paired`` and ``fp32_seeds`` (counts), ``reading`` (:func:`reading`) and ``fixed`` (the
    quantity is the same in every run of both precisions, e.g. IMP's sparsity, set by the protocol).
    ``by``, ``base`` and ``other`` compare two other variants the same way (:func:`control`: the column
    ``variant``, ``contiguous`` against ``channels_last``); the output columns keep their names."""
    columns = [*KEYS, "quantity", "fp32", "bf16", "difference", "differences", "spread", "paired", "fp32_seeds",
               "reading", "fixed"]
    if points.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for key, group in points.groupby(list(KEYS), sort=False):
        for quantity, word in quantities.items():
            fp32 = _one_per_seed(group, base, quantity, by)
            bf16 = _one_per_seed(group, other, quantity, by)
            seeds = sorted(set(fp32.index) & set(bf16.index))
            differences = {int(s): float(bf16[s] - fp32[s]) for s in seeds}
            mean = sum(differences.values()) / len(seeds) if seeds else math.nan
            spread = float(fp32.max() - fp32.min()) if len(fp32) >= 2 else math.nan
            values = pd.concat([fp32, bf16])
            rows.append({**dict(zip(KEYS, key, strict=True)), "quantity": word,
                         "fp32": float(fp32[seeds].mean() if seeds else fp32.mean()) if len(fp32) else math.nan,
                         "bf16": float(bf16[seeds].mean() if seeds else bf16.mean()) if len(bf16) else math.nan,
                         "difference": mean, "differences": differences, "spread": spread, "paired": len(seeds),
                         "fp32_seeds": len(fp32), "reading": reading(mean, spread),
                         "fixed": bool(seeds) and float(values.max() - values.min()) <= TOLERANCE})
    table = pd.DataFrame(rows, columns=columns)
    order = {m: i for i, m in enumerate(dict.fromkeys(points["model"]))}
    table = table.sort_values(["model", "method_label", "round"], kind="stable", key=lambda c: (
        c.map(order) if c.name == "model" else c.map(analysis._order_key) if c.name == "method_label" else c))
    return table.reset_index(drop=True)


def status_table(layer: tiers.Layer) -> pd.DataFrame:
    """One row per run of the spec: model, method, seed, precision, status (finished / in progress / not
    started), rounds done of the total, and for a finished run its hardware, its device type (``cpu``,
    ``cuda``), its CPU kernels (``cpu_capability``: torch's ``AVX2``, ``AVX512``, ...) and ``native_bf16``
    (from its provenance; None where not recorded)."""
    prov: dict[str, dict[str, Any]] = {}
    if len(layer.runs):
        for run_dir, sub in layer.runs.groupby("run_dir", sort=False):
            first = sub.iloc[0]
            native = first.get("prov_native_bf16")
            kind = first.get("prov_device_type")
            kernels = first.get("prov_cpu_capability")
            prov[str(run_dir)] = {"hardware": first.get("prov_device"),
                                  "device_type": None if kind is None or pd.isna(kind) else str(kind),
                                  "cpu_capability": None if kernels is None or pd.isna(kernels) else str(kernels),
                                  "native_bf16": None if native is None or pd.isna(native) else bool(native)}
    rows = []
    for task, row in zip(layer.tasks, layer.status.to_dict("records"), strict=True):
        found = prov.get(str(task.run_dir), {})
        rows.append({"model": task.config.model, "method": row["method"], "seed": row["seed"],
                     "precision": task.config.precision, "status": row["status"], "rounds_done": row["rounds_done"],
                     "rounds_total": row["rounds_total"], "hardware": found.get("hardware"),
                     "device_type": found.get("device_type"), "cpu_capability": found.get("cpu_capability"),
                     "native_bf16": found.get("native_bf16"), "run": row["run"]})
    return pd.DataFrame(rows, columns=["model", "method", "seed", "precision", "status", "rounds_done",
                                       "rounds_total", "hardware", "device_type", "cpu_capability", "native_bf16",
                                       "run"])


def pending_runs(status: pd.DataFrame) -> str:
    """The runs of a :func:`status_table` not finished yet, grouped by model, method and precision:
    "ResNet-20 soft-ℓ1 bf16 seeds 0, 1 (not started)"; empty when every run is finished."""
    waiting = status[status["status"] != "finished"]
    parts = []
    for (model, method, precision), sub in waiting.groupby(["model", "method", "precision"], sort=False):
        seeds_by_state: dict[str, list[str]] = {}
        for r in sub.to_dict("records"):
            state = r["status"]
            if state == "in progress":
                unit = "levels" if method == "imp" else "rounds"
                state += f", {r['rounds_done']} of {r['rounds_total']} {unit} recorded"
            seeds_by_state.setdefault(state, []).append(str(r["seed"]))
        states = "; ".join(f"seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)}: {state}"
                           for state, seeds in seeds_by_state.items())
        parts.append(f"{_model_name(model)} {_label(method)} {precision} ({states})")
    return "; ".join(parts)


def _row_name(r: Mapping[str, Any], datasets: int = 1) -> str:
    where = f"level {r['round']}" + (" (dense)" if r["round"] == 0 else "") if r["method_label"] == "imp" \
        else f"round {r['round']}"
    model = _model_name(r["model"]) + (f" on {r['dataset_label']}" if datasets > 1 else "")
    return f"{model} {_label(r['method_label'])} {where}"


def _pp(x: float) -> str:
    """A difference of fractions in percentage points with its sign, "−0.12"; one that rounds to 0 is "0.00"."""
    text = f"{100 * x:+.2f}"
    return "0.00" if float(text) == 0 else text.replace("-", "−")


def _per_seed(r: Mapping[str, Any]) -> str:
    """A :func:`compare` row's mean difference and each paired seed's, "−0.50 (−0.40, −0.60)"."""
    return f"{_pp(r['difference'])} (" + ", ".join(_pp(d) for d in r["differences"].values()) + ")"


def _native_sentence(status: pd.DataFrame) -> str:
    done = status[(status["precision"] == "bf16") & (status["status"] == "finished")]
    if done.empty:
        return ""
    native = done["native_bf16"].tolist()
    hardware = ", ".join(sorted({str(h) for h in done["hardware"] if h is not None}))
    n = tables.count_noun(len(done), "finished bf16 run")
    runs = {1: "The finished bf16 run records", 2: "Both finished bf16 runs record"}.get(
        len(done), f"All {n} record")
    if all(v is False for v in native):
        return (f"{runs} native_bf16 = false in the provenance ({hardware}): bf16 was emulated there "
                "(products of bf16-rounded inputs, accumulated in fp32, computed without bf16 hardware), so "
                "this compares the numerics of bf16, not its speed.")
    if all(v is True for v in native):
        return f"{runs} native_bf16 = true in the provenance ({hardware}): bf16 ran on bf16 hardware."
    counts = {"true": sum(v is True for v in native), "false": sum(v is False for v in native),
              "not recorded": sum(v is None for v in native)}
    said = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    return f"Of the {n}, native_bf16 in the provenance is: {said} ({hardware})."


def _device_sentence(status: pd.DataFrame) -> str:
    """Where a model's finished bf16 runs ran on another kind of device than its fp32 runs (bf16 on a GPU,
    fp32 on a CPU), the sentence that says its differences mix bf16's effect with the device's; else ""."""
    if "device_type" not in status:
        return ""
    done = status[status["status"] == "finished"]
    mixed = []
    for model, sub in done.groupby("model", sort=False):
        kinds = {p: sorted({str(k) for k in sub.loc[sub["precision"] == p, "device_type"] if k is not None})
                 for p in ("fp32", "bf16")}
        if kinds["fp32"] and kinds["bf16"] and kinds["fp32"] != kinds["bf16"]:
            mixed.append(f"{_model_name(str(model))} (fp32 on {'/'.join(kinds['fp32'])}, bf16 on "
                         f"{'/'.join(kinds['bf16'])})")
    if not mixed:
        return ""
    return (f"Its halves ran on different kinds of device for {', '.join(mixed)}, so each difference there mixes "
            "bf16's effect with the device's (other kernels alone make two trainings drift apart): one within the "
            "spread still shows bf16 and the device together moved that result no more than the seeds do, one "
            "beyond it cannot be laid on bf16 alone.")


#: The memory-format control of the comparison (``sweeps/parity-control.toml``): some of the recorded fp32
#: runs trained again in fp32 but channels_last, the memory format the ResNet-20 bf16 runs trained in. They
#: have the recorded runs' names (the memory format is not part of a run's identity), so they live under a
#: results root of their own, this folder of the recorded root.
CONTROL_ROOT = "parity-control"
CONTIGUOUS, CHANNELS_LAST = "contiguous", "channels_last"


def _memory_format(points: pd.DataFrame) -> list[str]:
    """The memory format each point's run trained in, from its stored config (``channels_last``; a result
    file older than the field trained contiguous). Not the spec's: a spec may set channels_last for runs
    recorded before it said so (the memory format is not part of a run's identity)."""
    flags = points["channels_last"] if "channels_last" in points else pd.Series(False, index=points.index)
    return [CONTIGUOUS if f is None or pd.isna(f) or not bool(f) else CHANNELS_LAST for f in flags]


def control(points: pd.DataFrame, again: tiers.Layer) -> pd.DataFrame:
    """The memory-format control: :func:`compare` rows of the recorded fp32 runs trained contiguous
    (``points``, the parity layer's :func:`with_precision` points) against the same runs trained again in
    fp32 channels_last (``again``, the control layer), ``by="variant"``: the ``fp32`` column holds the
    contiguous value, ``bf16`` the channels_last one, ``difference`` channels_last − contiguous, and
    ``spread`` is still the fp32 seed spread of the recorded runs. Only the (model, dataset, method, round)
    that the control has finished are compared; empty when it has none."""
    if points.empty or again.points.empty:
        return compare(pd.DataFrame())
    base = points[points["precision"] == "fp32"]
    base = base.assign(variant=_memory_format(base))
    base = base[base["variant"] == CONTIGUOUS]
    other = again.points.assign(variant=_memory_format(again.points))
    other = other[other["variant"] == CHANNELS_LAST]
    keys = set(map(tuple, other[list(KEYS)].itertuples(index=False)))
    base = base[[tuple(r) in keys for r in base[list(KEYS)].itertuples(index=False)]]
    both = pd.concat([base, other], ignore_index=True)
    return compare(both, by="variant", base=CONTIGUOUS, other=CHANNELS_LAST)


def control_sentence(rows: pd.DataFrame, checked: pd.DataFrame, status: pd.DataFrame | None = None,
                     spec: str = "") -> str:
    """What the control (``checked``, :func:`control`) says about the bf16 comparison (``rows``,
    :func:`compare`) on the same rows: how many of its comparisons the memory format alone moved beyond
    the fp32 seed spread, beside how many bf16 moved there; and the control runs still pending (``status``,
    :func:`status_table` of the control spec). Empty when there is no control."""
    pending = pending_runs(status) if status is not None and len(status) else ""
    compared = checked[checked["reading"].isin([WITHIN, BEYOND]) & ~checked["fixed"].astype(bool)] \
        if len(checked) else checked
    if compared is None or compared.empty:
        return (f"The memory-format control (`{spec}`) is pending: {pending}." if pending else "")
    key = [*KEYS, "quantity"]
    bf16 = rows.set_index(key)["reading"].to_dict() if len(rows) else {}
    beyond = compared[compared["reading"] == BEYOND]
    bf16_beyond = sum(bf16.get(tuple(r)) == BEYOND for r in compared[key].itertuples(index=False))
    runs = ", ".join(dict.fromkeys(f"{_model_name(r['model'])} {_label(r['method_label'])}"
                                   for r in compared.to_dict("records")))
    seeds = int(compared["paired"].max())
    text = (f"Control: the fp32 runs of {runs} trained again ({tables.count_noun(seeds, 'seed')}), still fp32 but "
            f"in channels_last, the bf16 runs' memory format (`{spec}`). On the same "
            f"{tables.count_noun(len(compared), 'comparison')}, the memory format alone moved {len(beyond)} beyond "
            f"the fp32 seed spread, and bf16 with channels_last moved {bf16_beyond}. ")
    if len(beyond):
        text += ("Changing only the kernels' summation order moves these short runs beyond that spread too, so "
                 "two seeds understate how far any change of the arithmetic moves them: a bf16 difference beyond "
                 "the spread there shows that the runs changed, not that bf16 is what changed them.")
    else:
        text += ("The memory format alone stays within the spread there, so the differences beyond it on those "
                 "rows come with bf16, not with the memory format.")
    if pending:
        text += f" Control runs pending: {pending}."
    return text


def _kernel_sentence(status: pd.DataFrame) -> str:
    """Where a model's finished fp32 and bf16 runs all ran on CPUs but not with the same CPU kernels (torch's
    ``cpu_capability`` in the provenance, e.g. fp32 with AVX2, bf16 with AVX512), or the fp32 runs do not
    record theirs, the sentence that says so: the differences then mix bf16's effect with the kernels'; else
    "". A difference of device kind is :func:`_device_sentence`'s."""
    if "cpu_capability" not in status or "device_type" not in status:
        return ""
    done = status[status["status"] == "finished"]
    parts = []
    for model, sub in done.groupby("model", sort=False):
        if set(sub["device_type"].dropna()) != {"cpu"} or sub["device_type"].isna().any():
            continue
        kernels = {p: sub.loc[sub["precision"] == p, "cpu_capability"] for p in ("fp32", "bf16")}
        if not len(kernels["fp32"]) or not len(kernels["bf16"]) or kernels["bf16"].isna().any():
            continue
        bf16 = sorted({str(k) for k in kernels["bf16"]})
        fp32 = sorted({str(k) for k in kernels["fp32"].dropna()})
        unrecorded = int(kernels["fp32"].isna().sum())
        if not unrecorded and fp32 == bf16:
            continue
        if not fp32:
            said = "the fp32 runs' provenance does not record theirs"
        else:
            said = f"fp32 with {'/'.join(fp32)}" + (
                f", and {unrecorded} of {len(kernels['fp32'])} fp32 runs do not record theirs" if unrecorded else "")
        parts.append(f"{_model_name(str(model))} (bf16 with {'/'.join(bf16)} kernels; {said})")
    if not parts:
        return ""
    return (f"Its halves did not provably run with the same CPU kernels for {', '.join(parts)}: other kernels "
            "sum in another order, and that alone makes two trainings drift apart, so each difference there "
            "mixes bf16's effect with the kernels'; one within the spread still shows that both together moved "
            "that result no more than the seeds do.")


def conclusion(rows: pd.DataFrame, status: pd.DataFrame, spec: str) -> str:
    """One paragraph: how many comparisons (rows of :func:`compare` with both halves, leaving out those
    fixed by the protocol) were made and on what, which are beyond the fp32 seed spread, how sure this is
    (the number of fp32 seeds behind the spread), whether bf16 was native or emulated (from the
    provenance), the rule (beyond the spread: recorded runs stay fp32) and the runs still pending, with
    the command that records them."""
    compared = rows[rows["reading"].isin([WITHIN, BEYOND]) & ~rows["fixed"].astype(bool)]
    fixed = rows[rows["fixed"].astype(bool)]
    pending = pending_runs(status)
    command = f"`lottery sweep {spec}` (finished runs are skipped)"
    if compared.empty:
        text = (f"No run of `{spec}` has both its fp32 and its bf16 half recorded yet, so bf16 is not compared "
                "with fp32 here, and recorded runs stay fp32.")
        if pending:
            text += f" Pending: {pending}. The command that records them: {command}."
        return text
    beyond = compared[compared["reading"] == BEYOND]
    models = ", ".join(dict.fromkeys(_model_name(m) for m in compared["model"]))
    seeds = int(compared["fp32_seeds"].max())
    n = tables.count_noun(len(compared), "comparison")
    low, high = int(compared["paired"].min()), int(compared["paired"].max())
    paired = tables.count_noun(low, "paired seed") if low == high else f"{low} to {high} paired seeds"
    text = f"bf16 against fp32 on {models}: {n} (sparsity and ticket accuracy per method and round, {paired}), "
    if len(fixed):
        text += (f"leaving out {len(fixed)} that the protocol fixes (IMP's sparsity per level is the same by "
                 "construction); ")
    if beyond.empty:
        text += "none is beyond the fp32 seed spread: bf16 moved no result beyond the seed spread here."
    else:
        if len(beyond) <= LISTED:
            listed = "; ".join(f"{_row_name(r)} {r['quantity']}: {_pp(r['difference'])} pp against a spread of "
                               f"{100 * r['spread']:.2f} pp" for r in beyond.to_dict("records"))
        else:  # too many to read in a sentence: how many per model, each marked in the table
            listed = "; ".join(
                f"{_model_name(str(m))}: {int((beyond['model'] == m).sum())} of {int((compared['model'] == m).sum())}"
                for m in dict.fromkeys(compared["model"])) + ", each marked in the table"
        text += (f"{len(beyond)} beyond the fp32 seed spread ({listed}). bf16 moved "
                 f"{'this result' if len(beyond) == 1 else 'these results'} beyond the seed spread, so recorded "
                 "runs stay fp32.")
    if seeds == 2:
        text += (" How sure: with 2 fp32 seeds the spread of each row is one difference, |seed 0 − seed 1|, a "
                 "rough yardstick; a difference within it does not prove that bf16 changes nothing, and one "
                 "beyond it may still be chance.")
    else:
        text += f" The spread of each row is the range over {seeds} fp32 seeds."
    zero = int((beyond["spread"] <= TOLERANCE).sum())
    if zero:
        text += (f" {zero} of the rows beyond it {'has' if zero == 1 else 'have'} a spread of 0 (the fp32 seeds "
                 "gave the same value), so any difference at all reads as beyond there.")
    for sentence in (_native_sentence(status), _device_sentence(status), _kernel_sentence(status)):
        if sentence:
            text += " " + sentence
    if pending:
        text += (f" Pending: {pending}; the command that records them: {command}. Until they are recorded, "
                 "recorded runs stay fp32 for the models they concern.")
    return text


@dataclass
class Parity:
    """The parity comparison of one spec: its ``layer`` (runs read, never trained), ``status`` (one row per
    run, :func:`status_table`), ``points`` (tickets with their precision, :func:`with_precision`), ``rows``
    (:func:`compare`), ``text`` (:func:`conclusion`, with :func:`control_sentence`) and ``checked`` (the
    memory-format control, :func:`control`)."""

    spec: str
    layer: tiers.Layer
    status: pd.DataFrame
    points: pd.DataFrame
    rows: pd.DataFrame
    text: str
    #: :func:`control` rows: None without a control spec, empty while its runs are not finished
    checked: pd.DataFrame | None = None
    #: the bf16 tickets evaluated again in fp32 (:func:`concave_lottery.evidence.parity_evaluation.load`), and
    #: the ticket-accuracy rows of :func:`compare` with the bf16 tickets read that way; None without the file
    evaluated: pd.DataFrame | None = None
    reread: pd.DataFrame | None = None

    def shown(self) -> pd.DataFrame:
        """The rows a page shows: both halves recorded, not fixed by the protocol; readable columns (percent
        and percentage points, differences per seed in parentheses)."""
        rows = self.rows[(self.rows["reading"] != PENDING) & ~self.rows["fixed"].astype(bool)]
        datasets = self.rows.groupby("model")["dataset_label"].nunique().to_dict() if len(self.rows) else {}
        out = [{"ticket": _row_name(r, datasets.get(r["model"], 1)), "quantity": r["quantity"],
                "fp32 → bf16 (%)": f"{100 * r['fp32']:.2f} → {100 * r['bf16']:.2f}",
                "bf16 − fp32 (pp), per seed": _per_seed(r),
                "fp32 seed spread (pp)": f"{100 * r['spread']:.2f}" if not math.isnan(r["spread"]) else "—",
                "reading": r["reading"]} for r in rows.to_dict("records")]
        return pd.DataFrame(out, columns=["ticket", "quantity", "fp32 → bf16 (%)", "bf16 − fp32 (pp), per seed",
                                          "fp32 seed spread (pp)", "reading"])

    def table(self) -> tables.FitTable:
        """:meth:`shown` for a page (:func:`concave_lottery.evidence.tables.fit_table`)."""
        return tables.fit_table(self.shown())

    def control_shown(self) -> pd.DataFrame:
        """The memory-format control beside the bf16 differences of the same rows: ticket, quantity,
        channels_last − contiguous per seed, bf16 − fp32 per seed, the fp32 seed spread and the control's
        reading (empty without a control)."""
        columns = ["ticket", "quantity", "channels_last − contiguous, fp32 (pp)", "bf16 − fp32 (pp)",
                   "fp32 seed spread (pp)", "reading (memory format)"]
        checked = self.checked
        if checked is None or checked.empty:
            return pd.DataFrame(columns=columns)
        checked = checked[(checked["reading"] != PENDING) & ~checked["fixed"].astype(bool)]
        bf16 = self.rows.set_index([*KEYS, "quantity"]) if len(self.rows) else None

        out = []
        for r in checked.to_dict("records"):
            key = tuple(r[k] for k in (*KEYS, "quantity"))
            other = bf16.loc[key] if bf16 is not None and key in bf16.index else None
            out.append({"ticket": _row_name(r), "quantity": r["quantity"], columns[2]: _per_seed(r),
                        columns[3]: _per_seed(other) if other is not None and other["paired"] else "—",
                        columns[4]: f"{100 * r['spread']:.2f}" if not math.isnan(r["spread"]) else "—",
                        columns[5]: r["reading"]})
        return pd.DataFrame(out, columns=columns)

    def show(self) -> None:
        """Display the table (when a pair is recorded), the memory-format control (when recorded) and the
        conclusion paragraph."""
        from IPython.display import Markdown, display

        if len(self.shown()):
            display(self.table())
        checked = self.control_shown()
        if len(checked):
            display(tables.fit_table(checked))
        display(Markdown(self.text))


def build(layer: tiers.Layer, spec: str, again: tiers.Layer | None = None, evaluation: str | None = None) -> Parity:
    """The :class:`Parity` of an already gathered layer (its ``points`` may be synthetic in tests), with the
    memory-format control ``again`` (a gathered layer of the control spec) where there is one, and the bf16
    tickets' fp32 evaluation (the file ``evaluation``, :mod:`~concave_lottery.evidence.parity_evaluation`)
    where it exists."""
    status = status_table(layer)
    points = with_precision(layer)
    rows = compare(points)
    text = conclusion(rows, status, spec)
    checked = None
    if again is not None:
        checked = control(points, again)
        sentence = control_sentence(rows, checked, status_table(again), again.specs[0] if again.specs else "")
        text += (" " + sentence) if sentence else ""
    evaluated = reread = None
    if evaluation is not None and Path(evaluation).exists():
        from . import parity_evaluation

        evaluated, provenance = parity_evaluation.load(evaluation, layer.root)
        reread = parity_evaluation.compare_reread(points, evaluated)
        sentence = parity_evaluation.sentence(rows, reread, evaluated, provenance, evaluation)
        text += (" " + sentence) if sentence else ""
    elif evaluation is not None and len(rows) and rows["reading"].isin([WITHIN, BEYOND]).any():
        text += (" The bf16 tickets are not evaluated in fp32 yet, so whether an accuracy difference comes from "
                 f"training in bf16 or from evaluating in it is not known here: `python scripts/parity_evaluation.py "
                 f"{spec} --root {layer.root}` writes `{evaluation}`.")
    return Parity(spec, layer, status, points, rows, text, checked, evaluated, reread)


def gather(spec: str, root: str, *, models: Sequence[str] | None = None, control_spec: str | None = None,
           control_root: str | None = None, evaluation: str | None = None) -> Parity:
    """The parity comparison of the sweep spec ``spec`` (fp32 and bf16 runs with the same seeds) under the
    results root ``root``: its runs read, never trained, paired and read against the fp32 seed spread. With
    ``control_spec`` (``sweeps/parity-control.toml``), the memory-format control too, read under
    ``control_root`` (default: the :data:`CONTROL_ROOT` folder of ``root``). With ``evaluation`` (a file of
    :func:`concave_lottery.evidence.parity_evaluation.record`, read when it exists), the bf16 tickets'
    accuracy evaluated in fp32 too."""
    layer = tiers.gather("recorded", spec, root, models=models, compute=False)
    again = None
    if control_spec is not None:
        where = control_root if control_root is not None else str(Path(root) / CONTROL_ROOT)
        again = tiers.gather("recorded", control_spec, where, models=models, compute=False)
    return build(layer, spec, again, evaluation)
