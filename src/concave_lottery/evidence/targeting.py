"""The recorded ``lottery calibrate`` runs, for the book: target against reached sparsity, the probe curve
s(λ), and the ticket trained at the λ found.

A calibration record (``<root>/<preset>/calibrate-…/calibration.json``, written by
:func:`concave_lottery.runs.calibrate.calibrate`) is verified against its digest when it is read; every number
below comes from it (the probes' sparsities and search accuracies, the ticket's accuracy from the ticket run it
names), so a chapter only calls these functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..runs.calibrate import CALIBRATION_FILE, load_calibration

__all__ = ["load_records", "summary_frame", "probe_frame", "plot_probe_curves", "narrate_records"]

_NAMES = {"lam": "λ", "eps": "ε"}


def load_records(root: Path | str) -> list[dict[str, Any]]:
    """Every calibration record under ``root`` (verified), sorted by preset; each gains ``path``."""
    records = []
    for path in sorted(Path(root).glob(f"*/calibrate-*/{CALIBRATION_FILE}")):
        record = load_calibration(path)
        record["path"] = str(path.parent)
        records.append(record)
    return records


def _protocol(record: dict[str, Any]) -> str:
    c = record["protocol"]
    images = f"{c['train_subset']:,} training images" if c.get("train_subset") else "all training images"
    return (f"{c['model']} on {c['dataset']}, {c['method']}-{c['regularizer']}, {c['rounds']} round(s) of "
            f"{c['epochs']} epochs, {images}, seed {c['seed']}")


def summary_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per calibration: target ± tolerance, the value found, the sparsity it reached (and the test accuracy
    of the masked network at the end of that search), the probes, whether
    s was monotone over them, the ticket at the value found (sparsity, test accuracy) and the probes' training
    time (wall minutes, from their provenance; a probe read from the cache counts its original time)."""
    rows = []
    for r in records:
        found, ticket = r.get("found") or {}, r.get("ticket") or {}
        acc = ticket.get("test_accuracy")
        rows.append({
            "preset": r["preset"], "varied": _NAMES.get(r["vary"], r["vary"]),
            "target": f"{r['target_sparsity']:g} ± {r['tolerance']:g}",
            "status": r["status"],
            "value found": f"{found['value']:.4g}" if found else None,
            "sparsity reached": round(found["sparsity"], 4) if found else None,
            "search acc % there": (round(100 * found["search_test_accuracy"], 2)
                                   if found and found.get("search_test_accuracy") is not None else None),
            "probes": len(r["probes"]),
            "monotone": "yes" if r["monotone"] else "NO",
            "ticket sparsity": round(ticket["sparsity"], 4) if ticket else None,
            "ticket acc %": round(100 * acc, 2) if acc is not None else None,
            "probe minutes": round(sum(p["seconds"] for p in r["probes"]) / 60, 1),
            "protocol": _protocol(r),
        })
    return pd.DataFrame(rows)


def probe_frame(record: dict[str, Any]) -> pd.DataFrame:
    """The probes of one calibration, by value: the curve s(value), with the order they were run in."""
    name = _NAMES.get(record["vary"], record["vary"])
    rows = [{name: p["value"], "sparsity": p["sparsity"], "probe #": p["order"],
             "|s - target|": abs(p["sparsity"] - record["target_sparsity"]),
             "search acc %": None if p.get("search_test_accuracy") is None else 100 * p["search_test_accuracy"],
             "minutes": p["seconds"] / 60}
            for p in sorted(record["probes"], key=lambda p: p["value"])]
    return pd.DataFrame(rows).round({"sparsity": 4, "|s - target|": 4, "search acc %": 2, "minutes": 1})


def plot_probe_curves(records: list[dict[str, Any]]) -> Any:
    """Sparsity against the varied value (log scale), one panel per calibration: every probe numbered in the
    order it was run, the target band, and the value found."""
    import matplotlib.pyplot as plt

    if not records:
        fig, ax = plt.subplots(figsize=(5.2, 1.0))
        ax.axis("off")
        ax.text(0.5, 0.5, "no calibration recorded yet", ha="center", va="center")
        return fig
    fig, axes = plt.subplots(1, len(records), figsize=(5.2 * len(records), 3.8), squeeze=False,
                             layout="constrained")
    for ax, r in zip(axes[0], records, strict=True):
        probes = sorted(r["probes"], key=lambda p: p["value"])
        xs, ys = [p["value"] for p in probes], [p["sparsity"] for p in probes]
        ax.axhspan(r["target_sparsity"] - r["tolerance"], r["target_sparsity"] + r["tolerance"], color="0.85",
                   label=f"target {r['target_sparsity']:g} ± {r['tolerance']:g}")
        ax.plot(xs, ys, "o-", color="C1", label="probes (search only)")
        for p in probes:
            ax.annotate(str(p["order"]), (p["value"], p["sparsity"]), textcoords="offset points", xytext=(4, -10),
                        fontsize=8)
        if r.get("found"):
            ax.plot([r["found"]["value"]], [r["found"]["sparsity"]], "*", color="C3", markersize=14,
                    label=f"found: {r['found']['value']:.4g}")
        ax.set_xscale("log")
        ax.set_xlabel(_NAMES.get(r["vary"], r["vary"]))
        ax.set_ylabel("sparsity after the search")
        ax.set_title(r["preset"], fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
    return fig


def narrate_records(records: list[dict[str, Any]]) -> str:
    """One sentence per calibration, from its record: what was asked, what was found, how many probes, whether
    s was monotone, and the ticket's accuracy at the value found."""
    if not records:
        return "No calibration is recorded yet (`lottery calibrate ...`, see the README)."
    lines = []
    for r in records:
        name, found, ticket = _NAMES.get(r["vary"], r["vary"]), r.get("found"), r.get("ticket")
        head = f"**{r['preset']}** ({_protocol(r)}): target {r['target_sparsity']:g} ± {r['tolerance']:g}; "
        if r["reached"]:
            head += (f"{name} = {found['value']:.4g} reached {found['sparsity']:.4f} after {len(r['probes'])} "
                     f"probes")
        else:
            head += (f"not reached in {len(r['probes'])} probes ({r['reason']}); the closest, {name} = "
                     f"{found['value']:.4g}, reached {found['sparsity']:.4f}")
        head += "; s was monotone over the probes" if r["monotone"] else "; s was **not monotone** over the probes"
        if ticket and ticket.get("test_accuracy") is not None:
            k = r["protocol"].get("rewind_step", 0)
            rewound = "θ₀" if not k else f"θ_k, k = {k}"
            head += (f". The ticket trained at that {name} (the probe's mask on the weights rewound to {rewound}) has "
                     f"sparsity "
                     f"{ticket['sparsity']:.4f} and test accuracy {100 * ticket['test_accuracy']:.2f}%.")
        else:
            head += ". No ticket is recorded at that value yet."
        lines.append("- " + head)
    return "\n".join(lines)
