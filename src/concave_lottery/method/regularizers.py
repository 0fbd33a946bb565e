r"""Concave sparsity-inducing regularizers r(m) of Assumption 1.

The paper (Sec. III-A) penalises the relaxed mask :math:`m \in [0,1]^d` of eq. (1) with

.. math::  R(m) = \sum_{i=1}^d r(m_i), \qquad m_i \in [0, 1]                         \tag{3}

where, by **Assumption 1**, :math:`r : [0,1] \to [0,1]` is continuous, differentiable in
:math:`(0,1)`, concave, nondecreasing, and its image is :math:`[0,1]` (so :math:`r(0)=0`,
:math:`r(1)=1`). Such an r lies above its chord, :math:`r(m) \ge m`, which is why
:math:`\phi(m) = R(m) - \|m\|_1 \ge 0` in eq. (17).

Five members of the family are provided (``REGULARIZERS``):

=========  =========================================================================  ==========
name       r(m) on [0, 1]                                                             parameter
=========  =========================================================================  ==========
``l1``     :math:`r_1(m) = m` (paper Sec. III-A, item 1; the convex limit case)       --
``log``    :math:`r_\epsilon(m) = \log((m+\epsilon)/\epsilon) / \log((1+\epsilon)/\epsilon)`
           (paper Sec. III-A, item 2)                                                  eps > 0
``lq``     :math:`r(m) = m^q` (the ℓq choice the paper names, refs [10], [24])         0 < q < 1
``mcp``    minimax concave penalty (ref [25]) rescaled so that r(1) = 1                gamma > 0
``scad``   SCAD penalty (Fan and Li 2001) with knot 1/a, rescaled so that r(1) = 1     a > 2
=========  =========================================================================  ==========

Every class offers the elementwise value :meth:`Regularizer.value`, its closed-form derivative
:meth:`Regularizer.derivative`, and ``R(m)`` of eq. (3) by calling the object. ``value`` is
differentiable with autograd and its autograd gradient is finite on all of [0, 1], including
m = 0 for ℓq, whose true slope there is +inf (see :class:`LqRegularizer`).

:func:`check_assumption1` verifies Assumption 1 numerically for any of these or for any callable.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..errors import ParameterError, unknown_name

__all__ = [
    "Regularizer",
    "L1Regularizer",
    "LogRegularizer",
    "LqRegularizer",
    "MCPRegularizer",
    "SCADRegularizer",
    "REGULARIZERS",
    "get_regularizer",
    "Assumption1Check",
    "check_assumption1",
    "shape_table",
    "assumption1_table",
    "ASSUMPTION1_HEADERS",
]


def _finite_float(name: str, value: object) -> float:
    """``value`` as a python float, or a ParameterError if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # numpy scalars, 0-d tensors
        except (TypeError, ValueError):
            raise ParameterError(name, value, f"{name} must be a finite real number") from None
    value = float(value)
    if not math.isfinite(value):
        raise ParameterError(name, value, f"{name} must be a finite real number")
    return value


class Regularizer(abc.ABC):
    r"""A function r : [0,1] -> [0,1] of Assumption 1 and its separable sum R of eq. (3).

    Subclasses are frozen dataclasses whose fields are the regularizer's parameters; they
    implement :meth:`value` and :meth:`derivative` elementwise with torch operations, so any
    dtype and device works (parameters and constants stay python floats).

    Inputs are meant to lie in [0, 1] (the relaxed mask of eq. (1)); outside that interval the
    formulas are simply evaluated as written (ℓq gives NaN for m < 0).
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def value(self, m: Tensor) -> Tensor:
        """Elementwise r(m); differentiable with autograd, with a finite gradient on [0, 1]."""

    @abc.abstractmethod
    def derivative(self, m: Tensor) -> Tensor:
        """Elementwise closed-form r'(m) (the right derivative at 0, the left one at 1)."""

    def __call__(self, m: Tensor) -> Tensor:
        r"""R(m) = \sum_i r(m_i) over all entries of ``m`` (eq. (3)); a 0-d tensor."""
        return self.value(m).sum()

    def params(self) -> dict[str, float]:
        """The regularizer's parameters, e.g. ``{"eps": 0.1}`` (empty for ℓ1)."""
        if not is_dataclass(self):
            return {}
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}

    @property
    def label(self) -> str:
        """A short readable label: ``"log(eps=0.1)"``, ``"l1"``."""
        p = self.params()
        if not p:
            return self.name
        return f"{self.name}(" + ", ".join(f"{k}={v:g}" for k, v in p.items()) + ")"


@dataclass(frozen=True)
class L1Regularizer(Regularizer):
    r"""ℓ1 on the mask: :math:`r_1(m) = m`, so :math:`R(m) = \|m\|_1` for :math:`m \ge 0`.

    Paper Sec. III-A item 1 and Sec. V-A: both convex and concave, the limit case of the family;
    Theorem 1 (eq. (8)) is stated for it. :math:`r_1'(m) = 1`.
    """

    name: ClassVar[str] = "l1"

    def value(self, m: Tensor) -> Tensor:
        return m.clone()

    def derivative(self, m: Tensor) -> Tensor:
        return torch.ones_like(m)


@dataclass(frozen=True)
class LogRegularizer(Regularizer):
    r"""The logarithmic regularizer of paper Sec. III-A item 2 (ref [23]):

    .. math::  r_\epsilon(m) = \frac{\log((m+\epsilon)/\epsilon)}{\log((1+\epsilon)/\epsilon)}
               = \frac{\operatorname{log1p}(m/\epsilon)}{\operatorname{log1p}(1/\epsilon)},
               \qquad
               r_\epsilon'(m) = \frac{1}{(m+\epsilon)\log((1+\epsilon)/\epsilon)}, \qquad \epsilon > 0.

    Strictly concave; as :math:`\epsilon \to \infty` it tends to ℓ1 (the sup-distance is about
    :math:`1/(8\epsilon)`), as :math:`\epsilon \to 0` it tends to the ℓ0 indicator on (0, 1].
    The paper uses :math:`\epsilon = 0.1`. For ε > 1 the value is computed with ``log1p``, which
    keeps large ε accurate.
    """

    name: ClassVar[str] = "log"
    eps: float = 0.1

    def __post_init__(self) -> None:
        eps = _finite_float("eps", self.eps)
        if eps <= 0:
            raise ParameterError("eps", self.eps, "eps must be a finite number > 0")
        object.__setattr__(self, "eps", eps)

    def value(self, m: Tensor) -> Tensor:
        if self.eps <= 1.0:
            # log(m + ε) − log ε: no cancellation for ε <= 1, and torch's vectorised log is ~10x faster
            # than log1p on the CPU (this runs on every training step of Algorithm 1).
            return (torch.log(m + self.eps) - math.log(self.eps)) / math.log1p(1.0 / self.eps)
        return torch.log1p(m / self.eps) / math.log1p(1.0 / self.eps)

    def derivative(self, m: Tensor) -> Tensor:
        return 1.0 / ((m + self.eps) * math.log1p(1.0 / self.eps))


class _PowerWithFiniteSlope(torch.autograd.Function):
    """m**q whose backward evaluates the slope q * m**(q-1) at max(m, finfo(dtype).tiny).

    The true derivative of m**q (0 < q < 1) is +inf at m = 0; autograd of ``m ** q`` would
    return inf there (and NaN once multiplied by a zero upstream gradient). Flooring m at the
    smallest positive normal number of the dtype gives the slope of the chord over the tiniest
    representable step instead: finite but huge (about 1e292 in float64 for q=0.05, about 1e36 in
    float32), which keeps an entry at m=0 pinned to 0 under projected gradient steps, just as the
    infinite slope would.
    """

    @staticmethod
    def forward(ctx, m: Tensor, q: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(m)
        ctx.q = q
        return m.pow(q)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (m,) = ctx.saved_tensors
        tiny = torch.finfo(m.dtype).tiny
        slope = ctx.q * m.clamp_min(tiny).pow(ctx.q - 1.0)
        return grad_output * slope, None


@dataclass(frozen=True)
class LqRegularizer(Regularizer):
    r"""ℓq quasi-norm on the mask (paper Sec. III-A, refs [10], [24]):

    .. math::  r(m) = m^q, \qquad r'(m) = q\, m^{q-1}, \qquad 0 < q < 1.

    Strictly concave with :math:`r'(0^+) = +\infty`: :meth:`derivative` returns ``inf`` at 0.
    The autograd gradient of :meth:`value` is made finite at m = 0 by a custom
    ``torch.autograd.Function`` that evaluates the slope at ``max(m, torch.finfo(dtype).tiny)``;
    for every m > tiny it equals the true derivative.
    """

    name: ClassVar[str] = "lq"
    q: float = 0.5

    def __post_init__(self) -> None:
        q = _finite_float("q", self.q)
        if not 0.0 < q < 1.0:
            raise ParameterError("q", self.q, "q must lie in the open interval (0, 1)")
        object.__setattr__(self, "q", q)

    def value(self, m: Tensor) -> Tensor:
        return _PowerWithFiniteSlope.apply(m, self.q)

    def derivative(self, m: Tensor) -> Tensor:
        return self.q * m.pow(self.q - 1.0)


@dataclass(frozen=True)
class MCPRegularizer(Regularizer):
    r"""Minimax concave penalty (Zhang 2010; paper ref [25]) rescaled to satisfy r(1) = 1.

    With unit scale the MCP is :math:`p(t) = t - t^2/(2\gamma)` for :math:`t \le \gamma` and
    :math:`p(t) = \gamma/2` for :math:`t > \gamma` (:math:`\gamma > 0`). On [0, 1]

    .. math::  r(m) = \frac{p(m)}{p(1)}, \qquad r'(m) = \frac{\max(1 - m/\gamma, 0)}{p(1)},
               \qquad p(1) = \begin{cases} 1 - 1/(2\gamma) & \gamma \ge 1 \\ \gamma/2 & \gamma < 1
               \end{cases}

    For :math:`\gamma < 1` the penalty is flat (r = 1) on :math:`[\gamma, 1]`; as
    :math:`\gamma \to \infty` it tends to ℓ1.
    """

    name: ClassVar[str] = "mcp"
    gamma: float = 2.0

    def __post_init__(self) -> None:
        gamma = _finite_float("gamma", self.gamma)
        if gamma <= 0:
            raise ParameterError("gamma", self.gamma, "gamma must be a finite number > 0")
        object.__setattr__(self, "gamma", gamma)

    @property
    def _p1(self) -> float:
        g = self.gamma
        return 1.0 - 1.0 / (2.0 * g) if g >= 1.0 else g / 2.0

    def value(self, m: Tensor) -> Tensor:
        g = self.gamma
        inner = m - m * m / (2.0 * g)
        return torch.where(m <= g, inner, torch.full_like(m, g / 2.0)) / self._p1

    def derivative(self, m: Tensor) -> Tensor:
        return (1.0 - m / self.gamma).clamp_min(0.0) / self._p1


@dataclass(frozen=True)
class SCADRegularizer(Regularizer):
    r"""SCAD penalty (Fan and Li 2001) with its knot at :math:`\lambda_s = 1/a`, rescaled so r(1)=1.

    SCAD with parameters :math:`\lambda_s > 0`, :math:`a > 2` is

    .. math::  p(t) = \begin{cases} \lambda_s t & t \le \lambda_s \\
                      \dfrac{2 a \lambda_s t - t^2 - \lambda_s^2}{2(a-1)} & \lambda_s < t \le a\lambda_s \\
                      \lambda_s^2 (a+1)/2 & t > a\lambda_s. \end{cases}

    **Choice**: :math:`\lambda_s = 1/a`, so the last knot :math:`a\lambda_s = 1` sits at the end of
    the mask's range and the whole shape (linear, quadratic, flat at m = 1) is visible on [0, 1].
    Then :math:`p(1) = (a+1)/(2a^2)` and

    .. math::  r(m) = p(m)/p(1), \qquad
               r'(m) = \frac{1}{p(1)} \begin{cases} 1/a & m \le 1/a \\ (1 - m)/(a-1) & 1/a < m \le 1
               \\ 0 & m > 1 \end{cases}

    i.e. :math:`r(m) = 2a\,m/(a+1)` on :math:`[0, 1/a]` and :math:`r'(1) = 0`. ``a = 3.7`` is
    Fan and Li's recommendation.
    """

    name: ClassVar[str] = "scad"
    a: float = 3.7

    def __post_init__(self) -> None:
        a = _finite_float("a", self.a)
        if a <= 2:
            raise ParameterError("a", self.a, "a must be a finite number > 2")
        object.__setattr__(self, "a", a)

    def value(self, m: Tensor) -> Tensor:
        a = self.a
        lam = 1.0 / a
        p1 = (a + 1.0) / (2.0 * a * a)
        linear = lam * m
        quad = (2.0 * a * lam * m - m * m - lam * lam) / (2.0 * (a - 1.0))
        flat = torch.full_like(m, p1)
        return torch.where(m <= lam, linear, torch.where(m <= 1.0, quad, flat)) / p1

    def derivative(self, m: Tensor) -> Tensor:
        a = self.a
        lam = 1.0 / a
        p1 = (a + 1.0) / (2.0 * a * a)
        d_quad = ((1.0 - m) / (a - 1.0)).clamp_min(0.0)
        return torch.where(m <= lam, torch.full_like(m, lam), d_quad) / p1


REGULARIZERS: dict[str, type[Regularizer]] = {
    cls.name: cls
    for cls in (L1Regularizer, LogRegularizer, LqRegularizer, MCPRegularizer, SCADRegularizer)
}


def get_regularizer(
    name: str, *, eps: float = 0.1, q: float = 0.5, gamma: float = 2.0, a: float = 3.7
) -> Regularizer:
    """The regularizer called ``name`` (``l1``, ``log``, ``lq``, ``mcp``, ``scad``).

    Only the parameter the named regularizer uses is read: ``eps`` for ``log``, ``q`` for ``lq``,
    ``gamma`` for ``mcp``, ``a`` for ``scad``. Raises :class:`~concave_lottery.errors.ParameterError`
    for an unknown name or a parameter out of range.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in REGULARIZERS:
        raise unknown_name("regularizer", name, REGULARIZERS)
    cls = REGULARIZERS[key]
    kwargs = {"log": {"eps": eps}, "lq": {"q": q}, "mcp": {"gamma": gamma}, "scad": {"a": a}}.get(key, {})
    return cls(**kwargs)


# ------------------------------------------------------------------------------------------------
# Numerical check of Assumption 1
# ------------------------------------------------------------------------------------------------


@dataclass
class Assumption1Check:
    """Result of :func:`check_assumption1`: one flag per clause of Assumption 1, with the evidence.

    ``holds`` is true when every flag is. ``details`` holds the measured quantities: the values at 0
    and 1, the range of r on the grid, the most negative first difference, the largest second
    difference, and the largest jump left after refining the worst grid interval.
    """

    continuous: bool
    zero_at_zero: bool
    one_at_one: bool
    nondecreasing: bool
    concave: bool
    image_unit: bool
    details: dict[str, float] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return all(
            (self.continuous, self.zero_at_zero, self.one_at_one, self.nondecreasing, self.concave,
             self.image_unit)
        )

    def failures(self) -> list[str]:
        """Names of the clauses that fail (empty when Assumption 1 holds)."""
        names = ("continuous", "zero_at_zero", "one_at_one", "nondecreasing", "concave", "image_unit")
        return [n for n in names if not getattr(self, n)]

    def __bool__(self) -> bool:
        return self.holds


def _as_function(r: Regularizer | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    return r.value if isinstance(r, Regularizer) else r


def _eval64(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    with torch.no_grad():
        y = f(x)
    y = torch.as_tensor(y, dtype=torch.float64)
    return y.expand_as(x) if y.shape != x.shape else y


def _refined_jump(f: Callable[[Tensor], Tensor], lo: float, hi: float, cont_tol: float,
                  points: int = 101, max_refinements: int = 200) -> float:
    """Zoom into the interval [lo, hi] holding the largest jump until the jump falls below cont_tol.

    A continuous function's largest jump over a subgrid shrinks as the subgrid is refined (for
    m**0.05 near 0 only slowly, hence many refinements); a jump discontinuity keeps its size down
    to adjacent floating-point numbers. Returns the last largest jump measured.
    """
    jump = math.inf
    for _ in range(max_refinements):
        x = torch.linspace(lo, hi, points, dtype=torch.float64)
        x = torch.unique(x)  # near float resolution linspace repeats values
        if x.numel() < 2:
            return jump
        y = _eval64(f, x)
        dy = (y[1:] - y[:-1]).abs()
        if not torch.isfinite(dy).all():
            return math.inf
        j = int(torch.argmax(dy))
        jump = float(dy[j])
        if jump <= cont_tol:
            return jump
        new_lo, new_hi = float(x[j]), float(x[j + 1])
        if (new_lo, new_hi) == (lo, hi) or x.numel() == 2:
            return jump  # cannot refine further: a genuine jump at float resolution
        lo, hi = new_lo, new_hi
    return jump


def check_assumption1(
    r: Regularizer | Callable[[Tensor], Tensor], n: int = 2001, tol: float = 1e-9
) -> Assumption1Check:
    r"""Check Assumption 1 for ``r`` numerically on the float64 grid :math:`x_j = j/(n-1)`.

    ``r`` is a :class:`Regularizer` (its elementwise ``value`` is used) or any callable mapping a
    float64 tensor to a tensor of the same shape. The clauses:

    * ``zero_at_zero``: :math:`|r(0)| \le` tol; ``one_at_one``: :math:`|r(1) - 1| \le` tol;
    * ``nondecreasing``: first differences :math:`r(x_{j+1}) - r(x_j) \ge -`tol;
    * ``concave``: second differences :math:`r(x_{j+1}) - 2r(x_j) + r(x_{j-1}) \le` tol
      (on a uniform grid this is midpoint concavity at every grid point);
    * ``image_unit``: all values finite and in :math:`[-\mathrm{tol}, 1+\mathrm{tol}]`; together with
      continuity and r(0)=0, r(1)=1 this means the image is [0, 1];
    * ``continuous``: the largest jump :math:`|r(x_{j+1}) - r(x_j)|` between grid neighbours is
      small relative to the grid, :math:`\le 50/(n-1)` (a slope bound), or, failing that (ℓq with
      small q has jump :math:`(1/(n-1))^q` at 0), it shrinks below :math:`\sqrt{\mathrm{tol}}` when
      the worst interval is repeatedly refined (100x per step) down to float64 resolution. A jump
      discontinuity keeps its size all the way down and is rejected.

    Differentiability on (0, 1) is not tested numerically (every built-in r is C¹ on (0, 1)).
    """
    if n < 3:
        raise ParameterError("n", n, "n must be an integer >= 3")
    f = _as_function(r)
    x = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    y = _eval64(f, x)
    finite = bool(torch.isfinite(y).all())
    d1 = y[1:] - y[:-1]
    d2 = y[2:] - 2.0 * y[1:-1] + y[:-2]
    r0, r1 = float(y[0]), float(y[-1])
    max_jump = float(d1.abs().max()) if finite else math.inf

    slope_bound = 50.0 / (n - 1)
    cont_tol = math.sqrt(tol)
    if not finite:
        continuous, refined = False, math.inf
    elif max_jump <= slope_bound:
        continuous, refined = True, max_jump
    else:
        j = int(torch.argmax(d1.abs()))
        refined = _refined_jump(f, float(x[j]), float(x[j + 1]), cont_tol)
        continuous = refined <= cont_tol

    details = {
        "n": float(n),
        "r0": r0,
        "r1": r1,
        "min_value": float(y.min()),
        "max_value": float(y.max()),
        "min_first_difference": float(d1.min()),
        "max_second_difference": float(d2.max()),
        "max_jump": max_jump,
        "refined_max_jump": refined,
    }
    return Assumption1Check(
        continuous=continuous,
        zero_at_zero=finite and abs(r0) <= tol,
        one_at_one=finite and abs(r1 - 1.0) <= tol,
        nondecreasing=finite and float(d1.min()) >= -tol,
        concave=finite and float(d2.max()) <= tol,
        image_unit=finite and float(y.min()) >= -tol and float(y.max()) <= 1.0 + tol,
        details=details,
    )


def shape_table(regularizers, m) -> Any:
    """How each regularizer bends (a ``pandas.DataFrame``, one row per label): r(0.1), the slopes
    r'(0) and r'(1), and the largest r(m) − m on the grid ``m`` (0 for ℓ1, positive when concave)."""
    import pandas as pd

    one = torch.ones(1, dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.float64)
    return pd.DataFrame({
        "r(0.1)": [float(r.value(0.1 * one)) for r in regularizers],
        "r'(0)": [float(r.derivative(zero)) for r in regularizers],
        "r'(1)": [float(r.derivative(one)) for r in regularizers],
        "max r(m) - m": [float((r.value(m) - m).max()) for r in regularizers],
    }, index=[r.label for r in regularizers])


#: The clauses of Assumption 1 (fields of :class:`Assumption1Check`) and their headers in a table.
ASSUMPTION1_HEADERS = {"continuous": "continuous", "zero_at_zero": "r(0) = 0", "one_at_one": "r(1) = 1",
                       "nondecreasing": "nondecreasing", "concave": "concave", "image_unit": "values in [0, 1]"}


def assumption1_table(checks) -> Any:
    """The clauses of Assumption 1 checked per function (name → :func:`check_assumption1` result), one
    row each, and whether all hold (a ``pandas.DataFrame``); the columns are headed as the clauses read
    (:data:`ASSUMPTION1_HEADERS`: ``zero_at_zero`` is "r(0) = 0")."""
    import pandas as pd

    return pd.DataFrame({name: {**{head: getattr(chk, c) for c, head in ASSUMPTION1_HEADERS.items()},
                                "holds": chk.holds}
                         for name, chk in checks.items()}).T
