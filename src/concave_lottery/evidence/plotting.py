"""One seaborn style for every figure of the book, and the figures that recur across chapters.

Call :func:`set_style` once at the top of a chapter; every function here returns the matplotlib
``Figure`` (and draws on the current style), so a chapter's plotting cell is one line. Colours are
fixed per regularizer and per method (:data:`REGULARIZER_COLORS`, :data:`METHOD_COLORS`) so ℓ1 is
the same blue and log the same orange in every chapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .verdicts import MIN_GAP

__all__ = [
    "REGULARIZER_COLORS",
    "METHOD_COLORS",
    "set_style",
    "color_for",
    "plot_regularizers",
    "plot_trajectories",
    "plot_bound_check",
    "accuracy_vs_sparsity",
    "lambda_sweep",
    "styled_table",
]

_PALETTE = sns.color_palette("colorblind", 10)

#: One colour per regularizer family (by ``Regularizer.name``).
REGULARIZER_COLORS: dict[str, tuple[float, float, float]] = {
    "l1": _PALETTE[0],
    "log": _PALETTE[1],
    "lq": _PALETTE[2],
    "mcp": _PALETTE[4],
    "scad": _PALETTE[8],
}

#: One colour per lottery search method (later chapters).
METHOD_COLORS: dict[str, tuple[float, float, float]] = {
    "imp": _PALETTE[7],
    "soft-l1": _PALETTE[0],
    "soft-log": _PALETTE[1],
    "sigmoid": _PALETTE[2],  # green: the vermillion beside log's orange was hard to tell apart
    "hard-l1": _PALETTE[9],
    "hard-log": _PALETTE[5],
    "dense": (0.2, 0.2, 0.2),
}


def set_style(context: str = "notebook") -> None:
    """The book's style: seaborn ``whitegrid``, colour-blind palette, compact figures."""
    sns.set_theme(context=context, style="whitegrid", palette=_PALETTE, font_scale=0.95)
    mpl.rcParams.update({
        "figure.figsize": (7.0, 3.6),
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "figure.constrained_layout.use": True,
        "axes.titlesize": "medium",
        "axes.titleweight": "bold",
        "legend.frameon": False,
        "lines.linewidth": 1.8,
    })


def color_for(name: str, index: int = 0) -> tuple[float, float, float]:
    """The colour of a regularizer or method name (``"log(eps=0.1)"`` counts as ``log``)."""
    base = name.split("(")[0].strip().lower()
    if base in REGULARIZER_COLORS:
        return REGULARIZER_COLORS[base]
    if base in METHOD_COLORS:
        return METHOD_COLORS[base]
    return _PALETTE[index % len(_PALETTE)]


def plot_regularizers(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    families: Mapping[str, str] | None = None,
    derivative_ylim: tuple[float, float] | None = (0.0, 6.0),
) -> plt.Figure:
    """r(m) (left) and r'(m) (right) on [0, 1] for several regularizers.

    ``curves`` maps a label (e.g. ``"log(eps=0.1)"``) to ``(m, r(m), r'(m))`` arrays. Curves of one
    family share its colour with line styles cycling, so a sweep over ε reads at a glance.
    """
    fig, (ax_r, ax_d) = plt.subplots(1, 2, figsize=(9.0, 3.8))
    styles = ["-", "--", ":", "-."]
    seen: dict[str, int] = {}
    for label, (m, r, dr) in curves.items():
        fam = (families or {}).get(label, label.split("(")[0])
        i = seen.get(fam, 0)
        seen[fam] = i + 1
        kw = {"color": color_for(fam), "linestyle": styles[i % len(styles)], "label": label}
        ax_r.plot(m, r, **kw)
        ax_d.plot(m, dr, **kw)
    ax_r.plot([0, 1], [0, 1], color="0.6", linewidth=0.8, zorder=0)
    ax_r.set(xlabel="$m$", ylabel="$r(m)$", title="Regularizer $r(m)$", xlim=(0, 1), ylim=(0, 1.02))
    ax_d.set(xlabel="$m$", ylabel="$r'(m)$", title="Derivative $r'(m)$", xlim=(0, 1))
    if derivative_ylim is not None:
        ax_d.set_ylim(*derivative_ylim)
    ax_d.legend(loc="upper right", fontsize="small", ncol=1)
    return fig


def plot_trajectories(
    frames: Sequence[pd.DataFrame],
    titles: Sequence[str],
    *,
    ylabels: Sequence[str] | None = None,
) -> plt.Figure:
    """Iterates of each coordinate (one panel per method) from :func:`concave_lottery.toy.trajectory_frame`.

    Coordinates in the true support are drawn in colour, the others in grey, with the zero line.
    Two panels sit side by side, more are stacked (so the iterations stay readable).
    """
    n = len(frames)
    shape, size = ((1, n), (4.6 * n, 3.4)) if n <= 2 else ((n, 1), (7.0, 2.3 * n))
    fig, axes = plt.subplots(*shape, figsize=size, sharex=True)
    axes = np.atleast_1d(axes).ravel()
    for j, (ax, df, title) in enumerate(zip(axes, frames, titles, strict=True)):
        for coord, sub in df.groupby("coordinate"):
            in_support = bool(sub["in_support"].iloc[0])
            ax.plot(sub["step"], sub["value"], color=_PALETTE[coord % 10] if in_support else "0.55",
                    linewidth=1.6 if in_support else 1.0, alpha=1.0 if in_support else 0.8)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set(title=title, ylabel=(ylabels[j] if ylabels else "value"))
    axes[-1].set_xlabel("iteration")
    return fig


def plot_bound_check(df: pd.DataFrame, *, x: str = "bound_thm1", y: str = "error", hue: str = "regularizer",
                     flag: str | None = "thm1_holds") -> plt.Figure:
    """Measured error against a bound on log-log axes with the diagonal y = x; points above it
    violate the bound (circled in red when ``flag`` is False)."""
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    labels = list(dict.fromkeys(df[hue]))
    for i, lab in enumerate(labels):
        sub = df[df[hue] == lab]
        ax.scatter(sub[x], sub[y], s=14, alpha=0.6, color=color_for(lab, i), label=lab, edgecolor="none")
    if flag is not None and flag in df and (~df[flag]).any():
        bad = df[~df[flag]]
        ax.scatter(bad[x], bad[y], s=60, facecolor="none", edgecolor="red", linewidth=1.2, label="violation")
    positive = df[[x, y]].to_numpy()
    positive = positive[positive > 0]
    lo = float(positive.min()) / 2 if positive.size else 1e-3
    hi = float(positive.max()) * 2 if positive.size else 1.0
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.9, label="error = bound")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel=x.replace("_", " "),
           ylabel=y.replace("_", " "))
    ax.legend(loc="upper left", fontsize="small")
    return fig


def accuracy_vs_sparsity(df: pd.DataFrame, *, x: str = "sparsity", y: str = "accuracy", hue: str = "method",
                         errorbar: str | None = "sd", ax: plt.Axes | None = None) -> plt.Figure:
    """Test accuracy against sparsity (fraction of prunable weights removed), one line per ``hue``,
    mean and ``errorbar`` over seeds: the figure of the lottery chapters (paper Figs 5-9)."""
    if ax is None:
        fig, ax = plt.subplots()
    else:
        fig = ax.figure
    labels = list(dict.fromkeys(df[hue]))
    palette = {lab: color_for(str(lab), i) for i, lab in enumerate(labels)}
    sns.lineplot(df, x=x, y=y, hue=hue, palette=palette, marker="o", errorbar=errorbar, ax=ax)
    ax.set(xlabel=x.replace("_", " "), ylabel=y.replace("_", " "))
    return fig


def lambda_sweep(df: pd.DataFrame, *, y: str | Sequence[str], x: str = "lam", hue: str = "regularizer",
                 logx: bool = True, errorbar: str | None = "sd") -> plt.Figure:
    """One panel per metric in ``y`` against λ (log axis), one line per ``hue``: the λ sweeps."""
    ys = [y] if isinstance(y, str) else list(y)
    fig, axes = plt.subplots(1, len(ys), figsize=(4.6 * len(ys), 3.6))
    axes = np.atleast_1d(axes)
    labels = list(dict.fromkeys(df[hue]))
    palette = {lab: color_for(str(lab), i) for i, lab in enumerate(labels)}
    for ax, col in zip(axes, ys, strict=True):
        sns.lineplot(df, x=x, y=col, hue=hue, palette=palette, marker="o", errorbar=errorbar, ax=ax,
                     legend=ax is axes[-1])
        if logx:
            ax.set_xscale("log")
        ax.set(xlabel="$\\lambda$" if x == "lam" else x.replace("_", " "), ylabel=col.replace("_", " "))
    return fig


def styled_table(df: pd.DataFrame, fmt: str = "{:.3g}", *, hide_index: bool = False):
    """The book's table style: floats with 3 significant digits (``fmt``), float index labels such
    as λ factors written as ``0.25``, ``1``, ``16``; integers (and whole floats) with thousands
    separators, ±∞ as symbols, booleans as they are; column
    headers for people (:func:`concave_lottery.evidence.tables.header`: no snake_case)."""

    def cell(v):
        if isinstance(v, float) and np.isinf(v):
            return "∞" if v > 0 else "−∞"
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"  # 3000.0 is "3,000", not "3e+03" or "3000.000000"
        return fmt.format(v) if isinstance(v, float) else v

    def label(v):
        return f"{v:g}" if isinstance(v, float) else v

    from .tables import header

    df = df.rename_axis(index=[header(n) if n is not None else None for n in df.index.names])
    sty = df.style.format(cell).format_index(label, axis=0).format_index(header, axis=1)
    return sty.hide(axis="index") if hide_index else sty


# ------------------------------------------------------------------------------ lottery chapters


def _percent(value: float) -> str:
    return f"{100 * value:.3g}%"


#: One marker per method, so points of different methods at the same place stay visible.
METHOD_MARKERS: dict[str, str] = {"imp": "o", "soft-l1": "s", "soft-log": "^", "sigmoid": "D", "sigmoid-lr1": "d",
                                  "hard-l1": "v", "hard-log": "P"}

#: Least span of an accuracy axis, in percentage points either side: a noise of a few tenths of a
#: point must not fill the panel (the issue's LeNet axis spanned 0.4 pp).
MIN_HALF_SPAN_PP = 1.0

#: Points of one curve closer than this in log remaining fraction (5%) are *stacked*: no line joins
#: them (it would stand vertical, as if accuracy moved at fixed sparsity) and each is labelled with
#: its round, "r1", "r2", ... (rounds that pruned almost nothing while the network kept training).
STACKED_LOG_GAP = float(np.log(1.05))

#: Candidate ticks of the remaining-fraction axis.
REMAINING_TICKS = (1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)


def measured_segments(remaining: Sequence[float], max_log_gap: float | None = None) -> list[list[int]]:
    """The stretches of one curve a line may join: indices of ``remaining`` (sorted from dense to
    sparse) in runs whose neighbours are at most ``max_log_gap`` apart in log remaining fraction (by
    default :data:`concave_lottery.evidence.analysis.MAX_INTERPOLATION_GAP`, a halving: the same rule
    that says where the claims may interpolate). A jump wider than that, e.g. from 0% to 97%
    sparsity in one round, was never measured in between, so no line is drawn across it."""
    from .analysis import MAX_INTERPOLATION_GAP

    gap = MAX_INTERPOLATION_GAP if max_log_gap is None else max_log_gap
    values = np.clip(np.asarray(remaining, dtype=float), 1e-9, None)
    segments: list[list[int]] = []
    for i, v in enumerate(values):
        if segments and abs(np.log(values[segments[-1][-1]]) - np.log(v)) <= gap + 1e-12:
            segments[-1].append(i)
        else:
            segments.append([i])
    return segments


def unjoined_jumps(summary: pd.DataFrame, label: str = "method_label") -> list[tuple[str, float, float]]:
    """Where :func:`ticket_accuracy_vs_remaining` draws no line between two neighbouring points of a curve
    (:func:`measured_segments`): one ``(curve, sparsity before, sparsity after)`` per jump, mean sparsities,
    in the order of the curves and from dense to sparse. ``summary`` as for that figure."""
    jumps = []
    for lab in dict.fromkeys(summary[label]) if len(summary) else ():
        sparsity = summary[summary[label] == lab]["sparsity_mean"].sort_values().to_numpy(dtype=float)
        segments = measured_segments(np.clip(1.0 - sparsity, 1e-6, None))
        jumps += [(str(lab), float(sparsity[before[-1]]), float(sparsity[after[0]]))
                  for before, after in pairwise(segments)]
    return jumps


def spaced_ticks(candidates: Sequence[float], lo: float, hi: float, *, min_fraction: float = 0.09) -> list[float]:
    """The ticks among ``candidates`` inside [lo, hi] on a log axis, from the largest down, keeping a
    tick only when it lies at least ``min_fraction`` of the axis' log length from the last kept one,
    so their labels never overlap."""
    span = np.log(hi) - np.log(lo)
    kept: list[float] = []
    for t in sorted((c for c in candidates if lo <= c <= hi), reverse=True):
        if not kept or (np.log(kept[-1]) - np.log(t)) >= min_fraction * span:
            kept.append(t)
    return kept


def ensure_span(ax: plt.Axes, half_span: float, axis: str = "y") -> tuple[float, float]:
    """Widen ``ax``'s ``axis`` limits around their centre to at least ``2 * half_span`` (data units);
    limits already wider are kept. Returns the limits."""
    get, set_ = (ax.get_ylim, ax.set_ylim) if axis == "y" else (ax.get_xlim, ax.set_xlim)
    lo, hi = get()
    if hi - lo < 2 * half_span:
        mid = (lo + hi) / 2
        lo, hi = mid - half_span, mid + half_span
        set_(lo, hi)
    return lo, hi


def ticket_accuracy_vs_remaining(summary: pd.DataFrame, *, dense: Mapping[str, float] | None = None,
                                 accuracy: str = "test_accuracy", label: str = "method_label",
                                 ax: plt.Axes | None = None, colors: Mapping[str, object] | None = None,
                                 styles: Mapping[str, str] | None = None,
                                 markers: Mapping[str, str] | None = None) -> plt.Figure:
    """Ticket test accuracy against the remaining fraction of prunable weights (log axis, dense on the
    left, sparsity growing to the right; the top axis reads the same points as sparsity), one curve
    per method with mean ± std over seeds as error bars (both axes), and the dense network's
    accuracy (``dense``: mean, std) as a dashed reference line with its ± std band.

    Honest about what was measured: every point is marked (one marker shape per method,
    :data:`METHOD_MARKERS`), and a line joins two points only when they are at most a halving of the
    remaining weights apart (:func:`measured_segments`); a jump from 0% to 97% shows as two points
    with nothing drawn between, and points stacked at one sparsity carry their round ("r2") instead of
    a vertical line (:data:`STACKED_LOG_GAP`). The accuracy axis spans at least ±:data:`MIN_HALF_SPAN_PP` points
    and at least ± the largest seed std, so noise does not look like an effect; ticks are spaced so
    their labels never overlap. ``colors``, ``styles`` (matplotlib line styles, e.g. ``"--"``) and
    ``markers`` override a curve's colour, line style and marker; a dashed or dotted curve says so in the
    legend.

    ``summary`` is :func:`concave_lottery.analysis.summarize_rounds` output (columns
    ``<accuracy>_mean``/``_std``, ``sparsity_mean``/``_std``)."""
    from matplotlib.lines import Line2D

    if ax is None:
        fig, ax = plt.subplots(figsize=(9.0, 4.4))
    else:
        fig = ax.figure
    labels = list(dict.fromkeys(summary[label]))
    handles: list[Line2D] = []
    largest_std = 0.0
    style_names = {"--": "dashed", ":": "dotted", "-.": "dash-dot"}
    for i, lab in enumerate(labels):
        sub = summary[summary[label] == lab].sort_values("sparsity_mean")
        remaining = np.clip(1.0 - sub["sparsity_mean"].to_numpy(dtype=float), 1e-6, None)
        acc = 100 * sub[f"{accuracy}_mean"].to_numpy(dtype=float)
        acc_std = 100 * sub[f"{accuracy}_std"].fillna(0).to_numpy(dtype=float)
        largest_std = max(largest_std, float(np.nanmax(acc_std)) if len(acc_std) else 0.0)
        colour = (colors or {}).get(str(lab)) or color_for(str(lab), i)
        style = (styles or {}).get(str(lab), "-")
        marker = (markers or {}).get(str(lab)) or METHOD_MARKERS.get(str(lab), "o")
        ax.errorbar(remaining, acc, yerr=acc_std, xerr=(sub["sparsity_std"].fillna(0).to_numpy(dtype=float)
                                                    if "sparsity_std" in sub else None),
                    linestyle="none", marker=marker, markersize=5.5, capsize=3, color=colour, alpha=0.9)
        for seg in measured_segments(remaining):
            if len(seg) > 1 and np.ptp(np.log(remaining[seg])) > STACKED_LOG_GAP:
                ax.plot(remaining[seg], acc[seg], linestyle=style, color=colour, linewidth=1.6)
        if "round" in sub:  # points stacked at one sparsity (rounds that pruned almost nothing): say which round
            rounds = sub["round"].to_numpy()
            logs = np.log(remaining)
            for j in range(len(remaining)):
                if np.sum(np.abs(logs - logs[j]) <= STACKED_LOG_GAP) > 1:
                    ax.annotate(f"r{rounds[j]}", (remaining[j], acc[j]), xytext=(5 + 12 * (i % 3), 0),
                                textcoords="offset points", fontsize=7, color=colour, va="center")
        name = str(lab) + (f" ({style_names[style]})" if style in style_names else "")
        handles.append(Line2D([], [], color=colour, linestyle=style, marker=marker, markersize=5.5, label=name))
    if dense is not None and np.isfinite(dense.get("mean", np.nan)):
        mean, std = 100 * dense["mean"], 100 * (dense.get("std") or 0.0)
        ax.axhline(mean, color=METHOD_COLORS["dense"], linestyle="--", linewidth=1.0)
        handles.append(Line2D([], [], color=METHOD_COLORS["dense"], linestyle="--", linewidth=1.0,
                              label=f"dense (IMP level 0): {mean:.1f}%"))
        if np.isfinite(std) and std > 0:
            ax.axhspan(mean - std, mean + std, color=METHOD_COLORS["dense"], alpha=0.08, linewidth=0)
    ax.set_xscale("log")
    lo = float(np.nanmin(1.0 - summary["sparsity_mean"])) if len(summary) else 0.1
    lo = min(max(lo, 1e-4) / 1.4, 0.5)
    ax.set_xlim(1.08, lo)  # dense on the left, sparser to the right
    ticks = spaced_ticks(REMAINING_TICKS, lo, 1.0)
    ax.set_xticks(ticks)
    ax.set_xticklabels([_percent(t) for t in ticks])
    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    top = ax.secondary_xaxis("top")
    top.set_xticks(ticks)
    top.set_xticklabels([_percent(1.0 - t) for t in ticks])
    top.xaxis.set_minor_locator(mpl.ticker.NullLocator())
    top.set_xlabel("sparsity (prunable weights removed)")
    ax.set(xlabel="remaining prunable weights (log scale)",
           ylabel=f"ticket test accuracy (%, {'final' if accuracy == 'test_accuracy' else 'best'} epoch)")
    ensure_span(ax, max(MIN_HALF_SPAN_PP, largest_std))
    ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), handlelength=3.2)
    return fig


def mask_below_alpha(stats: pd.DataFrame, *, hue: str, style: str | None = None,
                     ax: plt.Axes | None = None) -> plt.Figure:
    """The fraction of surviving mask entries below each threshold α (log axis) before a round's
    pruning: the sparsity α would give. ``stats`` is long (:func:`concave_lottery.analysis.sparsity_at_alpha`),
    one line per ``hue`` (and ``style``) value. A flat curve means the mask has separated into
    zeros and large values, so the choice of α hardly matters; a steep one means it decides."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
    else:
        fig = ax.figure
    labels = list(dict.fromkeys(stats[hue]))
    palette = {lab: color_for(str(lab), i) for i, lab in enumerate(labels)}
    sns.lineplot(stats, x="alpha", y="fraction_below", hue=hue, style=style, palette=palette, marker="o",
                 errorbar=None, ax=ax)
    ax.set_xscale("log")
    ax.set(xlabel="threshold $\\alpha$ (log scale)", ylabel="fraction of mask entries $< \\alpha$", ylim=(-0.02, 1.02))
    ax.legend(fontsize="small", loc="best")
    return fig


__all__ += ["ticket_accuracy_vs_remaining", "mask_below_alpha", "measured_segments", "unjoined_jumps", "spaced_ticks",
            "ensure_span", "METHOD_MARKERS", "MIN_HALF_SPAN_PP", "shows_variation"]


def shows_variation(values: Sequence[float] | pd.Series, tol: float = 1e-9) -> bool:
    """Whether a figure of ``values`` would show anything: at least two finite values that differ by
    more than ``tol``. A chart whose bars are all equal (every win rate 1.0) is a sentence instead."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return finite.size >= 2 and float(finite.max() - finite.min()) > tol


def win_rate_bars(h2h: pd.DataFrame, *, winner: str, title: str) -> plt.Figure:
    """The head-to-head of the theory chapter (:func:`concave_lottery.section4.theory.head_to_head`
    indexed by λ / λ_min): per λ, the fraction of instances where ``winner`` is closer to the planted
    mask, with ties stacked in grey, and the coin-flip line at 0.5."""
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    x = np.arange(len(h2h))
    ax.bar(x, h2h["win_rate"], color=color_for(winner), label=f"{winner} closer to $\\tilde m$")
    ax.bar(x, h2h["ties"] / h2h["n"], bottom=h2h["win_rate"], color="0.75", label="tie")
    ax.set_xticks(x, [f"{f:g}" for f in h2h.index])
    ax.axhline(0.5, color="black", linewidth=0.8, linestyle=":")
    ax.set(xlabel=r"$\lambda / \lambda_{\min}$", ylabel="fraction of instances", ylim=(0, 1), title=title)
    ax.legend(loc="lower left", fontsize="small")
    return fig


__all__ += ["win_rate_bars"]


# ------------------------------------------------------------------ what the paper leaves open


def calibration_step_figure(step_runs: pd.DataFrame, preset_scale: float) -> plt.Figure:
    """Sparsity and ticket accuracy after round 1 against the mask step scale (log axis), one line per
    regularizer, a dotted line at the preset's scale (chapter ``leaves_open``)."""
    fig = lambda_sweep(step_runs.assign(**{"sparsity (%)": 100 * step_runs["sparsity"],
                                           "ticket accuracy (%)": 100 * step_runs["test_accuracy"],
                                           "method": step_runs["method_label"]}),
                       y=["sparsity (%)", "ticket accuracy (%)"], x="mask_lr_scale", hue="method", errorbar=None)
    for ax in fig.axes:
        ax.set_xlabel("mask_lr_scale (mask lr / weight lr, log scale)")
        ax.axvline(preset_scale, color="0.4", linestyle=":", linewidth=1.0)
    fig.suptitle(f"calibration runs: round 1, {int(step_runs['epochs'].iloc[0])} search epochs, momentum 0, "
                 f"one seed; dotted: the preset's mask_lr_scale = {preset_scale:g}", fontsize="small")
    return fig


def search_sparsity_curves(step_runs: pd.DataFrame, alpha: float,
                           methods: Sequence[str] = ("soft-l1", "soft-log")) -> plt.Figure:
    """The fraction of mask entries below α after every search epoch of round 1, one panel per
    regularizer, one line per mask step scale (read from each run's per-epoch metrics)."""
    from .analysis import epoch_metrics

    fig, axes = plt.subplots(1, len(methods), figsize=(5.0 * len(methods), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    scales = sorted(step_runs["mask_lr_scale"].unique())
    colours = dict(zip(scales, sns.color_palette("viridis", len(scales)), strict=True))
    for ax, reg in zip(axes, methods, strict=True):
        for row in step_runs[step_runs["method_label"] == reg].sort_values("mask_lr_scale").itertuples():
            metrics = epoch_metrics(row.run_dir, "search")
            ax.plot(metrics["epoch"], metrics["sparsity"], marker="o", markersize=3,
                    color=colours[row.mask_lr_scale], label=f"{row.mask_lr_scale:g}")
        ax.set(title=reg, xlabel="search epoch", ylabel=f"fraction of m below alpha = {alpha:g}")
    axes[-1].legend(title="mask_lr_scale", fontsize="small")
    return fig


def momentum_figure(mom_runs: pd.DataFrame) -> plt.Figure:
    """Sparsity and ticket accuracy after round 1 against the effective mask learning rate
    lr·scale/(1 − μ): solid lines momentum 0, dashed lines momentum μ > 0, one colour per regularizer."""
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6))
    for (reg, mu), sub in mom_runs.groupby(["method_label", "momentum"]):
        sub = sub.sort_values("effective_mask_lr")
        kw = dict(color=color_for(reg), linestyle="-" if mu == 0 else "--",
                  marker="o" if mu == 0 else "s", label=f"{reg}, momentum {mu:g}")
        axes[0].plot(sub["effective_mask_lr"], sub["sparsity"], **kw)
        axes[1].plot(sub["effective_mask_lr"], 100 * sub["test_accuracy"], **kw)
    for ax, lab in zip(axes, ["sparsity after round 1", "ticket test accuracy (%)"], strict=True):
        ax.set(xscale="log", xlabel="effective mask learning rate  lr x scale / (1 - momentum)", ylabel=lab)
    axes[1].legend(fontsize="small")
    return fig


def alpha_figures(alpha_lottery: pd.DataFrame, alpha_calib: pd.DataFrame, alpha: float) -> plt.Figure | None:
    """:func:`mask_below_alpha` for the full lottery runs (by method and round) and for the calibration
    runs (by mask step scale), side by side, with a dotted line at the α the runs used."""
    panels = [frame for frame in (alpha_lottery, alpha_calib) if len(frame)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.3 * len(panels), 3.8), sharey=True, squeeze=False)
    axes = list(axes[0])
    if len(alpha_lottery):
        ax = axes.pop(0)
        mask_below_alpha(alpha_lottery.assign(round=alpha_lottery["round"].astype(str)),
                         hue="method_label", style="round", ax=ax)
        ax.set_title(f"full runs: {int(alpha_lottery['epochs'].iloc[0])} epochs per round (mean over seeds)")
        ax.axvline(alpha, color="0.4", linestyle=":", linewidth=1.0)
    if len(alpha_calib):
        ax = axes.pop(0)
        calib_alpha = alpha_calib.assign(scale=[f"scale {s:g}" for s in alpha_calib["mask_lr_scale"]])
        mask_below_alpha(calib_alpha, hue="scale", style="method_label", ax=ax)
        ax.set_title(f"calibration: round 1, {int(alpha_calib['epochs'].iloc[0])} epochs, by mask_lr_scale")
        ax.axvline(alpha, color="0.4", linestyle=":", linewidth=1.0)
    return fig


__all__ += ["calibration_step_figure", "search_sparsity_curves", "momentum_figure", "alpha_figures"]


# ------------------------------------------------------------------------------ ablations (Figs. 8-9)


def paired_curves(summary: pd.DataFrame, pairs: Sequence[tuple[str, str | None, str]], *, title: str,
                  accuracy: str = "test_accuracy") -> plt.Figure | None:
    """Ticket accuracy against sparsity for pairs of methods on one axis: each ``(solid, dashed,
    colour_of)`` draws ``solid`` as a solid line and ``dashed`` as a dashed one, both in the colour of
    ``colour_of`` (Fig. 8: threshold against fixed fraction; Fig. 9: concave against sigmoid), with
    :func:`ticket_accuracy_vs_remaining` (the legend names the dashed curves; no line across jumps).
    ``summary`` is :func:`concave_lottery.evidence.analysis.summarize_rounds` output; ``None`` when empty."""
    wanted = [label for solid, dashed, _ in pairs for label in (solid, dashed) if label]
    summary = summary[summary["method_label"].isin(wanted)] if len(summary) else summary
    if summary.empty:
        return None
    colors = {label: color_for(colour_of) for solid, dashed, colour_of in pairs for label in (solid, dashed) if label}
    styles = {dashed: "--" for _, dashed, _ in pairs if dashed}
    order = {label: i for i, label in enumerate(wanted)}
    summary = summary.sort_values("method_label", key=lambda s: s.map(order), kind="stable")
    fig = ticket_accuracy_vs_remaining(summary, accuracy=accuracy, colors=colors, styles=styles)
    fig.axes[0].set_title(title)
    return fig


__all__ += ["paired_curves"]


# ------------------------------------------------------------------ sparse logistic regression (Figs. 3-4)

#: The three approaches of Sec. IV-C: ℓ1 on the weights by subgradient, ℓ1 and log masks.
LOGISTIC_COLORS = {"theta-l1": _PALETTE[2], "mask-l1": REGULARIZER_COLORS["l1"], "mask-log": REGULARIZER_COLORS["log"]}


def logistic_lambda_figure(summary: pd.DataFrame, baseline: pd.DataFrame, approaches: Mapping[str, str], *,
                           lam_min: float, lam_max: float) -> plt.Figure:
    """Fig. 3: mean validation accuracy and sparsity (± one standard deviation over the runs) against
    λ (symlog axis, λ = 0 included) for each approach of ``approaches`` (name → label); the dashed
    line counts only the exact zeros of (a), the dotted one the dead pixels."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.9))
    for name, label in approaches.items():
        g = summary[summary["approach"] == name]
        for ax, col in zip(axes, ["accuracy", "sparsity"], strict=True):
            ax.plot(g["lam"], g[col], marker="o", markersize=4, color=LOGISTIC_COLORS[name], label=label)
            ax.fill_between(g["lam"], g[col] - g[f"{col}_sd"], g[col] + g[f"{col}_sd"],
                            color=LOGISTIC_COLORS[name], alpha=0.18, linewidth=0)
    g = summary[summary["approach"] == "theta-l1"]
    axes[1].plot(g["lam"], g["exact_sparsity"], linestyle="--", color=LOGISTIC_COLORS["theta-l1"],
                 label="(a) exact zeros only")
    axes[1].axhline(baseline["dead_fraction"].mean(), color="0.4", linewidth=0.8, linestyle=":", label="dead pixels")
    for ax, col in zip(axes, ["validation accuracy", "sparsity (fraction of d = 400)"], strict=True):
        ax.set_xscale("symlog", linthresh=lam_min, linscale=0.4)
        ax.set(xlabel="$\\lambda$", ylabel=col, xlim=(0, lam_max * 1.5))
    axes[0].set_ylim(0.45, 1.01)
    axes[1].set_ylim(-0.02, 1.02)
    axes[0].legend(*axes[1].get_legend_handles_labels(), loc="lower left", fontsize="small")
    return fig


def logistic_tradeoff_figure(summary: pd.DataFrame, baseline: pd.DataFrame,
                             approaches: Mapping[str, str]) -> plt.Figure:
    """Validation accuracy against sparsity (one point per λ, ± one standard deviation both ways), the
    whole range and a zoom on the sparse end, with the dense fit θ̂ as a dotted line."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
    for ax, (xlim, ylim) in zip(axes, [((0, 1.02), (0.9, 1.005)), ((0.75, 1.0), (0.97, 1.002))], strict=True):
        for name, label in approaches.items():
            g = summary[summary["approach"] == name].sort_values("lam")
            ax.errorbar(g["sparsity"], g["accuracy"], xerr=g["sparsity_sd"], yerr=g["accuracy_sd"],
                        color=LOGISTIC_COLORS[name], marker="o", markersize=4, capsize=2, elinewidth=0.7,
                        label=label)
        ax.axhline(baseline["accuracy"].mean(), color="0.3", linewidth=0.8, linestyle=":",
                   label="$\\hat\\theta$ (dense)")
        ax.set(xlabel="sparsity (fraction of d = 400)", ylabel="validation accuracy", xlim=xlim, ylim=ylim)
    axes[1].set_title("zoom on the sparse end")
    axes[0].legend(loc="lower left", fontsize="small")
    return fig


def k_sparse_mask_figure(theta_hat, mask, images, labels, *, side: int, k: int) -> plt.Figure:
    """Fig. 4: the k-pixel mask as θ̂ ⊙ m on the image grid, and example digits as they are and as
    the mask sees them (kept pixels outlined)."""
    w = (theta_hat * mask).reshape(side, side).double().numpy()
    keep = (mask != 0).reshape(side, side).numpy()
    fig = plt.figure(figsize=(11.0, 2.8))
    grid = fig.add_gridspec(2, 1 + len(images), width_ratios=[2.4] + [1] * len(images))
    ax = fig.add_subplot(grid[:, 0])
    vmax = float(np.abs(w).max())
    ax.imshow(np.where(keep, w, np.nan), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_facecolor("0.93")
    ax.set(title=f"{k}-sparse mask, $\\hat\\theta \\odot m$", xticks=[], yticks=[])
    ys, xs = np.nonzero(keep)
    for j in range(len(images)):
        img = images[j].reshape(side, side).double().numpy()
        for row, shown in enumerate([img, np.where(keep, img, 0.0)]):
            a = fig.add_subplot(grid[row, j + 1])
            a.imshow(shown, cmap="gray_r", vmin=0, vmax=1)
            if row == 1:
                a.scatter(xs, ys, s=14, marker="s", facecolor="none", edgecolor="tab:red", linewidth=0.7)
            a.set(xticks=[], yticks=[])
            a.grid(False)
            if j == 0:
                a.set_ylabel(["image", "through mask"][row], fontsize="small")
            if row == 0:
                a.set_title(f"{int(labels[j])}", fontsize="small")
    return fig


__all__ += ["LOGISTIC_COLORS", "logistic_lambda_figure", "logistic_tradeoff_figure", "k_sparse_mask_figure"]


# ------------------------------------------------------------------ theory (Theorems 1-2, Lemma 1)


def bound_ratio_boxplot(df: pd.DataFrame, lam_factors: Sequence[float], palette: Mapping[str, Any]) -> plt.Figure:
    """The measured error over the bound (8), per λ/λ_min and regularizer (log axis), with a dotted
    line between the factors that violate (6) and those that satisfy it."""
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    sns.boxplot(df.assign(ratio=df["error"] / df["bound_thm1"]), x="lam_factor", y="ratio", hue="regularizer",
                palette=palette, fliersize=2, ax=ax)
    n_below = sum(f < 1 for f in lam_factors)
    if 0 < n_below < len(lam_factors):
        ax.axvline(n_below - 0.5, color="0.4", linestyle=":", linewidth=1)
        ax.text(n_below - 0.5, 0.03, "(6) violated | (6) holds", ha="center",
                transform=ax.get_xaxis_transform(), fontsize="small")
    sns.move_legend(ax, "lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, title=None)
    ax.set(yscale="log", xlabel=r"$\lambda / \lambda_{\min}$", ylabel=r"$\|m^*-\tilde m\|_2$ / bound (8)")
    return fig


def phi_gain_boxplots(logs: pd.DataFrame) -> plt.Figure:
    """For the log regularizer: φ(m*) (eq. 17) and how much the proof's bound tightens Theorem 1's
    (``gain`` column), per λ/λ_min."""
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.5))
    colour = color_for("log")
    sns.boxplot(logs, x="lam_factor", y="phi", color=colour, fliersize=2, ax=axes[0])
    axes[0].set(xlabel=r"$\lambda / \lambda_{\min}$", ylabel=r"$\phi(m^*)$ (eq. 17)", title=r"$\phi(m^*)$ for log")
    sns.boxplot(logs, x="lam_factor", y="gain", color=colour, fliersize=2, ax=axes[1])
    axes[1].set(xlabel=r"$\lambda / \lambda_{\min}$", ylabel="bound (8) minus bound of the proof",
                title="How much Theorem 2 tightens the bound", yscale="log")
    return fig


def exact_recovery(dfl: pd.DataFrame, lam_factors: Sequence[float], palette: Mapping[str, Any], *,
                   signal_scale: float) -> plt.Figure:
    """Lemma 1's family: the fraction of problems with m* = m̃ against λ/λ_min, one line per
    regularizer, a dotted line at λ = λ_min."""
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    frac = dfl.groupby(["regularizer", "lam_factor"])["equals_planted"].mean().unstack(0)
    for lab in frac.columns:
        ax.plot(frac.index, frac[lab], marker="o", color=palette.get(lab), label=lab)
    ax.axvline(1.0, color="0.4", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xticks(list(lam_factors), [f"{f:g}" for f in lam_factors])
    ax.minorticks_off()
    ax.set(xlabel=r"$\lambda / \lambda_{\min}$", ylabel=r"fraction with $m^* = \tilde m$", ylim=(-0.03, 1.03),
           title=f"Exact recovery, loss pushing past the box (s = {signal_scale:g})")
    ax.legend(fontsize="small")
    return fig


__all__ += ["bound_ratio_boxplot", "phi_gain_boxplots", "exact_recovery"]


def exact_zeros_steps(runs: Sequence[tuple[str, Any, str]], *, d: int, k: int) -> plt.Figure:
    """How many entries are exactly 0 after each iteration, one step line per ``(label, trajectory,
    linestyle)``, and the true number of zeros ``d - k`` dotted (chapter ``regularizers``)."""
    from ..section4.toy import exact_zeros

    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    for label, traj, style in runs:
        ax.step(range(traj.shape[0]), exact_zeros(traj).numpy(), where="post", linestyle=style, label=label)
    ax.axhline(d - k, color="black", linewidth=0.8, linestyle=":", label="true number of zeros")
    ax.set(xlabel="iteration", ylabel="entries exactly 0", ylim=(-0.3, d + 0.3))
    ax.legend(loc="center right", bbox_to_anchor=(1.0, 0.33), fontsize="small")
    return fig


__all__ += ["exact_zeros_steps"]


def phase_curves(points: pd.DataFrame) -> plt.Figure:
    """Test accuracy per epoch of round 1's search (masked network) and first ticket training (IMP:
    level 0), for the first seed of every method (read from each run's per-epoch metrics)."""
    from .analysis import epoch_metrics

    first = points.sort_values(["seed", "round"]).drop_duplicates("method_label")
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6), sharey=True)
    for i, row in enumerate(first.itertuples()):
        for ax, phase in zip(axes, ["search", "ticket"], strict=True):
            metrics = epoch_metrics(row.run_dir, phase)
            if len(metrics):
                sub = metrics[metrics["round"] == metrics["round"].min()]
                ax.plot(sub["epoch"], 100 * sub["test_accuracy"], color=color_for(row.method_label, i),
                        marker="o" if len(sub) < 5 else None, label=f"{row.method_label} (seed {row.seed})")
    axes[0].set(title="round 1 search (masked network)", xlabel="epoch", ylabel="test accuracy (%)")
    axes[1].set(title="first ticket training (IMP: level 0)", xlabel="epoch")
    axes[1].legend(fontsize="small", loc="lower right")
    return fig


__all__ += ["phase_curves"]


def find_time_bars(by: pd.DataFrame, paper_find_minutes: Mapping[str, float], *, paper_hardware: str) -> plt.Figure:
    """Table III as bars (log axis): per architecture, our time to find the ticket extrapolated to the
    paper's protocol (the fastest hardware's ``est_find_minutes``) beside the paper's measured time."""
    order = [m for m in ("resnet20", "wrn20", "vgg11", "resnet56") if m in set(by["model"])]
    fig, ax = plt.subplots(figsize=(8.0, 3.8))
    width = 0.38
    xs = range(len(order))
    ours_best = by.groupby("model")["est_find_minutes"].min()
    ax.bar([x - width / 2 for x in xs], [ours_best[m] for m in order], width,
           label="ours, extrapolated to the paper's protocol (CPU)", color=color_for("soft-log"))
    ax.bar([x + width / 2 for x in xs], [paper_find_minutes[m] for m in order], width,
           label=f"paper, measured ({paper_hardware})", color=color_for("imp"))
    ax.set_yscale("log")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(order)
    ax.set(ylabel="minutes to find the sparse network (log)", title="Time to find the ticket: 3 search rounds")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


__all__ += ["find_time_bars"]


def gap_intervals(gaps: Mapping[tuple[str, str], pd.DataFrame], *, min_gap: float = MIN_GAP) -> plt.Figure:
    """The seed-paired gaps that decide the converged verdicts: for each pair of methods ``(a, b)``, the
    mean gap :math:`\\text{acc}_a - \\text{acc}_b` at every matched sparsity (rows of
    :func:`concave_lottery.evidence.claims.matched_gaps` with columns sparsity, gap_mean, gap_low, gap_high,
    pairs) with its 95% t-interval as an error bar, against the remaining weights (log axis, dense on the
    left, as :func:`ticket_accuracy_vs_remaining`). A solid line at 0 (``better`` needs the whole interval
    above it) and a dotted one at ``−min_gap`` (``comparable`` needs the whole interval above it). Pairs
    measured at the same sparsity are set a little apart so their bars stay readable, and each bar is labelled
    with its matched sparsity (over a narrow range the log axis shows few ticks)."""
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(9.0, 3.6))
    handles: list[Line2D] = []
    lowest, highest, others = 1.0, 1e-6, 0
    for i, ((a, b), rows) in enumerate(gaps.items()):
        rows = rows.sort_values("sparsity")
        remaining = np.clip(1.0 - rows["sparsity"].to_numpy(dtype=float), 1e-6, None) * 1.025 ** (i - 1)
        lowest, highest = min(lowest, float(remaining.min())), max(highest, float(remaining.max()))
        mean = 100 * rows["gap_mean"].to_numpy(dtype=float)
        below = mean - 100 * rows["gap_low"].to_numpy(dtype=float)
        above = 100 * rows["gap_high"].to_numpy(dtype=float) - mean
        others += b != "imp"  # against IMP: a's own colour; between two other methods: purple, pink, ...
        colour = color_for(a) if b == "imp" else _PALETTE[(4, 6, 9)[(others - 1) % 3]]
        marker = METHOD_MARKERS.get(a, "o")
        ax.errorbar(remaining, mean, yerr=[below, above], linestyle="none", marker=marker, markersize=5.5,
                    capsize=3, color=colour)
        for x, top, sparsity in zip(remaining, mean + np.nan_to_num(above), rows["sparsity"], strict=True):
            ax.annotate(f"{100 * sparsity:.1f}% sparse", (x, top), textcoords="offset points", xytext=(0, 4),
                        ha="center", fontsize="x-small", color=colour)  # the log axis may show few ticks
        seeds = sorted(set(rows["pairs"].astype(int)))
        handles.append(Line2D([], [], color=colour, linestyle="none", marker=marker, markersize=5.5,
                              label=f"{a} − {b} ({'/'.join(map(str, seeds))} seeds)"))
    ax.axhline(0.0, color="0.3", linewidth=1.0)
    ax.axhline(-100 * min_gap, color="0.3", linewidth=1.0, linestyle=":")
    handles.append(Line2D([], [], color="0.3", linewidth=1.0, label="0: better needs the interval above"))
    handles.append(Line2D([], [], color="0.3", linewidth=1.0, linestyle=":",
                          label=f"−{100 * min_gap:g} pp: comparable needs the interval above"))
    ax.set_xscale("log")
    lo, hi = min(max(lowest, 1e-4) / 1.4, 0.5), min(max(highest, lowest) * 1.4, 1.08)
    ax.set_xlim(hi, lo)  # dense side on the left, sparser to the right
    ticks = spaced_ticks(REMAINING_TICKS, lo, hi)
    ax.set_xticks(ticks)
    ax.set_xticklabels([_percent(t) for t in ticks])
    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.set(xlabel="remaining prunable weights (log scale)", ylabel="paired gap (pp), 95% t-interval")
    ensure_span(ax, 2.0)
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, top + 0.1 * (top - bottom))  # room for the sparsity labels above the highest bar
    ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
