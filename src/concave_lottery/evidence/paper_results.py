"""The paper's own reported numbers, as data (always shown labelled as quoted, and cited).

Source: Fracastoro, Fosson, Migliorati, Calafiore, *Playing the Lottery With Concave Regularizers
for Sparse Trainable Neural Networks*, IEEE TNNLS 2025 (doi:10.1109/TNNLS.2024.3373609),
Table II (ResNet-56 on CIFAR-10 against pruning methods, the literature rows quoted by the paper
from the cited works) and Table III (training times on CIFAR-10 with two NVIDIA TITAN Xp GPUs),
and the hyperparameters of Sec. V-D.
"""

from __future__ import annotations

from typing import Any

CITATION = ("Fracastoro et al., IEEE TNNLS 2025, doi:10.1109/TNNLS.2024.3373609")

#: Sec. V-D: λ and ε used for every lottery experiment.
PAPER_HYPERPARAMETERS: dict[str, float] = {"lam_l1": 3e-6, "lam_log": 1e-6, "eps": 0.1}

#: Table II: (method, reference in the paper, baseline %, unpruned %, accuracy %, difference %).
TABLE_II: tuple[tuple[str, str, float, float, float, float], ...] = (
    ("GBN-40", "[37]", 93.10, 46.50, 93.43, +0.33),
    ("GBN-30", "[37]", 93.10, 33.30, 93.07, -0.03),
    ("Li et al.", "[38]", 93.10, 86.30, 93.08, -0.02),
    ("NISP", "[39]", 93.10, 57.40, 93.13, +0.03),
    ("DCP-A", "[40]", 93.10, 29.70, 93.09, -0.01),
    ("SCOP", "[41]", 93.70, 43.70, 93.64, -0.06),
    ("SFP", "[42]", 93.59, 49.40, 92.26, -1.33),
    ("GAL", "[43]", 93.26, 55.20, 92.74, -0.52),
    ("GAL-0.6", "[43]", 93.26, 88.20, 92.98, -0.28),
    ("FPGM", "[44]", 93.59, 49.40, 93.49, -0.10),
    ("HRank", "[18]", 93.59, 57.60, 93.50, -0.09),
    ("HRank", "[18]", 93.59, 31.90, 90.72, -2.87),
    ("White-Box", "[21]", 93.26, 43.70, 93.20, -0.06),
    ("AMC", "[45]", 92.80, 50.00, 91.90, -0.90),
    ("SCP", "[46]", 93.69, 48.50, 93.23, -0.46),
    ("LFPC", "[47]", 93.26, 47.10, 93.24, -0.02),
    ("DSA", "[17]", 93.12, 46.40, 92.92, -0.66),
    ("E-Pruner", "[19]", 93.18, 71.36, 93.10, -0.08),
    ("FilterSketch", "[20]", 93.26, 79.40, 93.65, +0.39),
    ("FilterSketch", "[20]", 93.26, 58.80, 93.19, -0.07),
    ("FilterSketch", "[20]", 93.26, 28.20, 91.20, -2.06),
    ("Ours (l1-norm)", "paper", 93.26, 1.79, 88.06, -5.02),
    ("Ours (l1-norm)", "paper", 93.26, 5.36, 92.18, -1.08),
    ("Ours (l1-norm)", "paper", 93.26, 9.93, 92.99, -0.27),
    ("Ours (l1-norm)", "paper", 93.26, 19.34, 93.13, -0.13),
    ("Ours (l1-norm)", "paper", 93.26, 22.10, 93.28, 0.02),
    ("Ours (Log)", "paper", 93.26, 1.66, 87.98, -5.28),
    ("Ours (Log)", "paper", 93.26, 5.12, 92.17, -1.09),
    ("Ours (Log)", "paper", 93.26, 9.91, 93.01, -0.25),
    ("Ours (Log)", "paper", 93.26, 18.47, 93.11, -0.15),
    ("Ours (Log)", "paper", 93.26, 23.20, 93.30, 0.04),
)

#: Table III: minutes on CIFAR-10 with 2x NVIDIA TITAN Xp (time to find the sparse network,
#: training time of the sparse network).
TABLE_III: dict[str, tuple[int, int]] = {
    "resnet20": (91, 27),
    "wrn20": (168, 54),
    "vgg11": (119, 40),
    "resnet56": (244, 67),
}
TABLE_III_HARDWARE = "2x NVIDIA TITAN Xp"


def table_ii() -> Any:
    """Table II as a pandas DataFrame, with a ``source`` column saying it is quoted from the paper."""
    import pandas as pd

    df = pd.DataFrame(TABLE_II, columns=["method", "reference", "baseline_accuracy", "unpruned_percent",
                                         "accuracy", "accuracy_difference"])
    df["source"] = f"quoted from {CITATION}, Table II"
    return df


def table_iii() -> Any:
    """Table III as a pandas DataFrame (minutes), with its hardware and source."""
    import pandas as pd

    rows = [{"model": m, "find_minutes": f, "train_ticket_minutes": t, "hardware": TABLE_III_HARDWARE,
             "source": f"quoted from {CITATION}, Table III"} for m, (f, t) in TABLE_III.items()]
    return pd.DataFrame(rows)


def table_ii_inconsistencies(tol: float = 0.011) -> list[tuple[str, float, float]]:
    """Rows of Table II whose printed difference is not accuracy − baseline (as printed).

    Returns ``(method and unpruned %, printed difference, accuracy − baseline)``. Two rows disagree
    in the paper as published: DSA (printed −0.66, 92.92 − 93.12 = −0.20) and Ours (ℓ1) at 1.79%
    unpruned (printed −5.02, 88.06 − 93.26 = −5.20). The book shows both numbers.
    """
    out = []
    for method, _, base, unpruned, acc, diff in TABLE_II:
        if abs((acc - base) - diff) > tol:
            out.append((f"{method} ({unpruned:g}% unpruned)", diff, round(acc - base, 2)))
    return out


def paper_dense_accuracy(model: str, dataset: str) -> tuple[float, str] | None:
    """The paper's own dense (unpruned) test accuracy for ``model`` on ``dataset`` as a fraction, with
    where it is printed, or ``None`` where the paper prints no such number (Figs. 5-9 are plots:
    no value is read off them). Only Table II prints one: ResNet-56 on CIFAR-10, 93.26%."""
    if (model, dataset) == ("resnet56", "cifar10"):
        baseline = {r[2] for r in TABLE_II if r[1] == "paper"}
        (value,) = baseline
        return value / 100, "Table II"
    return None
