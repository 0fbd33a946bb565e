"""One rule for every verdict word the book prints about the paper's claims.

A gap between two methods (accuracy of ``a`` minus ``b`` at matched sparsity) is judged against the
**noise floor**: the larger of the measured seed spread (:math:`\\sqrt{\\sigma_a^2 + \\sigma_b^2}`,
two seeds or more per method) and the near-dense spread (the range of the nearly dense tickets'
accuracies, :func:`concave_lottery.evidence.analysis.near_dense_spread`, which differ only in their
seed), and never less than ``min_gap`` (1 pp). With neither spread measured there is no floor, and
no gap can clear it.

- ``holds`` / ``fails`` only when the gap clears the floor in the claim's direction (:func:`judge`);
  otherwise ``inconclusive``. "Comparable" (``a`` not worse than ``b``) holds when ``a`` is ahead by
  more than the floor, or when the floor itself is at most ``min_gap`` and ``a`` is not behind by
  more: within a noise of several points, "comparable" cannot be told from "worse".
- A layer whose dense network is far from trained (:func:`training_state`) says so, and its claims
  can be at most ``inconclusive`` (:func:`cap`). A layer trained for the paper's epochs per round on fewer
  images is *trained on a reduced data set*: not capped, its verdicts about that data set only.
- ``not testable``: the runs do not reach the sparsities the claim is about.

For a layer with three seeds or more per method (the converged layer), the gap is judged by its
**confidence interval** instead of a point value (:func:`gap_interval`, :func:`judge_interval`): the
per-seed paired gaps give a Student-t interval, and "comparable" holds only when the whole interval
lies above ``-min_gap``. Each seed is paired at the sparsity of its own ticket, and the converged layer
leaves out of its verdicts a matched sparsity where fewer than three seeds pair
(:func:`concave_lottery.evidence.claims.matched_gaps`, ``min_pairs``).

The scorecard reads the same words as confirmed / contradicted / inconclusive / not tested
(:data:`SCORECARD`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Smallest accuracy gap (fraction, 0.01 = 1 percentage point) that counts as a difference.
MIN_GAP = 0.01

HOLDS, FAILS, INCONCLUSIVE, NOT_TESTABLE = "holds", "fails", "inconclusive", "not testable"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_TESTABLE)

#: The scorecard's word for each verdict.
SCORECARD = {HOLDS: "confirmed", FAILS: "contradicted", INCONCLUSIVE: "inconclusive", NOT_TESTABLE: "not tested"}

#: A dense network this far (fraction) below the paper's own dense accuracy is "untrained".
UNTRAINED_GAP = 0.05


def noise_floor(seed_spread: float = math.nan, near_dense: float = math.nan) -> float:
    """The measured noise floor: the larger of the seed spread and the near-dense spread (NaN ignored;
    NaN when neither is measured)."""
    measured = [v for v in (seed_spread, near_dense) if v is not None and not math.isnan(v)]
    return max(measured) if measured else math.nan


def judge(gap: float, floor: float, *, want: str, min_gap: float = MIN_GAP) -> str:
    """One gap's verdict. ``want`` = ``better`` (``a`` beats ``b``) or ``comparable`` (``a`` is not
    worse than ``b``); ``floor`` from :func:`noise_floor` (NaN: unmeasured, always inconclusive);
    the tolerance is ``max(floor, min_gap)``."""
    if want not in ("better", "comparable"):
        raise ValueError(f"want must be 'better' or 'comparable', not {want!r}")
    if math.isnan(floor):
        return INCONCLUSIVE
    tol = max(floor, min_gap)
    if gap < -tol:
        return FAILS
    if gap > tol:
        return HOLDS
    if want == "comparable" and floor <= min_gap:
        return HOLDS  # within min_gap, and the noise is small enough to say so
    return INCONCLUSIVE


def reading(gap: float, *, want: str, min_gap: float = MIN_GAP) -> str:
    """What the gap says with the tolerance ``min_gap`` alone, as if there were no noise: a hint
    printed beside an inconclusive verdict, never evidence."""
    return judge(gap, 0.0, want=want, min_gap=min_gap)


def combine(verdicts: Sequence[str]) -> str:
    """One verdict from several matched sparsities: any ``fails`` → fails; all ``holds`` → holds;
    none → not testable; otherwise inconclusive."""
    if not verdicts:
        return NOT_TESTABLE
    if FAILS in verdicts:
        return FAILS
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    return INCONCLUSIVE


def any_better(verdicts: Sequence[str]) -> str:
    """``a`` beats ``b`` somewhere and is never worse: any fails → fails; else any holds → holds."""
    if not verdicts:
        return NOT_TESTABLE
    if FAILS in verdicts:
        return FAILS
    return HOLDS if HOLDS in verdicts else INCONCLUSIVE


# Two-sided 95% Student-t quantiles by degrees of freedom (scipy.stats.t.ppf(0.975, df)), used when
# scipy is absent (it is a dependency of the book, not of the library).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided Student-t quantile :math:`t_{(1+\\text{level})/2,\\,df}`."""
    if df < 1:
        raise ValueError(f"df must be at least 1, not {df}")
    try:
        from scipy import stats

        return float(stats.t.ppf(0.5 + level / 2, df))
    except ImportError:  # pragma: no cover
        if level != 0.95:
            raise
        return _T975.get(df, 1.96)


@dataclass(frozen=True)
class GapInterval:
    """A gap's mean over seeds and its two-sided confidence interval ``[low, high]`` (NaN with fewer
    than two seeds), from ``n`` seeds at confidence ``level``."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def text(self) -> str:
        """In percentage points, e.g. ``+0.8 pp [-0.4, +2.0] (95%, 3 seeds)``."""
        if math.isnan(self.mean):
            return "no gap measured"
        if math.isnan(self.low):
            return f"{100 * self.mean:+.1f} pp (1 seed: no interval)"
        return (f"{100 * self.mean:+.1f} pp [{100 * self.low:+.1f}, {100 * self.high:+.1f}] "
                f"({100 * self.level:.0f}%, {self.n} seeds)")


def gap_interval(gaps: Sequence[float], level: float = 0.95) -> GapInterval:
    """The Student-t interval of the mean of per-seed gaps :math:`g_s = \\text{acc}_a(s) - \\text{acc}_b(s)`
    (each gap taken at matched sparsity, seed by seed): :math:`\\bar g \\pm t_{n-1}\\, s_g/\\sqrt n`.
    NaN gaps are dropped; with one gap the interval is NaN (one seed says nothing about the noise)."""
    values = [float(g) for g in gaps if g is not None and not math.isnan(float(g))]
    n = len(values)
    if n == 0:
        return GapInterval(math.nan, math.nan, math.nan, 0, level)
    mean = math.fsum(values) / n
    if n == 1:
        return GapInterval(mean, math.nan, math.nan, 1, level)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1, level) * sd / math.sqrt(n)
    return GapInterval(mean, mean - half, mean + half, n, level)


def judge_interval(interval: GapInterval, *, want: str, min_gap: float = MIN_GAP) -> str:
    """A gap's verdict from its confidence interval. ``want = better``: holds when the whole interval
    is above 0, fails when it is below 0. ``want = comparable`` (``a`` not worse than ``b``): holds when
    the whole interval is above ``-min_gap``, fails when it is below ``-min_gap``. Otherwise (and with
    fewer than two seeds) inconclusive."""
    if want not in ("better", "comparable"):
        raise ValueError(f"want must be 'better' or 'comparable', not {want!r}")
    if interval.n < 2 or math.isnan(interval.low):
        return INCONCLUSIVE
    edge = 0.0 if want == "better" else -min_gap
    if interval.low > edge:
        return HOLDS
    if interval.high < edge:
        return FAILS
    return INCONCLUSIVE


#: The most seeds :func:`seeds_to_decide` looks for before it gives up (None: "more than this many").
MAX_PROJECTED_SEEDS = 100


def seeds_to_decide(interval: GapInterval, *, want: str, min_gap: float = MIN_GAP,
                    max_seeds: int = MAX_PROJECTED_SEEDS) -> int | None:
    """How many seeds would let :func:`judge_interval` decide, if the per-seed gaps kept the mean
    :math:`\\bar g` and standard deviation :math:`s_g` measured so far: the fewest :math:`n \\ge 2` with
    :math:`t_{n-1}\\, s_g/\\sqrt n < |\\bar g - e|`, where the edge :math:`e` is 0 (``want = better``) or
    :math:`-` ``min_gap`` (``comparable``); :math:`s_g` is recovered from the interval's half-width. A
    projection to plan seeds with, never a verdict: more seeds also move the mean. ``interval.n`` when it
    already decides; None without a measured spread (fewer than 2 seeds), with the mean on the edge, or when more
    than ``max_seeds`` would be needed."""
    if want not in ("better", "comparable"):
        raise ValueError(f"want must be 'better' or 'comparable', not {want!r}")
    if interval.n < 2 or math.isnan(interval.low) or math.isnan(interval.high):
        return None
    if judge_interval(interval, want=want, min_gap=min_gap) != INCONCLUSIVE:
        return interval.n
    distance = abs(interval.mean - (0.0 if want == "better" else -min_gap))
    if distance == 0:
        return None
    sd = (interval.high - interval.low) / 2 * math.sqrt(interval.n) / t_quantile(interval.n - 1, interval.level)
    for n in range(interval.n + 1, max_seeds + 1):  # fewer seeds give a wider interval: no need to look below
        if t_quantile(n - 1, interval.level) * sd / math.sqrt(n) < distance:
            return n
    return None


def chance_past_edge(places: int, *, seeds: int = 3, correlation: float = 0.0, level: float = 0.95,
                     trials: int = 20_000, rng_seed: int = 0) -> float:
    r"""How often at least one of ``places`` matched sparsities gets a t-interval (:func:`gap_interval`, confidence
    ``level``) wholly below the edge by chance alone, when the true gap sits exactly on the edge at every place:
    the chance that "comparable" (or "better") fails, or holds, on noise, because it was looked at in several
    places. A Monte Carlo estimate from ``trials`` draws (generator seeded with ``rng_seed``): the ``seeds``
    per-seed gaps of each place are normal, with correlation ``correlation`` between the places of one seed
    (they share that seed's networks and data order; 0: independent places, 1: one place counted many times).

    One place gives :math:`(1 - \text{level})/2` (1 in 40 at 95%); :math:`N` independent places give
    :math:`1 - (1 - (1 - \text{level})/2)^N`, at most :math:`N` times one place's chance. A number to read a
    verdict's sureness by, never a verdict."""
    from ..errors import ParameterError

    if not isinstance(places, int) or places < 1:
        raise ParameterError("places", places, "give the number of matched sparsities looked at, 1 or more")
    if not isinstance(seeds, int) or seeds < 2:
        raise ParameterError("seeds", seeds, "an interval needs 2 seeds or more")
    if not 0.0 <= correlation <= 1.0:
        raise ParameterError("correlation", correlation, "a correlation between places lies in [0, 1]")
    if not 0.0 < level < 1.0:
        raise ParameterError("level", level, "a confidence level lies in the open interval (0, 1)")
    if not isinstance(trials, int) or trials < 1:
        raise ParameterError("trials", trials, "give 1 trial or more")
    import numpy as np

    rng = np.random.default_rng(rng_seed)
    shared = rng.standard_normal((trials, seeds, 1))  # one draw per seed, common to its places
    own = rng.standard_normal((trials, seeds, places))
    gaps = math.sqrt(correlation) * shared + math.sqrt(1.0 - correlation) * own  # true gap 0: on the edge
    mean, sd = gaps.mean(axis=1), gaps.std(axis=1, ddof=1)
    high = mean + t_quantile(seeds - 1, level) * sd / math.sqrt(seeds)
    return float((high < 0).any(axis=1).mean())


@dataclass(frozen=True)
class TrainingState:
    """Whether a layer's dense network is trained enough for its claims to speak: ``note`` says why
    not (empty when trained)."""

    trained: bool
    note: str = ""


def training_state(dense: float, *, epochs: int, paper_epochs: int, train_images: int, full_images: int,
                   paper_dense: float | None = None, paper_source: str = "") -> TrainingState:
    """Whether a layer's dense network is trained enough for its claims to speak.

    - Fewer epochs per round than the paper's: *untrained*, unless the layer trains on the paper's full
      training set and its dense accuracy is within :data:`UNTRAINED_GAP` of the paper's own
      (``paper_dense``, quoted from the paper; ``None`` where the paper prints none).
    - The paper's full training set: *untrained* when the dense accuracy is more than
      :data:`UNTRAINED_GAP` below ``paper_dense``, else (or without that figure) trained.
    - At least the paper's epochs per round on fewer training images: *trained on a reduced data set*.
      Its dense accuracy is not compared with the paper's (other data, so another attainable accuracy),
      and the claims speak, but only for that data: ``trained`` with a note saying so, e.g. ``trained for
      the paper's 85 epochs per round, but on 5,170 of 50,000 training images: the verdict holds for this
      reduced data set, not the paper's``.

    An untrained note gives the dense accuracy and the budget, e.g. ``untrained: dense 52.1% after 8 of
    the paper's 85 epochs per round on 5,170 of 50,000 training images``, with the paper's figure where it
    exists; no paper-scale accuracy is ever estimated."""
    full_data = train_images >= full_images
    short = epochs < paper_epochs
    if full_data and paper_dense is not None and not math.isnan(dense):
        untrained = dense < paper_dense - UNTRAINED_GAP
    else:
        untrained = short
    budget = (f"after {epochs} of the paper's {paper_epochs} epochs per round on {train_images:,} of "
              f"{full_images:,} training images")
    if not untrained:
        if full_data:
            return TrainingState(True)
        return TrainingState(True, f"trained for {epochs} epochs per round (the paper's: {paper_epochs}), but on "
                                   f"{train_images:,} of {full_images:,} training images: the verdict holds for "
                                   "this reduced data set, not the paper's")
    if math.isnan(dense):
        return TrainingState(False, f"untrained: {budget} (the dense network is not among these runs)")
    paper = f" vs {100 * paper_dense:.2f}% in the paper{f' ({paper_source})' if paper_source else ''}" \
        if paper_dense is not None else ""
    return TrainingState(False, f"untrained: dense {100 * dense:.1f}%{paper} {budget}")


def cap(verdict: str, state: TrainingState) -> str:
    """An untrained layer's claims are at most inconclusive."""
    return INCONCLUSIVE if not state.trained and verdict in (HOLDS, FAILS) else verdict
