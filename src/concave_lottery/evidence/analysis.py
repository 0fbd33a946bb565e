"""Tables over many lottery runs: which runs of a sweep exist, means over seeds, and comparisons.

The lottery chapters read recorded runs (``result.json``, see :mod:`concave_lottery.results`) and
turn them into the numbers they print. Everything here works on the DataFrame of
:func:`concave_lottery.results.load_runs` (one row per run and round) or on sweep tasks
(:mod:`concave_lottery.sweep`):

- :func:`spec_tables` reads a sweep spec's ``[[grid]]`` tables with the seeds and overrides a
  chapter asks for; :func:`run_status` says which of its runs are finished, in progress or missing;
- :func:`tickets` labels every ticket by method (``soft-l1``, ``soft-log``, ``hard-log``, ``sigmoid``,
  ``imp``); :func:`summarize_rounds` gives mean, std and the number of seeds per method and round;
  :func:`dense_reference` is IMP's level 0 (the dense network);
- :func:`accuracy_at_sparsity` interpolates every seed's accuracy-sparsity curve at common
  sparsities (linear in log remaining fraction, only between rounds at most
  :data:`MAX_INTERPOLATION_GAP` apart), so methods whose rounds land at different sparsities can be
  compared at matched sparsity, and :func:`compare_methods` says which method wins
  there and whether the gap exceeds the seed spread;
- :func:`mask_distribution_table` flattens the mask distribution recorded before each round's pruning
  (``mask_before_pruning``) and :func:`sparsity_at_alpha` turns it into the sparsity any threshold
  α would have given, without a run per α;
- :func:`epoch_metrics` loads the per-epoch metrics of the search and ticket phases.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from ..runs.config import method_label  # a run's curve label, defined with the config
from ..runs.digests import Digests
from ..runs.paths import RunDir
from ..runs.results import RESULT_FILE, load_result
from ..runs.sweep import RunTask

__all__ = [
    "log_removed",
    "METHOD_ORDER",
    "method_label",
    "spec_tables",
    "run_status",
    "finished_results",
    "tickets",
    "summarize_rounds",
    "dense_reference",
    "default_targets",
    "MAX_INTERPOLATION_GAP",
    "accuracy_at_sparsity",
    "compare_methods",
    "mask_distribution_table",
    "alpha_columns",
    "sparsity_at_alpha",
    "epoch_metrics",
    "calibration_frame",
    "pruning_rows",
    "penalty_drift",
    "pick_setting",
]

#: The order methods are listed in (tables, legends).
METHOD_ORDER = ("soft-l1", "soft-log", "hard-l1", "hard-log", "sigmoid", "imp")


#: The columns of a run's config that :func:`method_label` reads.
LABEL_KEYS = ("method", "regularizer", "preset", "mask_lr_scale")


def _order_key(label: str) -> float:
    if label in METHOD_ORDER:
        return METHOD_ORDER.index(label)
    base = label.split("-")[0]  # a variant (sigmoid-lr1) right after its method
    return METHOD_ORDER.index(base) + 0.5 if base in METHOD_ORDER else len(METHOD_ORDER)


# ------------------------------------------------------------------------------ sweeps and runs


def spec_tables(spec: str | Path, *, seeds: Sequence[int] | None = None,
                overrides: Mapping[str, Any] | None = None, root: str | Path | None = None) -> list[dict[str, Any]]:
    """The ``[[grid]]`` tables of a sweep spec, with ``seed`` replaced by ``seeds`` (when given) and
    every key of ``overrides`` set in every table (e.g. ``epochs=1`` for a smoke test). A relative
    ``spec`` is read from ``root`` (default: the current directory, the repository root when the book
    pipeline executes a chapter); a spec that is not there is a :class:`ParameterError` naming it."""
    path = Path(spec)
    if root is not None and not path.is_absolute():
        path = Path(root) / path
    from ..runs.sweep import read_spec  # the one reader (and checker) of spec files

    tables = read_spec(path)["grid"]
    out = []
    for table in tables:
        table = dict(table)
        if seeds is not None:
            table["seed"] = [int(s) for s in seeds]
        table.update(dict(overrides or {}))
        out.append(table)
    return out


def _rounds_expected(task: RunTask) -> int:
    config = task.config
    return config.rounds + 1 if config.method == "imp" else config.rounds


def run_status(tasks: Iterable[RunTask]) -> pd.DataFrame:
    """One row per task: ``run`` (preset/name), method label, seed, ``rounds_done`` of
    ``rounds_total`` recorded so far, and ``status``: finished, in progress or not started."""
    rows = []
    for task in tasks:
        config = task.config
        run_dir = task.run_dir
        total = _rounds_expected(task)
        done = sum(r.record.exists() for r in RunDir(run_dir).rounds()) if run_dir.is_dir() else 0
        if task.finished:
            status = "finished"
        elif run_dir.is_dir():
            status = "in progress"
        else:
            status = "not started"
        rows.append({"run": f"{config.preset}/{run_dir.name}", "method": method_label(config.to_dict()),
                     "seed": config.seed, "rounds_done": done, "rounds_total": total, "status": status,
                     "result": str(run_dir / RESULT_FILE)})
    return pd.DataFrame(rows, columns=["run", "method", "seed", "rounds_done", "rounds_total", "status", "result"])


def finished_results(status: pd.DataFrame) -> list[str]:
    """The ``result.json`` paths of the finished runs of a :func:`run_status` table."""
    return list(status.loc[status["status"] == "finished", "result"])


# ------------------------------------------------------------------------------ tickets


def tickets(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`~concave_lottery.results.load_runs` that hold a trained ticket, with a
    ``method_label`` column and ``remaining_fraction`` = 1 - sparsity."""
    if df.empty:
        return df.assign(method_label=pd.Series(dtype=str), remaining_fraction=pd.Series(dtype=float))
    out = df.copy()
    keys = [k for k in LABEL_KEYS if k in out.columns]
    out["method_label"] = [method_label(r) for r in out[keys].to_dict("records")]
    out = out[out["test_accuracy"].notna()].copy()
    out["remaining_fraction"] = 1.0 - out["sparsity"]
    return out


def summarize_rounds(points: pd.DataFrame, *, by: Sequence[str] = ("method_label", "round"),
                     values: Sequence[str] = ("sparsity", "test_accuracy", "best_test_accuracy")) -> pd.DataFrame:
    """Mean and std over seeds (``<value>_mean``, ``<value>_std``) and ``n_seeds`` per group, methods in
    :data:`METHOD_ORDER`. The std of one seed is NaN."""
    by = list(by)
    columns = [*by, "n_seeds", *(f"{v}_{s}" for v in values for s in ("mean", "std")), "remaining_mean"]
    if points.empty:
        return pd.DataFrame(columns=columns)
    grouped = points.groupby(by, sort=False)
    table = grouped[list(values)].agg(["mean", "std"])
    table.columns = [f"{v}_{s}" for v, s in table.columns]
    table.insert(0, "n_seeds", grouped["seed"].nunique())
    table = table.reset_index()
    if "sparsity_mean" in table:
        table["remaining_mean"] = 1.0 - table["sparsity_mean"]
    if "method_label" in by:
        table = table.sort_values(by, key=lambda c: c.map(_order_key) if c.name == "method_label" else c)
    return table.reset_index(drop=True)


def dense_reference(points: pd.DataFrame, accuracy: str = "test_accuracy") -> dict[str, float]:
    """The dense network's accuracy: IMP level 0 (sparsity 0), mean and std over seeds (``n`` = 0 when
    no IMP run is recorded)."""
    if points.empty:
        return {"mean": math.nan, "std": math.nan, "n": 0}
    dense = points[(points["method"] == "imp") & (points["round"] == 0)]
    return {"mean": float(dense[accuracy].mean()) if len(dense) else math.nan,
            "std": float(dense[accuracy].std()) if len(dense) > 1 else math.nan,
            "n": int(dense["seed"].nunique())}


def near_dense_spread(points: pd.DataFrame, accuracy: str = "test_accuracy", *,
                      max_sparsity: float = 0.01) -> dict[str, float]:
    """How far apart the accuracies of the *nearly dense* tickets are (sparsity ≤ ``max_sparsity``:
    IMP level 0, and every round of any method or seed that pruned almost nothing).

    Those tickets differ only in their seed and round (each round trains with its own data order, see
    ``LotteryRun._phase_seed``), not in their mask, so their range is a floor on the training noise of
    one ticket at the run's budget: a gap between two single-seed curves smaller than ``range`` can be
    that noise alone. ``n`` = 0 (and NaN figures) when fewer than two such tickets exist.
    """
    near = points[points["sparsity"] <= max_sparsity] if len(points) else points
    if len(near) < 2:
        return {"n": len(near), "min": math.nan, "max": math.nan, "range": math.nan}
    values = near[accuracy].astype(float)
    return {"n": len(near), "min": float(values.min()), "max": float(values.max()),
            "range": float(values.max() - values.min())}


# ------------------------------------------------------------------------------ matched sparsity


def default_targets(points: pd.DataFrame, *, min_gap: float = 0.01) -> list[float]:
    """The sparsities to compare methods at: the mean sparsity of every (method, round) with some
    pruning, merged when two lie within ``min_gap`` of each other."""
    if points.empty:
        return []
    means = points[points["sparsity"] > 0].groupby(["method_label", "round"])["sparsity"].mean()
    targets: list[float] = []
    for s in sorted(means):
        if not targets or s - targets[-1] >= min_gap:
            targets.append(float(s))
    return targets


def log_removed(sparsity: Any) -> Any:
    """:math:`-\\ln(1 - s)`, minus the log of the fraction of weights that remain: the axis on which
    sparsities are matched and interpolated (equal steps are equal ratios of remaining weights; IMP's 20%
    levels are ln 1.25 apart)."""
    return -np.log(np.clip(1.0 - np.asarray(sparsity, dtype=float), 1e-12, None))


#: Widest gap, in log remaining fraction, that :func:`accuracy_at_sparsity` interpolates across:
#: ln 2, the remaining weights at most halve between the two recorded points (IMP's 20% levels are
#: ln 1.25 = 0.22 apart). Across a wider jump the accuracy in between was never measured.
MAX_INTERPOLATION_GAP = math.log(2.0)


def _accuracy_at(x: np.ndarray, y: np.ndarray, xt: float, tolerance: float, max_gap: float) -> float | None:
    """One seed's accuracy at ``xt`` (log removed fraction) from its sorted points ``x``, ``y``: the
    nearest point within ``tolerance``, else the linear interpolation between the two points around
    ``xt`` when they are at most ``max_gap`` apart, else None (not measured there)."""
    hi = int(np.searchsorted(x, xt))
    if 0 < hi < len(x) and x[hi] - x[hi - 1] <= max_gap + 1e-9:
        return float(np.interp(xt, x, y))
    nearest = int(np.argmin(np.abs(x - xt)))
    if abs(x[nearest] - xt) <= tolerance:
        return float(y[nearest])
    return None


def accuracy_at_sparsity(points: pd.DataFrame, targets: Sequence[float], *, accuracy: str = "test_accuracy",
                         label: str = "method_label", tolerance: float = 0.05,
                         max_gap: float = MAX_INTERPOLATION_GAP) -> pd.DataFrame:
    """Each seed's accuracy at each target sparsity, from its recorded points (rounds) only.

    With :math:`x = -\\log(1 - \\text{sparsity})` (log of the remaining fraction), a seed counts at a
    target :math:`x_t` when

    - two of its points :math:`x_i < x_t < x_{i+1}` lie at most ``max_gap`` apart (default ln 2: the
      remaining weights at most halve between them): the accuracy is interpolated linearly in
      :math:`x` between them; or
    - one of its points lies within ``tolerance`` of :math:`x_t` (5%: a seed at 74.1% sparsity stands
      for 75%): that point's accuracy.

    Nothing else: no extrapolation beyond the recorded range, and no interpolation across a wider
    jump (a run that goes from 3% to 98% sparsity in one round says nothing about 50%).
    Columns: target, method, seed, accuracy."""
    for name, value in (("max_gap", max_gap), ("tolerance", tolerance)):
        if not value >= 0:
            raise ParameterError(name, value, f"{name} is a distance in log remaining fraction, >= 0")
    rows = []
    if points.empty or not len(targets):
        return pd.DataFrame(rows, columns=["target", "method", "seed", "accuracy"])
    for (method, seed), sub in points.groupby([label, "seed"], sort=False):
        sub = sub.sort_values("sparsity")
        x = log_removed(sub["sparsity"])
        y = sub[accuracy].to_numpy(dtype=float)
        for target in targets:
            value = _accuracy_at(x, y, float(log_removed(target)), tolerance, max_gap)
            if value is not None:
                rows.append({"target": float(target), "method": method, "seed": seed, "accuracy": value})
    return pd.DataFrame(rows, columns=["target", "method", "seed", "accuracy"])


def compare_methods(at_sparsity: pd.DataFrame, *, near_dense: float = math.nan) -> pd.DataFrame:
    """Which method wins at each target sparsity (rows of :func:`accuracy_at_sparsity`).

    Per target: every method's mean and std over seeds, the ``winner`` (highest mean), the
    ``runner_up``, their ``gap``, ``spread`` = sqrt(std_winner² + std_runner_up²) (NaN unless both
    have 2 seeds or more), the noise ``floor`` = the larger of that spread and ``near_dense`` (the
    near-dense spread of :func:`near_dense_spread`; see :mod:`concave_lottery.evidence.verdicts`),
    and a ``verdict``: the winner's name when the gap clears the floor, ``inconclusive`` when it
    does not or no floor is measured, ``only <method>`` when a single method reaches that sparsity."""
    from .verdicts import INCONCLUSIVE, noise_floor

    rows = []
    for target, sub in at_sparsity.groupby("target", sort=True):
        stats = sub.groupby("method")["accuracy"].agg(["mean", "std", "count"])
        stats = stats.loc[sorted(stats.index, key=_order_key)]
        row: dict[str, Any] = {"sparsity": float(target)}
        for method, s in stats.iterrows():
            row[f"{method}_mean"] = s["mean"]
            row[f"{method}_std"] = s["std"]
        ranked = stats.sort_values("mean", ascending=False)
        winner = ranked.index[0]
        row["winner"] = winner
        if len(ranked) == 1:
            row.update(runner_up=None, gap=math.nan, spread=math.nan, floor=math.nan, verdict=f"only {winner}")
        else:
            second = ranked.index[1]
            gap = float(ranked["mean"].iloc[0] - ranked["mean"].iloc[1])
            spread = float(math.hypot(ranked["std"].iloc[0], ranked["std"].iloc[1]))
            if ranked["count"].iloc[:2].min() < 2:
                spread = math.nan
            floor = noise_floor(spread, near_dense)
            verdict = winner if not math.isnan(floor) and gap > floor else INCONCLUSIVE
            row.update(runner_up=second, gap=gap, spread=spread, floor=floor, verdict=verdict)
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ masks and α


def mask_distribution_table(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per (run, round) with a recorded ``mask_before_pruning``: config columns, ``round``,
    ``sparsity``, ``q10``/``q50``/``q90`` of the surviving mask values before pruning, and
    ``below_<t>`` = the fraction of them below ``t`` (thresholds 0.001 ... 0.5), plus
    ``sparsity_before`` = the sparsity the round started from, and ``run_dir``."""
    rows = []
    for path in paths:
        result = load_result(path)
        base = {k: (tuple(v) if isinstance(v, list) else v) for k, v in result["config"].items()}
        base["method_label"] = method_label(result["config"])
        base["run_dir"] = str(Path(path).parent if Path(path).name == RESULT_FILE else path)
        before = 0.0
        for record in result["rounds"]:
            stats = record.get("mask_before_pruning") or {}
            if stats:
                row = dict(base, round=record["round"], sparsity=record["sparsity"], sparsity_before=before,
                           test_accuracy=record.get("test_accuracy"),
                           search_test_accuracy=record.get("search_test_accuracy"))
                row.update(stats.get("quantiles", {}))
                row.update({f"below_{t}": v for t, v in stats.get("fraction_below", {}).items()})
                rows.append(row)
            before = record["sparsity"]
    return pd.DataFrame(rows)


def alpha_columns(df: pd.DataFrame) -> list[tuple[float, str]]:
    """The thresholds recorded in a :func:`mask_distribution_table`: ``[(0.001, "below_0.001"), ...]``."""
    cols = [(float(c.removeprefix("below_")), c) for c in df.columns if c.startswith("below_")]
    return sorted(cols)


def sparsity_at_alpha(stats: pd.DataFrame) -> pd.DataFrame:
    """The sparsity each recorded threshold α would have given at the end of each round (the same
    search, pruning ``m < α`` instead of the run's α): ``s_before + (1 - s_before) * below_α``. Exact
    for round 1 (the search does not depend on α); for later rounds it changes only the last
    round's threshold. Long format: the config columns of ``stats``, alpha, sparsity_at_alpha."""
    cols = alpha_columns(stats)
    keep = [c for c in stats.columns if not c.startswith("below_")]
    long = stats.melt(id_vars=keep, value_vars=[c for _, c in cols], var_name="threshold",
                      value_name="fraction_below")
    long["alpha"] = long["threshold"].str.removeprefix("below_").astype(float)
    long["sparsity_at_alpha"] = long["sparsity_before"] + (1 - long["sparsity_before"]) * long["fraction_below"]
    return long.drop(columns="threshold")


# ------------------------------------------------------------------------------ per-epoch metrics


def epoch_metrics(run_dir: str | Path, phase: str = "search") -> pd.DataFrame:
    """The per-epoch metrics of one phase (``search`` or ``ticket``) of every recorded round of a run,
    with a ``round`` column."""
    frames = []
    run = RunDir(run_dir)
    digests = Digests(run)
    for t, path in run.phase_metrics(phase):
        data = digests.read_json(path)  # verified against its digest
        frame = pd.DataFrame(data["epochs"])
        frame.insert(0, "round", t)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# ------------------------------------------------------------------------------ calibration


def fluctuation(run_dir: str | Path, phase: str, last: int = 10) -> float:
    """How much a phase's test accuracy still moves at its end: max − min over the ``last`` epochs of
    the run's first recorded round of ``phase`` (NaN when the run has no such metrics)."""
    m = epoch_metrics(run_dir, phase)
    if m.empty:
        return math.nan
    tail = m[m["round"] == m["round"].min()].tail(last)["test_accuracy"]
    return float(tail.max() - tail.min())


def hours_by_device(runs: pd.DataFrame, *, median: bool = False) -> pd.DataFrame:
    """Training time of recorded runs per device (each run's provenance): runs and hours in all, and
    with ``median`` the median hours per run (rows of :func:`~concave_lottery.runs.results.load_runs`)."""
    prov = runs.drop_duplicates("run_dir")
    table = prov.groupby("prov_device")["prov_seconds"].agg(["count", "sum", *(["median"] if median else [])])
    table.columns = ["runs", "training hours, all runs", *(["median hours per run"] if median else [])]
    table.iloc[:, 1:] = table.iloc[:, 1:] / 3600
    return table


def fluctuation_table(points: pd.DataFrame, last: int = 10) -> pd.DataFrame:
    """Per method and seed (first recorded round): how much the search's and the ticket's test
    accuracy still move over their ``last`` epochs (max − min, in pp; :func:`fluctuation`)."""
    rows = [{"method": r.method_label, "seed": r.seed,
             f"search: max - min over the last {last} epochs (pp)": 100 * fluctuation(r.run_dir, "search", last),
             f"ticket: max - min over the last {last} epochs (pp)": 100 * fluctuation(r.run_dir, "ticket", last)}
            for r in points.sort_values(["seed", "round"]).drop_duplicates(["method_label", "seed"]).itertuples()]
    return pd.DataFrame(rows)


def calibration_frame(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per (run, round) of soft-mask runs: the calibrated knobs (``mask_lr_scale``,
    ``mask_weight_decay``, ``momentum``, ``alpha``, λ), ``effective_mask_lr`` = lr · mask_lr_scale /
    (1 - momentum) (the step SGD's momentum settles to), the round's sparsity and accuracies, and the
    mask statistics of :func:`mask_distribution_table`."""
    paths = list(paths)
    stats = mask_distribution_table(paths)
    if stats.empty:
        return stats
    stats["effective_mask_lr"] = stats["lr"] * stats["mask_lr_scale"] / (1.0 - stats["momentum"])
    extra = []
    for path in paths:
        result = load_result(path)
        for record in result["rounds"]:
            extra.append({"seed": result["config"]["seed"], "_hash": _config_key(result["config"]),
                          "round": record["round"], "best_test_accuracy": record.get("best_test_accuracy"),
                          "remaining_weights": record.get("remaining_weights"),
                          "seconds": record.get("seconds"), "device": result["provenance"].get("device")})
    stats["_hash"] = [_config_key(r) for r in stats.to_dict("records")]
    merged = stats.merge(pd.DataFrame(extra), how="left", on=["_hash", "seed", "round"])
    return merged.drop(columns="_hash")


def _config_key(config: Mapping[str, Any]) -> str:
    from ..runs.config import RunConfig

    known = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()
             if k in RunConfig.__dataclass_fields__}
    return RunConfig.from_dict(known).short_hash()


def penalty_drift(*, lam: float, derivative: float, lr: float, mask_lr_scale: float, momentum: float,
                  steps: int) -> float:
    """How far the penalty alone moves one mask entry in ``steps`` SGD steps: the gradient of
    λ r(m) is λ r'(m), the mask's step is lr · mask_lr_scale, and momentum μ multiplies a constant
    gradient's step by 1/(1 - μ). Compared with m_0 = 1/2, it says whether a round can push an
    entry to 0 at all (the cross-entropy gradient decides which entries it does)."""
    return steps * lr * mask_lr_scale * lam * derivative / (1.0 - momentum)


def pick_setting(frame: pd.DataFrame, knob: str, *, group: str = "method_label", tolerance: float = 0.005,
                 accuracy: str = "test_accuracy") -> pd.DataFrame:
    """Per ``group`` (e.g. regularizer): the value of ``knob`` that prunes most while its ticket stays
    within ``tolerance`` of the most accurate setting of that group. Columns: group, best_accuracy,
    chosen value, its sparsity and accuracy, and the number of settings compared."""
    rows = []
    for name, sub in frame.groupby(group, sort=False):
        sub = sub.dropna(subset=[accuracy])
        if sub.empty:
            continue
        best = float(sub[accuracy].max())
        ok = sub[sub[accuracy] >= best - tolerance].sort_values("sparsity")
        chosen = ok.iloc[-1]
        rows.append({group: name, "settings": len(sub), "best_accuracy": best, knob: chosen[knob],
                     "sparsity": float(chosen["sparsity"]), "accuracy": float(chosen[accuracy])})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ Table II


def pruning_rows(points: pd.DataFrame, dense: Mapping[str, float], *, accuracy: str = "test_accuracy",
                 methods: Sequence[str] = ("soft-l1", "soft-log")) -> pd.DataFrame:
    """Our rows of a Table II-style comparison: per method and round (mean over seeds), the dense
    ``baseline_accuracy`` (``dense``: :func:`dense_reference`), ``unpruned_percent`` (prunable weights
    kept), ``unpruned_all_percent`` (all parameters kept, biases and BatchNorm included), the ticket
    ``accuracy`` and ``accuracy_difference`` = accuracy − baseline, all in percent, and ``n_seeds``."""
    columns = ["method", "round", "n_seeds", "baseline_accuracy", "unpruned_percent", "unpruned_all_percent",
               "accuracy", "accuracy_difference"]
    sub = points[points["method_label"].isin(methods)] if len(points) else points
    if sub.empty:
        return pd.DataFrame(columns=columns)
    grouped = sub.groupby(["method_label", "round"], sort=False)
    table = grouped.agg(n_seeds=("seed", "nunique"), sparsity=("sparsity", "mean"),
                        parameter_sparsity=("parameter_sparsity", "mean"), acc=(accuracy, "mean")).reset_index()
    base = 100 * float(dense["mean"]) if dense.get("n") else math.nan
    out = pd.DataFrame({
        "method": table["method_label"], "round": table["round"], "n_seeds": table["n_seeds"],
        "baseline_accuracy": base, "unpruned_percent": 100 * (1 - table["sparsity"]),
        "unpruned_all_percent": 100 * (1 - table["parameter_sparsity"]), "accuracy": 100 * table["acc"],
    })
    out["accuracy_difference"] = out["accuracy"] - out["baseline_accuracy"]
    out = out.sort_values(["method", "unpruned_percent"], key=lambda c: c.map(_order_key) if c.name == "method"
                          else -c)
    return out.reset_index(drop=True)[columns]
