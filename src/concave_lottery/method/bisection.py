r"""Bisection in log scale for a target sparsity: the pure mathematics of ``lottery calibrate``.

Algorithm 1 decides sparsity only indirectly: λ of eq. (2) (and ε of the log regularizer) sets how hard the
penalty :math:`\lambda R(m)` pulls the mask towards 0, and the entries below α are pruned. For a fixed
protocol and seed, the sparsity after the search is a function :math:`s(x)` of the varied parameter x
(λ or ε). :func:`bisect_log` finds an x with :math:`|s(x) - s^\star| \le \text{tol}`:

1. it evaluates s at the two ends of a bracket :math:`[x_{lo}, x_{hi}]`;
2. while the target does not lie between :math:`s(x_{lo})` and :math:`s(x_{hi})`, it widens the bracket by
   a factor in the direction that moves s towards the target (λ: s increases with λ; ε: the direction is
   read from the two ends), up to ``bounds`` (the last step stops at the bound);
3. then it bisects in log scale, :math:`x_{mid} = \sqrt{x_{lo} x_{hi}}`, keeping the half whose ends have
   sparsities on either side of the target (a sign change of :math:`s - s^\star`: this needs continuity,
   not monotonicity, so a non-monotone s is still bracketed).

Every probed value is rounded to 4 significant digits, so the sequence of probes is a deterministic
function of the outcomes, the run folders have readable names, and a rerun asks for the same values
(each probe is a cached run: :mod:`concave_lottery.runs.calibrate`). Monotonicity is checked on every probe
so far (:func:`monotonicity_violations`): s should be nondecreasing in λ; every pair of neighbouring probes
that moves against the direction is reported, and s counts as not monotone when one of them moves by more
than a slack (default :data:`MONOTONE_SLACK`, 0.1 pp of the weights: a dip of a few weights between two
nearly equal sparsities is training noise, and is still listed).

Nothing here trains: ``f`` is any function; the tests drive it with synthetic monotone and non-monotone
functions (hypothesis).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Probe", "Bisection", "bisect_log", "monotonicity_violations", "round_value", "STATUSES", "MONOTONE_SLACK"]

#: ``reached``: a probe within tolerance; ``budget``: the probes ran out first; ``unreachable``: the target
#: is not between the sparsities at the bracket's ends and the bracket cannot be widened further (bounds, or
#: a flat s); ``resolution``: the bracket narrowed to neighbouring 4-digit values without reaching the target
#: (s jumps over it there).
STATUSES = ("reached", "budget", "unreachable", "resolution")
#: A dip against the direction no larger than this (a fraction of the weights) leaves s "monotone".
MONOTONE_SLACK = 1e-3


def round_value(x: float, digits: int = 4) -> float:
    """``x`` rounded to ``digits`` significant digits (the values probed)."""
    return float(f"{x:.{digits - 1}e}")


@dataclass(frozen=True)
class Probe:
    """One evaluation: the parameter's value and the sparsity s(value) it gave."""

    value: float
    sparsity: float


@dataclass
class Bisection:
    """The outcome of :func:`bisect_log`: every probe in the order evaluated, and how it ended."""

    target: float
    tolerance: float
    increasing: bool | None
    probes: list[Probe] = field(default_factory=list)
    status: str = "budget"
    reason: str = ""
    slack: float = MONOTONE_SLACK

    @property
    def best(self) -> Probe | None:
        """The probe closest to the target (the smaller value on a tie)."""
        if not self.probes:
            return None
        return min(self.probes, key=lambda p: (abs(p.sparsity - self.target), p.value))

    @property
    def reached(self) -> bool:
        return self.status == "reached"

    @property
    def dips(self) -> list[tuple[Probe, Probe]]:
        """Every pair of neighbouring probes that moves against the direction, however little."""
        return monotonicity_violations(self.probes, self.increasing)

    @property
    def violations(self) -> list[tuple[Probe, Probe]]:
        """The dips larger than ``slack``: s is not monotone."""
        return monotonicity_violations(self.probes, self.increasing, slack=self.slack)

    @property
    def monotone(self) -> bool:
        return not self.violations


def monotonicity_violations(probes: list[Probe], increasing: bool | None, *,
                            slack: float = 0.0) -> list[tuple[Probe, Probe]]:
    """Neighbouring probes (sorted by value) whose sparsities move against the direction by more than
    ``slack``: s should be nondecreasing in the value when ``increasing`` (λ), nonincreasing when not; when
    the direction is unknown (``None``), the direction of the two extreme probes is taken (with equal
    extremes, the first move's). Equal sparsities never violate."""
    ordered = sorted(probes, key=lambda p: p.value)
    pairs = list(zip(ordered, ordered[1:], strict=False))
    if increasing is None:
        moves = [b.sparsity - a.sparsity for a, b in pairs if b.sparsity != a.sparsity]
        if not moves:
            return []
        # the extremes' direction; with equal extremes (s goes and comes back), the first move's
        overall = ordered[-1].sparsity - ordered[0].sparsity
        increasing = (overall if overall != 0 else moves[0]) > 0
    sign = 1.0 if increasing else -1.0
    return [(a, b) for a, b in pairs if sign * (b.sparsity - a.sparsity) < -slack]


class _OutOfBudget(Exception):
    pass


def bisect_log(f: Callable[[float], float], *, target: float, tolerance: float, lo: float, hi: float,
               budget: int, factor: float = 10.0, bounds: tuple[float, float] = (1e-12, 1e3),
               increasing: bool | None = None, slack: float = MONOTONE_SLACK,
               on_probe: Callable[[Probe, Bisection], None] | None = None) -> Bisection:
    """Find x in ``bounds`` with ``|f(x) - target| <= tolerance`` by bisection in log x (see the module).

    ``f`` maps a value to a sparsity in [0, 1]; it is called at most ``budget`` times (a value already probed is
    never asked again). ``increasing`` is the known direction of f (True for λ), or ``None`` to read it from
    the bracket's ends. ``on_probe`` is called after every evaluation (a progress bar, a record). Never
    raises for an unreached target: the returned :class:`Bisection` says how it ended (``status``, ``reason``).
    """
    if not 0 < lo < hi:
        raise ValueError(f"the bracket must satisfy 0 < lo < hi, got lo={lo!r}, hi={hi!r}")
    result = Bisection(target=target, tolerance=tolerance, increasing=increasing, slack=slack)
    seen: dict[float, Probe] = {}

    def probe(x: float) -> Probe:
        x = round_value(x)
        if x in seen:
            return seen[x]
        if len(result.probes) >= budget:
            raise _OutOfBudget
        p = Probe(x, float(f(x)))
        seen[x] = p
        result.probes.append(p)
        if on_probe is not None:
            on_probe(p, result)
        return p

    def hit(p: Probe) -> bool:
        return abs(p.sparsity - target) <= tolerance

    def done(status: str, reason: str) -> Bisection:
        result.status, result.reason = status, reason
        return result

    try:
        a = probe(lo)
        if hit(a):
            return done("reached", f"s({a.value:g}) = {a.sparsity:.4f}")
        b = probe(hi)
        if hit(b):
            return done("reached", f"s({b.value:g}) = {b.sparsity:.4f}")
        direction = increasing
        # 2. widen the bracket until the target lies between the sparsities at its ends
        while not min(a.sparsity, b.sparsity) < target < max(a.sparsity, b.sparsity):
            if direction is None:
                if a.sparsity == b.sparsity:
                    return done("unreachable", f"the sparsity is {a.sparsity:.4f} at both ends of the bracket "
                                f"[{a.value:g}, {b.value:g}], so the direction to widen it in is unknown")
                direction = b.sparsity > a.sparsity
            up = (target > max(a.sparsity, b.sparsity)) == direction
            if up:
                if b.value >= bounds[1]:
                    return done("unreachable", f"the sparsity reaches only {b.sparsity:.4f} at {b.value:g}, where "
                                f"the search stops")
                a, b = b, probe(min(b.value * factor, bounds[1]))
                new = b
            else:
                if a.value <= bounds[0]:
                    return done("unreachable", f"the sparsity is still {a.sparsity:.4f} at {a.value:g}, where the "
                                f"search stops")
                a, b = probe(max(a.value / factor, bounds[0])), a
                new = a
            if hit(new):
                return done("reached", f"s({new.value:g}) = {new.sparsity:.4f}")
        # 3. bisect in log scale, keeping the half where s - target changes sign
        while True:
            mid = probe(math.sqrt(a.value * b.value))
            if mid.value in (a.value, b.value):
                return done("resolution", f"s jumps from {a.sparsity:.4f} at {a.value:g} to {b.sparsity:.4f} at "
                            f"{b.value:g}, neighbouring values at 4 significant digits")
            if hit(mid):
                return done("reached", f"s({mid.value:g}) = {mid.sparsity:.4f}")
            if (a.sparsity - target) * (mid.sparsity - target) < 0:
                b = mid
            else:
                a = mid
    except _OutOfBudget:
        return done("budget", f"the {budget} probes of the budget ran out")
