"""The paper's qualitative claims about its lottery figures, checked against recorded runs.

Sec. V-E (Figs. 5-7) and Sec. V-G (Figs. 8-9) make claims that can be tested on any set of runs:

- ``comparable``: Algorithm 1 "reaches performance comparable to the ones of IMP at matching
  sparsities";
- ``higher-sparsity``: it "significantly outperforms IMP at higher sparsity" (checked only where the
  method's sparsest ticket prunes at least :data:`HIGH_SPARSITY` of the weights);
- ``log-vs-l1``: the two regularizers "exhibit similar performance in most of the experiments", and
  log "can significantly improve the performance with respect to" ℓ1;
- ``threshold``: thresholding at α "can significantly improve the performance" over pruning a fixed
  fraction (Fig. 8);
- ``concave-vs-sigmoid``: the concave regularizers "provide significantly better performance than the
  sigmoid reparameterization" (Fig. 9).

Every check compares two methods at *matched sparsity*: at the sparsity of every round of either
method that the other's curve also reaches, both curves interpolated there
(:func:`concave_lottery.evidence.analysis.accuracy_at_sparsity`, linear in log remaining fraction,
never extrapolated, never across a jump wider than
:data:`concave_lottery.evidence.analysis.MAX_INTERPOLATION_GAP`). The verdict words follow one rule
(:mod:`concave_lottery.evidence.verdicts`): ``holds`` / ``fails`` only when the gap clears the
measured noise floor, max(seed spread, near-dense spread, 1 pp); otherwise ``inconclusive``. With
:data:`INTERVAL_SEEDS` seeds or more on both sides (the converged layer) the 95% interval of the
seed-paired gaps decides instead: "comparable" holds only when the whole interval lies above −1 pp,
"better" only when it lies above 0. And a
layer whose dense network is far from trained (:func:`training_state_of`) is at most
``inconclusive``. Each row also says on how many rounds each curve rests (``rounds``): a curve with
more rounds has had more chances, and at a matched sparsity the two points may come from different
rounds (the evidence names them where they differ). ``reading`` says what the gaps point to with the
1 pp tolerance alone, a hint beside an inconclusive verdict, not evidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import analysis, verdicts
from .verdicts import FAILS, HOLDS, INCONCLUSIVE, MIN_GAP, NOT_TESTABLE, TrainingState

#: Seeds per method from which a claim is judged by the confidence interval of its seed-paired gaps
#: (:func:`concave_lottery.evidence.verdicts.judge_interval`) instead of the gap against the noise floor.
INTERVAL_SEEDS = 3

#: Least sparsity at which ``higher-sparsity`` can be checked: a method whose sparsest ticket prunes
#: less than half of the weights says nothing about "higher sparsity" (the paper's curves reach 90%+).
HIGH_SPARSITY = 0.5

VERDICTS = verdicts.VERDICTS

#: Every claim this module checks: (claim, a, b, the paper's figure, the paper's words).
LOTTERY_CLAIMS = (
    ("comparable", "soft-l1", "imp", "Figs. 5-7", "comparable to IMP at matching sparsity"),
    ("higher-sparsity", "soft-l1", "imp", "Figs. 5-7", "better than IMP at its highest sparsity"),
    ("comparable", "soft-log", "imp", "Figs. 5-7", "comparable to IMP at matching sparsity"),
    ("higher-sparsity", "soft-log", "imp", "Figs. 5-7", "better than IMP at its highest sparsity"),
    ("log-vs-l1", "soft-log", "soft-l1", "Figs. 5-7", "log at least as good as ℓ1"),
)
ABLATION_CLAIMS = (
    ("threshold", "soft-l1", "hard-l1", "Fig. 8", "threshold α better than a fixed fraction"),
    ("threshold", "soft-log", "hard-log", "Fig. 8", "threshold α better than a fixed fraction"),
    ("concave-vs-sigmoid", "soft-l1", "sigmoid", "Fig. 9", "concave regularizer better than the sigmoid"),
    ("concave-vs-sigmoid", "soft-log", "sigmoid", "Fig. 9", "concave regularizer better than the sigmoid"),
)
#: Every claim of the paper this book checks, in the paper's order: ``id``, where the paper makes it
#: (``source``), what it says (``statement``) and the chapter that shows the check. The scorecard
#: (:mod:`concave_lottery.evidence.scorecard`) has a row for each.
PAPER_CLAIMS: tuple[dict[str, str], ...] = (
    {"id": "figs-3-4", "source": "Figs. 3-4", "chapter": "mnist_logistic",
     "statement": "on MNIST 0 vs 1, ℓ1 and log masks reach sparse, accurate logistic regressions where "
                  "ℓ1 on the weights by subgradient does not give exact zeros"},
    {"id": "theorem-1", "source": "Theorem 1", "chapter": "theory",
     "statement": "with ℓ1, the mask is within 4λ√k/γ of the optimal k-sparse binary mask"},
    {"id": "theorem-2", "source": "Theorem 2", "chapter": "theory",
     "statement": "a strictly concave r improves the bound of Theorem 1 by φ(m*)"},
    {"id": "lemma-1", "source": "Lemma 1", "chapter": "theory",
     "statement": "when the bound is below 1 and m* is binary, m* is the optimal mask"},
    {"id": "comparable", "source": "Figs. 5-7", "chapter": "lottery_cifar",
     "statement": "Algorithm 1 reaches performance comparable to IMP at matching sparsities"},
    {"id": "higher-sparsity", "source": "Figs. 5-7", "chapter": "lottery_cifar",
     "statement": "Algorithm 1 significantly outperforms IMP at higher sparsity"},
    {"id": "log-vs-l1", "source": "Figs. 5-7", "chapter": "lottery_cifar",
     "statement": "log performs like ℓ1 in most experiments and can improve on it"},
    {"id": "table-ii", "source": "Table II", "chapter": "resnet56_table",
     "statement": "ResNet-56 tickets with about 22-23% of the weights match the dense baseline"},
    {"id": "threshold", "source": "Fig. 8", "chapter": "ablations",
     "statement": "thresholding at α improves on pruning a fixed fraction"},
    {"id": "concave-vs-sigmoid", "source": "Fig. 9", "chapter": "ablations",
     "statement": "the concave regularizers perform significantly better than the sigmoid reparameterization"},
)

#: What each claim asks of the gap a − b at a matched sparsity (:func:`concave_lottery.evidence.verdicts.judge`):
#: ``comparable`` (a not worse than b by more than the tolerance) or ``better`` (a ahead of b).
WANT = {"comparable": "comparable", "log-vs-l1": "comparable", "higher-sparsity": "better", "threshold": "better",
        "concave-vs-sigmoid": "better"}

#: One line per claim name, for the chapters' summaries.
CLAIM_NAMES = {c: words for c, _, _, _, words in LOTTERY_CLAIMS + ABLATION_CLAIMS}
CLAIM_NAMES.update({
    "table-ii": "a ticket with at most 25% of the weights as accurate as the dense network",
    "theorem-1": "the ℓ1 error bound (8)",
    "theorem-2": "the concave error bound (14) as printed",
    "lemma-1": "exact recovery when the bound is below 1 and m* is binary",
    "figs-3-4": "sparse logistic regression on MNIST 0 vs 1",
})

#: Table II's claim is about tickets that keep at most this fraction of the prunable weights.
TABLE_II_KEPT = 0.25


def training_state_of(points: pd.DataFrame, accuracy: str = "test_accuracy") -> TrainingState:
    """:func:`concave_lottery.evidence.verdicts.training_state` of one model and dataset's runs: their
    dense accuracy (IMP level 0) against the paper's protocol for that model (its preset's epochs,
    the full dataset's training images) and, where the paper prints one, its dense accuracy
    (:func:`concave_lottery.evidence.paper_results.paper_dense_accuracy`)."""
    from ..runs.config import PRESETS
    from . import paper_results, tiers

    if points.empty or not {"model", "dataset", "epochs"} <= set(points.columns):
        return TrainingState(True)
    first = points.iloc[0].to_dict()
    model, dataset = str(first["model"]), str(first["dataset"])
    full = dataset.removesuffix("-subset")
    preset = PRESETS.get(f"{model}-{full}") or PRESETS.get(f"{model}-cifar10")
    if preset is None:
        return TrainingState(True)
    paper = paper_results.paper_dense_accuracy(model, full)
    return verdicts.training_state(
        analysis.dense_reference(points, accuracy)["mean"], epochs=int(points["epochs"].max()),
        paper_epochs=int(preset.config.epochs), train_images=tiers.train_images(first),
        full_images=tiers.TRAIN_IMAGES[full], paper_dense=None if paper is None else paper[0],
        paper_source="" if paper is None else paper[1])


#: Two rounds whose remaining weights differ by at most 1% (in log remaining fraction) are at the same
#: sparsity: :func:`matched_gaps` compares the two methods there once, not twice.
SAME_SPARSITY = 0.01


def matched_gaps(points: pd.DataFrame, a: str, b: str, *, accuracy: str = "test_accuracy") -> pd.DataFrame:
    """``a`` against ``b`` at every sparsity where either has a pruned round (mean over seeds) and both
    curves reach (each interpolated between its own nearby rounds, never extrapolated, see
    :func:`concave_lottery.analysis.accuracy_at_sparsity`); a round of ``b`` within :data:`SAME_SPARSITY` of
    a round of ``a`` is the same sparsity, compared once, at ``a``'s:
    columns sparsity, a_mean, a_std, b_mean, b_std, n_a, n_b (seeds), gap = a − b, spread =
    sqrt(std_a² + std_b²) (NaN with fewer than 2 seeds on either side), a_round, b_round: the
    round of each curve nearest that sparsity (in log remaining fraction), and the seed-paired
    interval of the gap (:func:`concave_lottery.evidence.verdicts.gap_interval`): pairs, a_paired and
    b_paired (each method's mean over the paired seeds), gap_mean (the mean of the paired gaps), gap_low,
    gap_high (NaN with fewer than 2 pairs). Runs of one seed share the
    initialization θ0 and the data order across methods, so pairing by seed removes that part of the noise.

    A target is the mean sparsity of one method's round over its seeds, and each seed's pair is taken at
    *that seed's own* ticket: :math:`g_s = \\text{acc}_a(s) - \\text{acc}_b(s)` at the sparsity
    :math:`x_s` of seed ``s``'s ticket of that round, the other method's curve of seed ``s`` read at
    :math:`x_s` (:func:`concave_lottery.evidence.analysis.accuracy_at_sparsity`). Soft rounds prune a
    slightly different fraction on each seed, and reading every seed at the mean would drop the seeds whose
    own ticket lies just outside the other curve's reach; IMP prunes the same fraction on every seed, so
    its rounds pair exactly as at the mean."""
    columns = ["sparsity", "a_mean", "a_std", "b_mean", "b_std", "n_a", "n_b", "gap", "spread", "a_round",
               "b_round", "pairs", "a_paired", "b_paired", "gap_mean", "gap_low", "gap_high"]
    if points.empty or a not in set(points["method_label"]) or b not in set(points["method_label"]):
        return pd.DataFrame(columns=columns)
    pruned = points[points["method_label"].isin([a, b]) & (points["sparsity"] > 0)]
    means = pruned.groupby(["method_label", "round"])["sparsity"].mean().round(6)
    # target -> the (method, round) whose mean it is. Where a round of b lies at the same sparsity as a round
    # of a (remaining weights within SAME_SPARSITY), a's stands for both; rounds of one method at one
    # sparsity (rounds that pruned almost nothing) are different tickets and all stay.
    source: dict[float, tuple[str, int]] = {}
    a_x = [analysis.log_removed(float(t)) for (label, _), t in means.items() if label == a]
    for (label, rnd), target in means.items():
        x = analysis.log_removed(float(target))
        if label == b and any(abs(x - ax) <= SAME_SPARSITY for ax in a_x):
            continue
        source.setdefault(float(target), (label, rnd))
    targets = sorted(source)
    at = analysis.accuracy_at_sparsity(points[points["method_label"].isin([a, b])], targets, accuracy=accuracy)
    where = pruned.groupby(["method_label", "round"])["sparsity"].mean().reset_index()
    where = pd.concat([where, points[points["method_label"].isin([a, b]) & (points["sparsity"] == 0)]
                       [["method_label", "round", "sparsity"]].drop_duplicates()], ignore_index=True)

    def nearest_round(label: str, target: float) -> int:
        own = where[where["method_label"] == label]
        distance = np.abs(analysis.log_removed(own["sparsity"]) - analysis.log_removed(target))
        return int(own["round"].to_numpy()[int(np.argmin(distance))])

    rows = []
    for target, sub in at.groupby("target", sort=True):
        stats = sub.groupby("method")["accuracy"].agg(["mean", "std", "count"])
        if a not in stats.index or b not in stats.index:
            continue
        sa, sb = stats.loc[a], stats.loc[b]
        spread = math.hypot(sa["std"], sb["std"]) if min(sa["count"], sb["count"]) >= 2 else math.nan
        pairs = _own_sparsity_pairs(points, a, b, *source[float(target)], accuracy)
        paired = verdicts.gap_interval([pa - pb for pa, pb in pairs])
        rows.append({"sparsity": float(target), "a_mean": sa["mean"], "a_std": sa["std"], "b_mean": sb["mean"],
                     "b_std": sb["std"], "n_a": int(sa["count"]), "n_b": int(sb["count"]),
                     "gap": float(sa["mean"] - sb["mean"]), "spread": spread,
                     "a_round": nearest_round(a, float(target)), "b_round": nearest_round(b, float(target)),
                     "pairs": paired.n, "a_paired": float(np.mean([p[0] for p in pairs])) if pairs else math.nan,
                     "b_paired": float(np.mean([p[1] for p in pairs])) if pairs else math.nan,
                     "gap_mean": paired.mean, "gap_low": paired.low, "gap_high": paired.high})
    return pd.DataFrame(rows, columns=columns)


def _own_sparsity_pairs(points: pd.DataFrame, a: str, b: str, label: str, rnd: int,
                        accuracy: str) -> list[tuple[float, float]]:
    """Seed by seed, ``a``'s and ``b``'s accuracy at the sparsity of that seed's own ticket of ``label``'s
    round ``rnd`` (``label`` is ``a`` or ``b``; the other method's curve of the same seed read there, or the
    seed left out where it does not reach it)."""
    other = b if label == a else a
    own = points[(points["method_label"] == label) & (points["round"] == rnd)]
    pairs = []
    for seed, ticket in own.groupby("seed", sort=True):
        x = float(ticket["sparsity"].mean())
        at = analysis.accuracy_at_sparsity(points[(points["method_label"] == other) & (points["seed"] == seed)], [x],
                                           accuracy=accuracy)
        if at.empty:
            continue
        mine, theirs = float(ticket[accuracy].mean()), float(at["accuracy"].iloc[0])
        pairs.append((mine, theirs) if label == a else (theirs, mine))
    return pairs


def _pp(x: float) -> str:
    return f"{100 * x:+.2f} pp"


def _decided_by_interval(g: Any) -> bool:
    return getattr(g, "pairs", 0) >= INTERVAL_SEEDS


def _evidence(gaps: pd.DataFrame, a: str, b: str, min_pairs: int = 0) -> str:
    """One matched sparsity each. Where the paired interval decides (:data:`INTERVAL_SEEDS` pairs or more),
    the accuracies are the means over the paired seeds, each at its own ticket, the gap their mean
    difference and the interval around it; else the means over the seeds at the target and their gap,
    marked *not judged* when fewer than ``min_pairs`` seeds pair there."""
    def one(g: Any) -> str:
        if _decided_by_interval(g):
            numbers = (f"{a} {100 * g.a_paired:.2f} vs {b} {100 * g.b_paired:.2f} ({_pp(g.gap_mean)} "
                       f"[{100 * g.gap_low:+.2f}, {100 * g.gap_high:+.2f}] 95%, {g.pairs} seeds")
        else:
            numbers = f"{a} {100 * g.a_mean:.2f} vs {b} {100 * g.b_mean:.2f} ({_pp(g.gap)}"
        rounds = "" if g.a_round == g.b_round else f"; {a} round {g.a_round}, {b} round {g.b_round}"
        if g.pairs < min_pairs:
            rounds += f"; {g.pairs} seed{'' if g.pairs == 1 else 's'} paired: not judged"
        return f"{100 * g.sparsity:.1f}%: {numbers}{rounds})"

    return "; ".join(one(g) for g in gaps.itertuples())


def _rounds(points: pd.DataFrame, a: str, b: str) -> str:
    """How many rounds each curve has (IMP: pruning levels), and which had more."""
    if points.empty:
        return ""
    top = points[points["method_label"].isin([a, b])].groupby("method_label")["round"].max()
    if a not in top.index or b not in top.index:
        return ""
    na, nb = int(top[a]), int(top[b])
    if na == nb:
        return f"{na} rounds each"
    more = a if na > nb else b
    return f"{a} {na}, {b} {nb}: {more} had more rounds"


def _floor(gap_spread: float, near_dense: float) -> float:
    return verdicts.noise_floor(gap_spread, near_dense)


def _row(claim: str, a: str, b: str, gaps: pd.DataFrame, verdict: str, note: str = "", reading: str | None = None,
         *, points: pd.DataFrame | None = None, floor: float = math.nan, state: TrainingState | None = None,
         min_pairs: int = 0) -> dict:
    """One claim's outcome: the verdict (capped at inconclusive for an untrained layer), the noise
    floor it was judged against (in pp, blank when none was measured), the rounds behind each curve
    and the 1 pp ``reading``."""
    state = state or TrainingState(True)
    capped = verdicts.cap(verdict, state)
    notes = [n for n in (note if len(gaps) else "", state.note) if n]
    return {"claim": claim, "a": a, "b": b, "matched sparsities": len(gaps),
            "evidence": _evidence(gaps, a, b, min_pairs) if len(gaps) else note, "verdict": capped,
            "reading": reading if reading is not None else verdict,
            "noise floor": "" if math.isnan(floor) else f"{100 * floor:.2f} pp",
            "rounds": _rounds(points if points is not None else pd.DataFrame(), a, b), "note": "; ".join(notes)}


def _judge(g: Any, near_dense: float, min_gap: float, want: str, min_pairs: int = 0) -> str | None:
    """One matched sparsity's verdict: by the seed-paired interval with :data:`INTERVAL_SEEDS` pairs or
    more (:func:`concave_lottery.evidence.verdicts.judge_interval`), else by the gap against the noise
    floor (:func:`concave_lottery.evidence.verdicts.judge`); ``None`` (not judged) with fewer than
    ``min_pairs`` pairs."""
    if g.pairs < min_pairs:
        return None
    if _decided_by_interval(g):
        interval = verdicts.GapInterval(g.gap_mean, g.gap_low, g.gap_high, int(g.pairs))
        return verdicts.judge_interval(interval, want=want, min_gap=min_gap)
    return verdicts.judge(g.gap, _floor(g.spread, near_dense), want=want, min_gap=min_gap)


def _verdicts(gaps: pd.DataFrame, near_dense: float, min_gap: float, want: str,
              min_pairs: int = 0) -> tuple[list[str], list[str]]:
    """The verdicts and 1 pp readings of the matched sparsities that are judged (see :func:`_judge`)."""
    judged = [g for g in gaps.itertuples() if g.pairs >= min_pairs]
    return ([_judge(g, near_dense, min_gap, want) for g in judged],
            [verdicts.reading(g.gap_mean if _decided_by_interval(g) else g.gap, want=want, min_gap=min_gap)
             for g in judged])


def _gaps_floor(gaps: pd.DataFrame, near_dense: float) -> float:
    values = [_floor(g.spread, near_dense) for g in gaps.itertuples()]
    values = [v for v in values if not math.isnan(v)]
    return max(values) if values else math.nan


def _near_dense(points: pd.DataFrame, accuracy: str) -> float:
    return analysis.near_dense_spread(points, accuracy)["range"] if len(points) else math.nan


def check_comparable(points: pd.DataFrame, a: str, b: str = "imp", *, accuracy: str = "test_accuracy",
                     min_gap: float = MIN_GAP, claim: str = "comparable", near_dense: float | None = None,
                     state: TrainingState | None = None, min_pairs: int = 0) -> dict:
    """``a`` is comparable to ``b`` (not worse) at every matched sparsity: ``holds`` when comparable
    everywhere (:func:`concave_lottery.evidence.verdicts.judge`), ``fails`` when worse beyond the
    noise floor somewhere, else ``inconclusive``. ``near_dense`` defaults to the near-dense spread of
    ``points``."""
    near_dense = _near_dense(points, accuracy) if near_dense is None else near_dense
    gaps = matched_gaps(points, a, b, accuracy=accuracy)
    judged, read = _verdicts(gaps, near_dense, min_gap, "comparable", min_pairs)
    note = "" if len(gaps) else f"{a} and {b} reach no common sparsity"
    return _row(claim, a, b, gaps, verdicts.combine(judged), note, verdicts.combine(read), points=points,
                floor=_gaps_floor(gaps, near_dense), state=state, min_pairs=min_pairs)


def check_better_at_highest(points: pd.DataFrame, a: str, b: str = "imp", *, accuracy: str = "test_accuracy",
                            min_gap: float = MIN_GAP, claim: str = "higher-sparsity",
                            min_sparsity: float = HIGH_SPARSITY, near_dense: float | None = None,
                            state: TrainingState | None = None, min_pairs: int = 0) -> dict:
    """``a`` beats ``b`` at ``a``'s sparsest round, where ``b``'s curve reaches it (whether or not ``b``'s
    levels go further: IMP's grid is made to pass the soft tickets' sparsity). Where it does not,
    only dominance counts, between the two methods' sparsest points: the sparser one wins when it is
    also at least as accurate (``a`` sparser and as accurate: holds; ``b`` sparser and as accurate:
    fails), and only with 2 seeds or more per method (else inconclusive); otherwise the claim is not
    testable on these runs. It is not testable either when ``a``'s sparsest round (mean over seeds)
    prunes less than ``min_sparsity`` of the weights."""
    near_dense = _near_dense(points, accuracy) if near_dense is None else near_dense
    kw = dict(points=points, state=state, min_pairs=min_pairs)
    sparsest = _sparsest_round(points, a, accuracy)
    if sparsest is None or b not in set(points["method_label"]):
        return _row(claim, a, b, points.iloc[0:0], NOT_TESTABLE, f"{a} or {b} has no recorded ticket", **kw)
    if sparsest["sparsity"] < min_sparsity:
        return _row(claim, a, b, points.iloc[0:0], NOT_TESTABLE,
                    f"{a}'s sparsest ticket prunes {100 * sparsest['sparsity']:.1f}% of the weights, "
                    f"below the {100 * min_sparsity:.0f}% this claim needs", **kw)
    gaps = matched_gaps(points, a, b, accuracy=accuracy)  # only once the claim is testable
    g = _at_sparsest(gaps, sparsest)
    if len(g):
        judged, read = _verdicts(g, near_dense, min_gap, "better", min_pairs)
        return _row(claim, a, b, g, judged[0] if judged else NOT_TESTABLE, reading=read[0] if read else None,
                    floor=_gaps_floor(g, near_dense), **kw)
    theirs = points[points["method_label"] == b].groupby("round")[["sparsity", accuracy]].mean()
    top = theirs.sort_values("sparsity").iloc[-1]
    n = int(points[points["method_label"].isin([a, b])].groupby("method_label")["seed"].nunique().min())
    text = (f"sparsest points: {a} {100 * sparsest['sparsity']:.1f}% at {100 * sparsest[accuracy]:.2f}, "
            f"{b} {100 * top['sparsity']:.1f}% at {100 * top[accuracy]:.2f}")
    a_sparser = sparsest["sparsity"] >= top["sparsity"]
    if a_sparser and sparsest[accuracy] >= top[accuracy]:
        outcome, why = HOLDS, f"{a} is sparser and as accurate"
    elif not a_sparser and top[accuracy] >= sparsest[accuracy]:
        outcome, why = FAILS, f"{b} is sparser and as accurate"
    else:
        return _row(claim, a, b, gaps.iloc[0:0], NOT_TESTABLE,
                    f"{text}: the sparser one is less accurate, and the curves do not overlap there", **kw)
    return _row(claim, a, b, gaps.iloc[0:0], outcome if n >= 2 else INCONCLUSIVE, f"{text}: {why}",
                reading=outcome, **kw)


def _sparsest_round(points: pd.DataFrame, a: str, accuracy: str) -> pd.Series | None:
    """``a``'s pruned round with the highest mean sparsity over seeds (its mean sparsity and accuracy), or None."""
    own = points[(points["method_label"] == a) & (points["sparsity"] > 0)] if len(points) else points
    if own.empty:
        return None
    return own.groupby("round")[["sparsity", accuracy]].mean().sort_values("sparsity").iloc[-1]


def _at_sparsest(gaps: pd.DataFrame, sparsest: pd.Series) -> pd.DataFrame:
    """The one matched sparsity of ``gaps`` at ``a``'s sparsest round (not always the last: ``b``'s levels may
    go further), as a one-row frame; empty when ``b``'s curve does not reach it."""
    at = gaps[np.isclose(gaps["sparsity"].astype(float), float(sparsest["sparsity"]), rtol=0, atol=1e-6)]
    return at.iloc[[-1]] if len(at) else at


def decisive_gaps(points: pd.DataFrame, claim: str, a: str, b: str, *, accuracy: str = "test_accuracy",
                  min_gap: float = MIN_GAP, min_pairs: int = INTERVAL_SEEDS) -> pd.DataFrame:
    """The matched sparsities (:func:`matched_gaps` rows) on which ``claim``'s verdict of ``a`` against ``b``
    rests when it is judged by the seed-paired interval, each with its own ``verdict``
    (:func:`concave_lottery.evidence.verdicts.judge_interval`, ``want`` from :data:`WANT`): every matched
    sparsity where at least ``min_pairs`` (and :data:`INTERVAL_SEEDS`) seeds pair, and for ``higher-sparsity``
    only the one at ``a``'s sparsest round. The rows :func:`lottery_claims` and :func:`ablation_claims` combine
    into one verdict with ``min_pairs``, kept apart so that a chapter can say which sparsities decided it.
    Empty when none is judged by an interval (too few seeds pair, or the curves do not overlap)."""
    if claim not in WANT:
        raise ValueError(f"claim must be one of {', '.join(WANT)}, not {claim!r}")
    gaps = matched_gaps(points, a, b, accuracy=accuracy)
    if claim == "higher-sparsity":
        sparsest = _sparsest_round(points, a, accuracy)
        gaps = gaps.iloc[0:0] if sparsest is None else _at_sparsest(gaps, sparsest)
    gaps = gaps[gaps["pairs"] >= max(min_pairs, INTERVAL_SEEDS)].reset_index(drop=True)
    intervals = (verdicts.GapInterval(g.gap_mean, g.gap_low, g.gap_high, int(g.pairs)) for g in gaps.itertuples())
    return gaps.assign(verdict=[verdicts.judge_interval(i, want=WANT[claim], min_gap=min_gap) for i in intervals])


def lottery_claims(points: pd.DataFrame, *, accuracy: str = "test_accuracy", min_gap: float = MIN_GAP,
                   state: TrainingState | None = None, min_pairs: int = 0) -> pd.DataFrame:
    """The claims of Sec. V-E (Figs. 5-7) on one set of runs (one model, one dataset), judged against
    the noise floor of these runs, or by the paired interval where :data:`INTERVAL_SEEDS` seeds pair;
    ``state`` defaults to :func:`training_state_of` the runs. With ``min_pairs`` (the converged layer:
    :data:`INTERVAL_SEEDS`), a matched sparsity where fewer seeds pair is listed, marked *not judged*, and
    left out of the verdict, so that no verdict rests on a point gap."""
    state = training_state_of(points, accuracy) if state is None else state
    near_dense = _near_dense(points, accuracy)
    rows = []
    for claim, a, b, _, _ in LOTTERY_CLAIMS:
        check = check_better_at_highest if claim == "higher-sparsity" else check_comparable
        kw = {} if claim == "higher-sparsity" else {"claim": claim}
        rows.append(check(points, a, b, accuracy=accuracy, min_gap=min_gap, near_dense=near_dense, state=state,
                          min_pairs=min_pairs, **kw))
    return pd.DataFrame(rows)


def table_ii_claim(points: pd.DataFrame, a: str, *, accuracy: str = "test_accuracy", min_gap: float = MIN_GAP,
                   kept: float = TABLE_II_KEPT, state: TrainingState | None = None) -> dict:
    """Table II: method ``a``'s ticket that keeps at most ``kept`` of the prunable weights (the
    least pruned such round, the one closest to the paper's 22-23%) is comparable to the dense
    network (IMP level 0) of the same runs (:func:`concave_lottery.evidence.verdicts.judge`, against
    the near-dense noise floor). Not testable when no round of ``a`` prunes that far, or without a
    dense network."""
    state = training_state_of(points, accuracy) if state is None else state
    near_dense = _near_dense(points, accuracy)
    dense = analysis.dense_reference(points, accuracy)
    empty = points.iloc[0:0]
    own = points[points["method_label"] == a] if len(points) else points
    if own.empty or math.isnan(dense["mean"]):
        return _row("table-ii", a, "dense", empty, NOT_TESTABLE, f"{a} or the dense network has no recorded ticket",
                    state=state)
    rounds = own.groupby("round")[["sparsity", accuracy]].mean()
    far = rounds[1 - rounds["sparsity"] <= kept]
    if far.empty:
        return _row("table-ii", a, "dense", empty, NOT_TESTABLE,
                    f"{a}'s sparsest ticket keeps {100 * (1 - rounds['sparsity'].max()):.1f}% of the weights, more "
                    f"than the {100 * kept:.0f}% this claim is about", state=state)
    pick = far.sort_values("sparsity").iloc[0]
    gap = float(pick[accuracy] - dense["mean"])
    floor = verdicts.noise_floor(math.nan, near_dense)
    verdict = verdicts.judge(gap, floor, want="comparable", min_gap=min_gap)
    row = _row("table-ii", a, "dense", empty, verdict, reading=verdicts.reading(gap, want="comparable",
                                                                                 min_gap=min_gap),
               floor=floor, state=state)
    row.update({"matched sparsities": 1, "evidence": f"{100 * pick['sparsity']:.1f}%: {a} {100 * pick[accuracy]:.2f} "
                f"vs dense {100 * dense['mean']:.2f} ({_pp(gap)})"})
    return row


def layer_claims(layers: Sequence[Any], *, accuracy: str = "test_accuracy", check: Any = None) -> pd.DataFrame:
    """``check`` (default :func:`lottery_claims`) on every layer, model and dataset of ``layers``
    (:class:`concave_lottery.evidence.tiers.Layer`), in one table with ``layer``, ``model`` and
    ``dataset`` columns first (empty when no layer has runs)."""
    check = lottery_claims if check is None else check
    tables = []
    for layer in layers:
        for (model, dataset), sub in layer.by_model_and_dataset():
            table = check(sub, accuracy=accuracy)
            if len(table):
                tables.append(table.assign(layer=layer.name, model=model, dataset=dataset)[
                    ["layer", "model", "dataset", *table.columns]])
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def ablation_claims(points: pd.DataFrame, *, accuracy: str = "test_accuracy", min_gap: float = MIN_GAP,
                    state: TrainingState | None = None, min_pairs: int = 0) -> pd.DataFrame:
    """The claims of Sec. V-G: threshold beats fixed fraction (Fig. 8), concave beats sigmoid (Fig. 9). With
    ``min_pairs`` (a converged layer: :data:`INTERVAL_SEEDS`), a matched sparsity where fewer seeds pair is
    listed, marked *not judged*, and left out of the verdict, as in :func:`lottery_claims`."""
    state = training_state_of(points, accuracy) if state is None else state
    near_dense = _near_dense(points, accuracy)
    rows = []
    labels = set(points["method_label"]) if len(points) else set()
    for reg in ("l1", "log"):
        if f"hard-{reg}" in labels:
            rows.append(_better_anywhere(points, f"soft-{reg}", f"hard-{reg}", "threshold", accuracy, min_gap,
                                         near_dense, state, min_pairs))
    sigmoids = sorted(label for label in labels if label.split("-")[0] == "sigmoid")
    for b in sigmoids:  # the sigmoid baseline and its variants (another mask step: sigmoid-lr1)
        for a in ("soft-l1", "soft-log"):
            rows.append(_better_anywhere(points, a, b, "concave-vs-sigmoid", accuracy, min_gap, near_dense, state,
                                         min_pairs))
    return pd.DataFrame(rows)


def _better_anywhere(points: pd.DataFrame, a: str, b: str, claim: str, accuracy: str, min_gap: float,
                     near_dense: float, state: TrainingState, min_pairs: int = 0) -> dict:
    """``a`` beats ``b`` at matched sparsity: at every matched sparsity not worse beyond the noise
    floor, and better beyond it at one at least (else inconclusive); falls back to the
    sparsest-round check when the curves do not overlap. Matched sparsities where fewer than ``min_pairs``
    seeds pair are not judged."""
    gaps = matched_gaps(points, a, b, accuracy=accuracy)
    if gaps.empty:
        return check_better_at_highest(points, a, b, accuracy=accuracy, min_gap=min_gap, claim=claim,
                                       min_sparsity=0.0, near_dense=near_dense, state=state, min_pairs=min_pairs)
    judged, read = _verdicts(gaps, near_dense, min_gap, "better", min_pairs)
    return _row(claim, a, b, gaps, verdicts.any_better(judged), reading=verdicts.any_better(read), points=points,
                floor=_gaps_floor(gaps, near_dense), state=state, min_pairs=min_pairs)


__all__ = ["HIGH_SPARSITY", "MIN_GAP", "SAME_SPARSITY", "VERDICTS", "LOTTERY_CLAIMS", "ABLATION_CLAIMS", "CLAIM_NAMES",
           "PAPER_CLAIMS",
           "table_ii_claim", "layer_claims",
           "training_state_of", "matched_gaps", "check_comparable", "check_better_at_highest", "lottery_claims",
           "ablation_claims", "decisive_gaps", "WANT", "INCONCLUSIVE"]
