"""The collapse check of the converged campaign (issue 16, item 4): does the epoch-matched λ survive E epochs?

The recorded layers search for 8 epochs per round; the converged campaign for E = 85. The penalty's pull
on the mask, λ r'(m) per step (Eq. (11)), acts for ten times more steps per round, so the λ that was
epoch-matched to the paper's (:func:`concave_lottery.runs.config.epoch_matched_lambda`) may now prune
far more. Before the other seeds are trained, one seed of each soft run is checked round by round, from
what its search phase left on disk (``round-<t>/search.json`` and ``round-<t>/masks.pt``, both checked
against the run's digests, so a round being written is not read):

- the sparsity after the round's pruning, 1 − Σ alive / Σ entries over the prunable layers (the same
  number as the round's record, ``SparsityReport.sparsity``), available before the round's ticket
  has trained;
- the test accuracy of the relaxed network at the end of the search.

A round **collapsed** when its sparsity is above :data:`COLLAPSE_SPARSITY` or its search accuracy lies
within :data:`CHANCE_MARGIN` of chance (1 / classes); a run **left the network nearly dense** when its
last round's sparsity is below :data:`DENSE_SPARSITY` (an early round may prune little: the 8-epoch
soft-log run pruned 2.9% in round 1 and 83% by round 3). Either reading says λ must be chosen again with a short,
recorded λ sweep (the issue's rule) before more seeds are spent; otherwise the reading is
``no collapse``. The check covers the rounds searched so far, and :func:`collapse_text` says which
rounds are still to come, so a reader is never told more than the files show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ..data.registry import DATASET_RECORDS
from ..errors import CorruptFile
from ..runs.digests import Digests
from ..runs.paths import RunDir
from ..runs.sweep import RunTask
from . import analysis

__all__ = ["COLLAPSE_SPARSITY", "CHANCE_MARGIN", "DENSE_SPARSITY", "NO_COLLAPSE", "searched_rounds",
           "reading", "collapse_text"]

#: Sparsity above which a round reads as collapsed (the issue's 99%).
COLLAPSE_SPARSITY = 0.99
#: A search accuracy within this much of chance (1 / classes) reads as collapsed.
CHANCE_MARGIN = 0.05
#: Sparsity below which a round reads as having left the network nearly dense.
DENSE_SPARSITY = 0.20
#: The reading of a round that neither collapsed nor stayed nearly dense.
NO_COLLAPSE = "no collapse"

_COLUMNS = ["method", "seed", "round", "sparsity", "search_accuracy", "chance", "reading", "run"]


def reading(sparsity: float, search_accuracy: float, chance: float, *, final: bool) -> str:
    """The reading of one searched round (see the module's docstring), ``final`` when it is the run's
    last round; collapse is checked first."""
    if sparsity > COLLAPSE_SPARSITY:
        return f"collapsed: sparsity above {COLLAPSE_SPARSITY:.0%}"
    if search_accuracy < chance + CHANCE_MARGIN:
        return f"collapsed: accuracy within {CHANCE_MARGIN * 100:.0f} pp of chance ({chance:.0%})"
    if final and sparsity < DENSE_SPARSITY:
        return f"nearly dense: sparsity below {DENSE_SPARSITY:.0%}"
    return NO_COLLAPSE


def _mask_sparsity(digests: Digests, path) -> float:
    """1 − Σ alive / Σ entries of a ``masks.pt`` (:func:`concave_lottery.method.masks.mask_state`)."""
    state = digests.load_torch(path, map_location="cpu")
    total = sum(int(entry["alive"].numel()) for entry in state.values())
    alive = sum(int(entry["alive"].sum()) for entry in state.values())
    return 1.0 - alive / total if total else 0.0


def searched_rounds(tasks: Sequence[RunTask], *, methods: Sequence[str] = ("soft",)) -> pd.DataFrame:
    """One row per run of ``tasks`` whose method is in ``methods`` and per round whose search is on disk
    and matches its digests: method label, seed, round, sparsity, search accuracy, chance and
    :func:`reading`. A round whose files are missing, still being written or damaged is left out."""
    rows = []
    for task in tasks:
        config = task.config.to_dict()
        if config["method"] not in methods or not task.run_dir.is_dir():
            continue
        run = RunDir(task.run_dir)
        digests = Digests(run)
        chance = 1.0 / DATASET_RECORDS[config["dataset"]].classes
        for rnd in sorted(run.rounds(), key=lambda r: r.index):
            if not (rnd.search_info.exists() and rnd.masks.exists()):
                continue
            try:
                accuracy = float(digests.read_json(rnd.search_info)["search_test_accuracy"])
                sparsity = _mask_sparsity(digests, rnd.masks)
            except (CorruptFile, KeyError, OSError, ValueError):
                continue
            rows.append({"method": analysis.method_label(config), "seed": int(config["seed"]), "round": rnd.index,
                         "sparsity": sparsity, "search_accuracy": accuracy, "chance": chance,
                         "reading": reading(sparsity, accuracy, chance, final=rnd.index == int(config["rounds"])),
                         "run": task.run_dir.name})
    return pd.DataFrame(rows, columns=_COLUMNS)


def collapse_text(searched: pd.DataFrame, rounds: int | Mapping[str, int]) -> str:
    """One paragraph: per run, the rounds searched so far with their sparsity and search accuracy, and
    whether any collapsed or stayed nearly dense (then λ must be swept again before more seeds), else
    that none did so far, with the rounds still to come out of ``rounds`` (per run, or per method label when
    the methods' grids differ: the converged soft-log runs have 4 rounds, soft-ℓ1's 3)."""
    if searched.empty:
        return ("Collapse check: no search phase of the converged campaign is recorded yet, so whether the "
                "epoch-matched λ collapses the network at 85 epochs per round is not known.")
    parts = []
    for (method, seed), runs in searched.groupby(["method", "seed"], sort=False):
        done = ", ".join(f"round {r['round']} {r['sparsity']:.1%} sparse, search accuracy "
                         f"{r['search_accuracy']:.1%}" for r in runs.sort_values("round").to_dict("records"))
        parts.append(f"{method.replace('l1', 'ℓ1')} seed {seed}: {done}")
    text = "Collapse check (search phases recorded so far): " + "; ".join(parts) + "."
    bad = searched[searched["reading"] != NO_COLLAPSE]
    if len(bad):
        first = bad.iloc[0]
        text += (f" {first['method']} round {first['round']}: {first['reading']}. The epoch-matched λ does not "
                 "survive E epochs per round here, so λ is to be chosen again by a short, recorded λ sweep "
                 "before more seeds are trained.")
    else:
        per = dict(rounds) if isinstance(rounds, Mapping) else dict.fromkeys(searched["method"], rounds)
        done = searched.groupby(["method", "seed"])["round"].max()
        unfinished = any(last < per.get(method, last) for (method, _), last in done.items())
        if len(set(per.values())) > 1:
            each = " and ".join(f"{n} per {method.replace('l1', 'ℓ1')} run" for method, n in per.items())
            rest = f" Of the rounds ({each}), those not listed are still to come." if unfinished else ""
        else:
            rest = (f" Of the {next(iter(per.values()))} rounds per run, those not listed are still to come."
                    if unfinished else "")
        text += (f" None collapsed (sparsity above {COLLAPSE_SPARSITY:.0%} or accuracy within "
                 f"{CHANCE_MARGIN * 100:.0f} pp of chance) so far, and no run ended nearly dense (below "
                 f"{DENSE_SPARSITY:.0%} after its last round).{rest}")
    return text
