"""The converged layer's verdicts are decided by a confidence interval on the matched-sparsity gap
(issue 16 item 5): :func:`concave_lottery.evidence.verdicts.gap_interval` and ``judge_interval``."""

from __future__ import annotations

import math

import hypothesis.strategies as st
from hypothesis import given
from scipy import stats

from concave_lottery.evidence import verdicts
from concave_lottery.evidence.verdicts import FAILS, HOLDS, INCONCLUSIVE, GapInterval, gap_interval, judge_interval

gaps = st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=2, max_size=8)


@given(gaps)
def test_the_interval_is_scipys_t_interval(values):
    got = gap_interval(values)
    mean = sum(values) / len(values)
    assert math.isclose(got.mean, mean, abs_tol=1e-12)
    if max(values) - min(values) < 1e-12:  # no spread: a zero-width interval
        assert math.isclose(got.low, got.high, abs_tol=1e-9)
        return
    low, high = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
    assert math.isclose(got.low, low, abs_tol=1e-9) and math.isclose(got.high, high, abs_tol=1e-9)
    assert got.low <= got.mean <= got.high and got.n == len(values)


@given(gaps, st.sampled_from(["better", "comparable"]))
def test_a_verdict_never_contradicts_its_interval(values, want):
    interval = gap_interval(values)
    verdict = judge_interval(interval, want=want)
    edge = 0.0 if want == "better" else -verdicts.MIN_GAP
    if verdict == HOLDS:
        assert interval.low > edge
    elif verdict == FAILS:
        assert interval.high < edge
    else:
        assert verdict == INCONCLUSIVE and interval.low <= edge <= interval.high


def test_comparable_needs_the_whole_interval_above_minus_one_point():
    tight = gap_interval([-0.004, -0.002, -0.003])  # a little behind, but surely by less than 1 pp
    assert judge_interval(tight, want="comparable") == HOLDS
    assert judge_interval(tight, want="better") == FAILS
    noisy = gap_interval([-0.03, 0.02, 0.00])  # the same mean could hide a 5 pp deficit
    assert judge_interval(noisy, want="comparable") == INCONCLUSIVE
    behind = gap_interval([-0.05, -0.04, -0.045])
    assert judge_interval(behind, want="comparable") == FAILS


def test_one_seed_gives_no_interval_and_no_verdict():
    one = gap_interval([0.03, math.nan])
    assert one.n == 1 and math.isnan(one.low)
    assert judge_interval(one, want="better") == INCONCLUSIVE
    assert one.text() == "+3.0 pp (1 seed: no interval)"
    assert gap_interval([]).text() == "no gap measured"


def test_the_text_gives_mean_interval_level_and_seeds():
    assert GapInterval(0.008, -0.004, 0.02, 3).text() == "+0.8 pp [-0.4, +2.0] (95%, 3 seeds)"


def test_t_quantile_matches_the_table_without_scipy():
    for df, value in verdicts._T975.items():
        assert math.isclose(verdicts.t_quantile(df), value, abs_tol=5e-4)
