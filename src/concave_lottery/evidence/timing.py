"""Training times (Table III): time to find the sparse network and to train it, from run records.

Table III of the paper gives, per architecture on CIFAR-10 with two NVIDIA TITAN Xp GPUs, the
*time to find the sparse network* (Algorithm 1's T = 3 search rounds) and the *training time of the
sparse network* (one ticket training). Every lottery record holds what is needed to measure the
same two things on the hardware a run used: ``search_seconds`` and ``ticket_seconds`` per round,
the epochs per round and the provenance (device, commit).

:func:`phase_times` gives one row per run: the two times as measured (minutes), the seconds per
epoch of each phase, and the seconds per epoch *per 1,000 training images*, the rate that lets a
reduced-scale run say what the paper's protocol would take on the same hardware
(:func:`paper_protocol_estimate`: rate × the paper's training images × its epochs × rounds). That
estimate is an extrapolation (it assumes time grows linearly with images and epochs, which holds for
tensor-resident data with full batches) and is always labelled as such.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..data.registry import PAPER_DATASET, PAPER_TRAIN_SIZES
from ..runs.config import get_preset
from .analysis import epoch_metrics
from .tiers import dataset_label, train_images


def steady_epoch_seconds(run_dir: str | Path, phase: str) -> float:
    """The median seconds of one epoch of ``phase`` (``search`` or ``ticket``) over every recorded round,
    leaving out the first epoch of each round when a round has more than one (it pays for warm-up:
    allocations, first kernel launches); NaN without per-epoch metrics."""
    metrics = epoch_metrics(run_dir, phase)
    if metrics.empty or "seconds" not in metrics:
        return math.nan
    steady = metrics[metrics["epoch"] > metrics.groupby("round")["epoch"].transform("min")]
    return float((steady if len(steady) else metrics)["seconds"].median())


def _regularizer_of(config: dict) -> str | None:
    """The concave regularizer a run searched with: Algorithm 1 (``soft``) and its fixed-fraction
    variant (``hard``) use ``regularizer``; the sigmoid reparameterization has its own penalty, so
    the field its config carries (the default, ``log``) names nothing it used: None."""
    return str(config["regularizer"]) if config["method"] in ("soft", "hard") else None


def phase_times(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per search run (Algorithm 1 and its variants; IMP has no search phase) of
    :func:`concave_lottery.results.load_runs` output: model, dataset, method, hardware, rounds,
    epochs per round, training images, ``find_minutes`` (search phases of all rounds, as measured),
    ``train_minutes`` (the last round's ticket training, as measured), ``search_s_per_epoch`` and
    ``ticket_s_per_epoch`` (steady state, :func:`steady_epoch_seconds`), and both per 1,000 training
    images. ``regularizer`` is None for the sigmoid runs (their penalty is not a concave regularizer)."""
    columns = ["run_dir", "model", "dataset", "method", "regularizer", "hardware", "commit", "rounds", "epochs",
               "train_images", "find_minutes", "train_minutes", "search_s_per_epoch", "ticket_s_per_epoch",
               "search_s_per_epoch_per_kimg", "ticket_s_per_epoch_per_kimg"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for run_dir, sub in runs.groupby("run_dir", sort=False):
        first = sub.iloc[0].to_dict()
        searched = sub[sub["search_seconds"].fillna(0) > 0]
        if first["method"] == "imp" or searched.empty:
            continue
        tickets = sub[sub["ticket_seconds"].fillna(0) > 0].sort_values("round")
        if tickets.empty:
            continue
        n_images = train_images(first)
        epochs = int(first["epochs"])
        search_epoch = steady_epoch_seconds(run_dir, "search")
        ticket_epoch = steady_epoch_seconds(run_dir, "ticket")
        if math.isnan(search_epoch):  # no per-epoch metrics: the phase totals
            search_epoch = float(searched["search_seconds"].sum()) / (len(searched) * epochs)
        if math.isnan(ticket_epoch):
            ticket_epoch = float(tickets["ticket_seconds"].iloc[-1]) / epochs
        rows.append({
            "run_dir": run_dir, "model": first["model"], "dataset": dataset_label(first),
            "method": first["method"], "regularizer": _regularizer_of(first), "hardware": first["prov_device"],
            "commit": str(first["prov_git_commit"])[:12], "rounds": len(searched), "epochs": epochs,
            "train_images": n_images, "find_minutes": float(searched["search_seconds"].sum()) / 60,
            "train_minutes": float(tickets["ticket_seconds"].iloc[-1]) / 60,
            "search_s_per_epoch": search_epoch, "ticket_s_per_epoch": ticket_epoch,
            "search_s_per_epoch_per_kimg": search_epoch * 1000 / n_images,
            "ticket_s_per_epoch_per_kimg": ticket_epoch * 1000 / n_images,
        })
    return pd.DataFrame(rows, columns=columns)


def paper_protocol_estimate(times: pd.DataFrame, *, rounds: int = 3) -> pd.DataFrame:
    """``times`` (:func:`phase_times`) with ``est_find_minutes`` and ``est_train_minutes``: what the
    paper's protocol for the same model and dataset (Sec. V-D: 85 or 120 epochs per round, ``rounds``
    rounds, the full training set) would take at the measured per-image rate. An extrapolation."""
    out = times.copy()
    find, train, paper_epochs, paper_images = [], [], [], []
    for row in out.to_dict("records"):
        base = row["dataset"].split(" ")[0]
        paper = PAPER_DATASET.get(base, base)
        preset = get_preset(f"{row['model']}-{paper}").config
        images = PAPER_TRAIN_SIZES[paper]
        paper_epochs.append(preset.epochs)
        paper_images.append(images)
        find.append(row["search_s_per_epoch_per_kimg"] * images / 1000 * preset.epochs * rounds / 60)
        train.append(row["ticket_s_per_epoch_per_kimg"] * images / 1000 * preset.epochs / 60)
    out["paper_epochs"] = paper_epochs
    out["paper_train_images"] = paper_images
    out["est_find_minutes"] = find
    out["est_train_minutes"] = train
    return out
