"""Bisection in log scale for a target sparsity (concave_lottery.method.bisection), on synthetic functions.

A synthetic s(x) stands for the sparsity a search reaches at λ = x: a logistic curve in log x (the shape the
recorded calibrations show) with random centre and steepness, monotone by construction.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from concave_lottery.method.bisection import (
    Probe,
    bisect_log,
    monotonicity_violations,
    round_value,
)


def logistic(centre: float, steepness: float, increasing: bool = True):
    def s(x: float) -> float:
        z = steepness * (math.log10(x) - centre) * (1 if increasing else -1)
        return 1.0 / (1.0 + math.exp(-z))
    return s


@settings(max_examples=60, deadline=None)
@given(centre=st.floats(-8, -3), steepness=st.floats(0.5, 6), target=st.floats(0.05, 0.95),
       start=st.floats(-9, -2), increasing=st.booleans())
def test_reaches_every_target_of_a_monotone_curve(centre, steepness, target, start, increasing):
    s = logistic(centre, steepness, increasing)
    calls: list[float] = []

    def f(x: float) -> float:
        calls.append(x)
        return s(x)

    result = bisect_log(f, target=target, tolerance=0.01, lo=10 ** (start - 0.5), hi=10 ** (start + 0.5),
                        budget=60, increasing=True if increasing else None, bounds=(1e-16, 1e3))
    assert result.status == "reached", result.reason
    assert abs(result.best.sparsity - target) <= 0.01
    assert abs(s(result.best.value) - result.best.sparsity) < 1e-12
    assert result.monotone and not result.dips
    assert len(calls) == len(set(calls)) == len(result.probes)  # a value is never probed twice
    assert all(x == round_value(x) for x in calls)


@settings(max_examples=40, deadline=None)
@given(centre=st.floats(-8, -3), steepness=st.floats(0.5, 6), target=st.floats(0.05, 0.95))
def test_the_probes_are_a_function_of_the_outcomes(centre, steepness, target):
    """A rerun asks for the same values in the same order (each is a cached run folder)."""
    s = logistic(centre, steepness)
    first = bisect_log(s, target=target, tolerance=0.01, lo=1e-7, hi=1e-6, budget=40, increasing=True)
    again = bisect_log(s, target=target, tolerance=0.01, lo=1e-7, hi=1e-6, budget=40, increasing=True)
    assert first.probes == again.probes


def test_budget_stops_and_keeps_the_closest():
    s = logistic(-5.3, 1.0)
    result = bisect_log(s, target=0.5, tolerance=1e-9, lo=1e-9, hi=1e-8, budget=5, increasing=True)
    assert result.status == "budget" and len(result.probes) == 5
    assert result.best == min(result.probes, key=lambda p: abs(p.sparsity - 0.5))


def test_unreachable_targets_say_why():
    capped = lambda x: min(0.8, logistic(-5, 2)(x))  # noqa: E731  never above 0.8
    result = bisect_log(capped, target=0.9, tolerance=0.01, lo=1e-6, hi=1e-5, budget=50, increasing=True,
                        bounds=(1e-12, 1.0))
    assert result.status == "unreachable" and "reaches only" in result.reason
    flat = bisect_log(lambda x: 0.3, target=0.9, tolerance=0.01, lo=1e-3, hi=1e-2, budget=50)
    assert flat.status == "unreachable" and "both ends" in flat.reason and len(flat.probes) == 2


def test_a_jump_over_the_target_ends_at_the_resolution():
    step = lambda x: 0.0 if x < 3.3e-6 else 1.0  # noqa: E731
    result = bisect_log(step, target=0.5, tolerance=0.01, lo=1e-6, hi=1e-5, budget=60, increasing=True)
    assert result.status == "resolution"
    values = sorted(p.value for p in result.probes)
    pairs = zip(values, values[1:], strict=False)
    assert any(a < 3.3e-6 <= b and round_value(math.sqrt(a * b)) in (a, b) for a, b in pairs)


def test_non_monotone_curves_are_detected_and_still_bracketed():
    def dip(x: float) -> float:  # 0.5 up to 2e-6, down to 0.2 at 1e-5, then up to 0.9 at 1e-4
        if x <= 2e-6:
            return 0.5
        return 0.2 + 0.7 * min(1.0, max(0.0, math.log10(x) + 5))

    result = bisect_log(dip, target=0.7, tolerance=0.01, lo=1e-6, hi=1e-4, budget=40, increasing=True)
    assert result.status == "reached" and abs(result.best.sparsity - 0.7) <= 0.01
    assert 1e-5 < result.best.value < 1e-4  # the sign change of s - target is kept, the dip is not
    assert not result.monotone
    assert result.violations == [(Probe(1e-6, 0.5), Probe(1e-5, 0.2))]


def test_monotonicity_violations():
    p = [Probe(1.0, 0.1), Probe(2.0, 0.5), Probe(3.0, 0.4), Probe(4.0, 0.9)]
    assert monotonicity_violations(p, True) == [(p[1], p[2])]
    assert monotonicity_violations(p, None) == [(p[1], p[2])]  # direction from the extremes
    assert monotonicity_violations(p, False) == [(p[0], p[1]), (p[2], p[3])]
    assert monotonicity_violations(p, True, slack=0.2) == []  # a dip of 0.1 within the slack
    assert monotonicity_violations([Probe(1.0, 0.2), Probe(2.0, 0.2)], None) == []
