"""Convergence first: how many epochs per phase a converged lottery campaign needs.

Every ticket of Figs. 5-9 is compared with the dense network trained by the same protocol, so the
campaign's epochs per phase E must first train the *dense* network (IMP's level 0; ``method=imp
rounds=0``). The paper trains ResNet-20 for 85 epochs with lr/10 at epochs 56 and 71 (Sec. V-D). A
*proportionally compressed* schedule of E epochs divides lr by 10 at the same fractions of the round
(:func:`compressed_milestones`).

The rule (:func:`choose_epochs`): the campaign uses the shortest schedule whose mean final dense test
accuracy over seeds is within ``tolerance`` (0.5 pp) of the mean of the paper's 85-epoch schedule, both
measured with the same seeds. Beside the decision it reports how precisely the gap is known: the seed
spread and a t-interval on the difference of the two means. With two seeds and about a thousand test
images the interval is usually wider than 0.5 pp; the decision then says so rather than claiming more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..runs.paths import RunDir
from ..runs.results import RESULT_FILE, read_json
from .verdicts import t_quantile

#: The paper's ResNet-20 schedule (Sec. V-D): 85 epochs per round, lr/10 at epochs 56 and 71.
PAPER_EPOCHS = 85
PAPER_MILESTONES = (56, 71)
#: How close (as a fraction: 0.005 = 0.5 pp) the compressed schedule's dense accuracy must be.
TOLERANCE = 0.005


def compressed_milestones(epochs: int, paper_epochs: int = PAPER_EPOCHS,
                          paper_milestones: Sequence[int] = PAPER_MILESTONES) -> tuple[int, ...]:
    """The milestones of an ``epochs``-long schedule at the paper's fractions of the round, rounded to
    the nearest epoch (e.g. 30 epochs → (20, 25); 40 → (26, 33))."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    return tuple(max(1, round(m * epochs / paper_epochs)) for m in paper_milestones)


def dense_curves(run_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """Per-epoch metrics of the dense network (round 0, the ticket phase of IMP's level 0) of every
    *finished* run in ``run_dirs``: columns ``run``, ``epochs_per_phase``, ``milestones``, ``seed``,
    ``epoch``, ``lr``, ``train_accuracy``, ``test_accuracy``, ``device``. Unfinished runs are left out
    (:func:`run_table` lists them)."""
    frames = []
    for run_dir in map(Path, run_dirs):
        if not (run_dir / RESULT_FILE).exists():
            continue
        result = read_json(run_dir / RESULT_FILE)
        config = result["config"]
        metrics = read_json(RunDir(run_dir).round(0).ticket.metrics)
        frame = pd.DataFrame(metrics["epochs"])
        frame.insert(0, "run", run_dir.name)
        frame.insert(1, "epochs_per_phase", int(config["epochs"]))
        frame.insert(2, "milestones", str(tuple(config["milestones"])))
        frame.insert(3, "seed", int(config["seed"]))
        frame["device"] = result["provenance"].get("device")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["run", "epochs_per_phase", "milestones", "seed", "epoch", "lr",
                                     "train_accuracy", "test_accuracy", "device"])
    return pd.concat(frames, ignore_index=True)


def run_table(runs: Iterable[Any]) -> pd.DataFrame:
    """One row per run: epochs per phase, seed, epochs recorded so far and its status (finished, in
    progress, not started). ``runs`` are sweep tasks (:class:`~concave_lottery.runs.sweep.RunTask`, which
    know their config before the run starts) or run directories.

    A finished run's epochs come from its metrics; a run in progress counts the epochs of its last
    checkpoint (``round-0/ticket/checkpoint.pt``), read only for its length."""
    rows = []
    for run in runs:
        if hasattr(run, "run_dir"):
            run_dir, config = Path(run.run_dir), run.config.to_dict()
        else:
            run_dir = Path(run)
            if not (run_dir / "config.json").exists():
                continue
            config = read_json(run_dir / "config.json")
        done, status = 0, "not started"
        if (run_dir / RESULT_FILE).exists():
            done, status = len(read_json(RunDir(run_dir).round(0).ticket.metrics)["epochs"]), "finished"
        elif run_dir.exists():
            status = "in progress"
            checkpoint = RunDir(run_dir).round(0).ticket.checkpoint
            if checkpoint.exists():
                import torch

                try:
                    done = len(torch.load(checkpoint, map_location="cpu", weights_only=False)["history"])
                except Exception:  # an unreadable checkpoint is retrained by the run itself
                    done = 0
        rows.append({"run": run_dir.name, "epochs_per_phase": int(config["epochs"]), "seed": int(config["seed"]),
                     "epochs_done": done, "status": status})
    return pd.DataFrame(rows, columns=["run", "epochs_per_phase", "seed", "epochs_done", "status"])


def final_accuracies(curves: pd.DataFrame) -> pd.DataFrame:
    """The final-epoch test accuracy of each (schedule, seed)."""
    last = curves.sort_values("epoch").groupby(["epochs_per_phase", "seed"], as_index=False).last()
    return last[["epochs_per_phase", "seed", "test_accuracy"]].reset_index(drop=True)


@dataclass(frozen=True)
class EpochChoice:
    """The decision of :func:`choose_epochs`: ``epochs`` (None while no schedule qualifies), the table
    it was read from, and the sentence the chapter prints."""

    epochs: int | None
    table: pd.DataFrame
    text: str
    precise: bool = False
    notes: list[str] = field(default_factory=list)


def choose_epochs(finals: pd.DataFrame, *, reference: int = PAPER_EPOCHS, tolerance: float = TOLERANCE,
                  test_images: int | None = None, planned: Sequence[int] = ()) -> EpochChoice:
    """The shortest schedule whose mean final dense accuracy is at least the ``reference`` schedule's
    mean minus ``tolerance``, compared on the seeds both have.

    The table has, per schedule: seeds, mean and sample std of the final accuracy, the gap to the
    reference (mean − reference mean) and a 95% Welch t-interval on it (None with fewer than two seeds
    on either side). ``precise`` is True when that interval lies within ±``tolerance``, i.e. the data can
    tell a 0.5 pp difference; otherwise the choice follows the means and the text says the interval is
    wider than the tolerance. ``test_images`` adds the binomial standard error of one run's accuracy.

    ``planned`` are the schedules the sweep spec trains. A shorter schedule that has not finished yet could
    still qualify, so while one is missing the reference is never chosen by default (``epochs`` is None),
    and a shorter choice says that an even shorter schedule is still training.
    """
    if finals.empty or reference not in set(finals["epochs_per_phase"]):
        return EpochChoice(None, pd.DataFrame(), f"No finished dense run with the paper's {reference}-epoch "
                           "schedule yet, so no schedule can be chosen.")
    ref_seeds = set(finals.loc[finals["epochs_per_phase"] == reference, "seed"])
    rows: list[dict[str, Any]] = []
    ref = finals[(finals["epochs_per_phase"] == reference)]["test_accuracy"]
    for epochs, group in sorted(finals.groupby("epochs_per_phase"), key=lambda kv: kv[0]):
        seeds = set(group["seed"]) & ref_seeds
        acc = group[group["seed"].isin(seeds)]["test_accuracy"]
        ref_same = finals[(finals["epochs_per_phase"] == reference) & finals["seed"].isin(seeds)]["test_accuracy"]
        gap = float(acc.mean() - ref_same.mean()) if len(acc) else math.nan
        half = None
        if len(acc) >= 2 and len(ref_same) >= 2 and epochs != reference:
            va, vb = acc.var(ddof=1) / len(acc), ref_same.var(ddof=1) / len(ref_same)
            se = math.sqrt(va + vb)
            df = (va + vb) ** 2 / ((va ** 2) / (len(acc) - 1) + (vb ** 2) / (len(ref_same) - 1)) if se > 0 else 1
            half = t_quantile(max(1, int(df))) * se
        rows.append({"epochs_per_phase": int(epochs), "seeds": sorted(int(s) for s in seeds),
                     "mean": float(acc.mean()) if len(acc) else math.nan,
                     "std": float(acc.std(ddof=1)) if len(acc) >= 2 else math.nan,
                     "gap": gap, "gap_low": None if half is None else gap - half,
                     "gap_high": None if half is None else gap + half})
    table = pd.DataFrame(rows)
    qualifying = table[(table["gap"] >= -tolerance) & table["seeds"].map(len).gt(0)]
    chosen = int(qualifying["epochs_per_phase"].min())
    row = table[table["epochs_per_phase"] == chosen].iloc[0]
    ref_mean = float(ref.mean())
    notes = []
    if test_images:
        se_run = math.sqrt(ref_mean * (1 - ref_mean) / test_images)
        notes.append(f"One run's accuracy on {test_images:,} test images has a binomial standard error of "
                     f"±{100 * se_run:.1f} pp.")
    spread = float(ref.max() - ref.min()) if len(ref) >= 2 else math.nan
    if not math.isnan(spread):
        notes.append(f"The {reference}-epoch seeds differ by {100 * spread:.1f} pp among themselves.")
    finished = {int(e) for e, seeds in zip(table["epochs_per_phase"], table["seeds"], strict=True) if seeds}
    pending = sorted((int(e) for e in planned if int(e) < chosen and int(e) not in finished), reverse=True)
    if chosen == reference and pending:
        waiting = ", ".join(map(str, pending))
        return EpochChoice(None, table, f"The paper's {reference}-epoch dense network reaches {100 * ref_mean:.1f}%; "
                           f"the shorter schedules ({waiting} epochs) have not finished yet, so E is not chosen "
                           "yet.", notes=notes)
    if pending:
        notes.append(f"Still training: the {', '.join(map(str, pending))}-epoch runs, which could make E shorter.")
    if chosen == reference:
        text = (f"No shorter schedule comes within {100 * tolerance:.1f} pp of the {reference}-epoch dense accuracy "
                f"({100 * ref_mean:.1f}%): the campaign keeps the paper's {reference} epochs per phase.")
        precise = True
    else:
        precise = row["gap_low"] is not None and row["gap_low"] >= -tolerance and row["gap_high"] <= tolerance
        interval = ("" if row["gap_low"] is None else
                    f" (95% interval on the gap {100 * row['gap_low']:+.1f} to {100 * row['gap_high']:+.1f} pp)")
        text = (f"The campaign trains E = {chosen} epochs per phase: dense ResNet-20 reaches "
                f"{100 * row['mean']:.1f}% with {chosen} epochs against {100 * ref_mean:.1f}% with the paper's "
                f"{reference}, a gap of {100 * row['gap']:+.1f} pp{interval}, the shortest schedule within "
                f"{100 * tolerance:.1f} pp of it.")
        if not precise:
            text += (f" With {len(row['seeds'])} seed(s) the gap is not known to {100 * tolerance:.1f} pp: the choice "
                     "follows the means, and a tie within the seed noise is all the data can show.")
    return EpochChoice(chosen, table, text, precise=bool(precise), notes=notes)


def format_table(table: pd.DataFrame, reference: int = PAPER_EPOCHS) -> pd.DataFrame:
    """:func:`choose_epochs`'s table for a reader: percent with one decimal, "±", no snake_case."""

    def pct(x: float | None, sign: bool = False) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "—"
        return f"{100 * x:+.1f}" if sign else f"{100 * x:.1f}"

    rows = []
    for row in table.to_dict("records"):
        accuracy = pct(row["mean"]) + ("" if math.isnan(row["std"]) else f" ± {pct(row['std'])}")
        interval = "—" if row["gap_low"] is None or (isinstance(row["gap_low"], float) and math.isnan(row["gap_low"])) \
            else f"{pct(row['gap_low'], True)} to {pct(row['gap_high'], True)}"
        rows.append({"Schedule (epochs)": row["epochs_per_phase"], "Seeds": ", ".join(map(str, row["seeds"])),
                     "Final dense accuracy (%)": accuracy,
                     f"Gap to {reference} epochs (pp)": "—" if row["epochs_per_phase"] == reference
                     else pct(row["gap"], True),
                     "95% interval (pp)": interval})
    return pd.DataFrame(rows)


def plot_curves(curves: pd.DataFrame, *, milestones: bool = True):
    """Test accuracy per epoch of the dense network, one line per schedule (mean over seeds, the band
    spanning the seeds), the epochs where lr drops marked on each line."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7.0, 3.6), layout="constrained")
    palette = sns.color_palette("colorblind", 10)
    styles = ["-", "--", ":", "-."]
    for i, (epochs, group) in enumerate(sorted(curves.groupby("epochs_per_phase"), key=lambda kv: -kv[0])):
        stats = group.groupby("epoch")["test_accuracy"].agg(["mean", "min", "max", "count"]).reset_index()
        seeds = group["seed"].nunique()
        color = palette[i % len(palette)]
        ax.plot(stats["epoch"], 100 * stats["mean"], styles[i % len(styles)], color=color,
                label=f"{epochs} epochs ({seeds} seed{'s' if seeds != 1 else ''})")
        if seeds > 1:
            ax.fill_between(stats["epoch"], 100 * stats["min"], 100 * stats["max"], color=color, alpha=0.15,
                            linewidth=0)
        if milestones:
            for m in compressed_milestones(int(epochs)):
                ax.axvline(m, color=color, linewidth=0.6, alpha=0.5, linestyle=styles[i % len(styles)])
    ax.set_xlabel("epoch")
    ax.set_ylabel("dense test accuracy (%)")
    ax.legend(title="schedule (band: seeds' range)", loc="lower right", fontsize="small")
    return fig
