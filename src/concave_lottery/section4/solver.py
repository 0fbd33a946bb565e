r"""The solvers of Section IV, written once: projected gradient for Problem (4) and the subgradient
method for an ℓ1 penalty on the weights.

**Problem (4).** Given a loss :math:`\mathcal{L}` of the relaxed mask and a regularizer R of
Assumption 1 (eq. (3), :math:`R(m) = \sum_i r(m_i)`),

.. math::  m^* = \operatorname*{argmin}_{m \in [0,1]^d} F(m) = \mathcal{L}(m) + \lambda R(m)   \tag{4, 5}

is solved by projected gradient (the mask update of Algorithm 1, with the weights held fixed):

.. math::  m^{t+1} = \Pi_{[0,1]^d}\big(m^t - \eta\,(\nabla\mathcal{L}(m^t) + \lambda\nabla R(m^t))\big),

where :math:`\Pi_{[0,1]^d}` clips every entry to [0, 1], so an entry pushed below 0 lands on
**exactly** 0 (:func:`projected_step`). The stationarity measure is
:math:`\|m - \Pi_{[0,1]^d}(m - \nabla F(m))\|_\infty`, which is 0 exactly at the KKT points of (4)
(:func:`stationarity`). For ℓq, :math:`r'(0) = +\infty`; :func:`penalty_derivative` replaces it by the
largest float, so an entry at 0 stays there and :math:`0 \cdot r'(0)` is 0, never NaN.

:func:`projected_gradient` runs the plain iteration with a fixed step (``theory.solve_problem4``,
batched over instances and a λ grid, stopping each problem at a stationarity tolerance;
``toy.projected_gradient_mask``, recording the whole trajectory). ``logistic.mask_projected_gradient``
adds FISTA momentum, a backtracking step and an intercept to the same step; it builds its iteration
from :func:`penalty_derivative`, :func:`projected_step` and :func:`stationarity`.

**ℓ1 on the weights by the subgradient method** (Sec. III-B, the comparison of Sec. IV-C):

.. math::  \theta^{t+1} = \theta^t - \eta_t\big(\nabla_\theta\mathcal{L}(\theta^t)
           + \lambda\operatorname{sign}(\theta^t)\big), \qquad \operatorname{sign}(0) = 0,

what a deep-learning library does with an ℓ1 term (:func:`subgradient_l1`). An entry whose optimum
is 0 overshoots zero at almost every step, so the iterates are (almost) never exactly 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ..method.regularizers import Regularizer

__all__ = [
    "penalty_derivative",
    "penalty_gradient",
    "projected_step",
    "stationarity",
    "ProjectedGradientRun",
    "projected_gradient",
    "SubgradientRun",
    "subgradient_l1",
]


def penalty_derivative(regularizer: Regularizer, m: Tensor) -> Tensor:
    """r'(m) entrywise, with r'(0) = +inf (ℓq) and NaN replaced by the largest float of m's dtype."""
    big = torch.finfo(m.dtype).max
    return torch.nan_to_num(regularizer.derivative(m), nan=big, posinf=big)


def penalty_gradient(regularizer: Regularizer, m: Tensor, lam: float | Tensor) -> Tensor:
    r""":math:`\lambda\nabla R(m) = \lambda r'(m)` of (4) (``lam`` a number or a tensor broadcasting against m)."""
    return lam * penalty_derivative(regularizer, m)


def projected_step(m: Tensor, grad: Tensor, step: float | Tensor) -> Tensor:
    r""":math:`\Pi_{[0,1]^d}(m - \eta\,g)`: one projected gradient step of (4) (``step`` broadcasts against m)."""
    return (m - step * grad).clamp(0.0, 1.0)


def stationarity(m: Tensor, grad: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    r""":math:`\|m - \Pi_{[0,1]^d}(m - \nabla F(m))\|_\infty` over ``dim``: 0 exactly at a KKT point of (4).

    ``grad`` is :math:`\nabla F(m) = \nabla\mathcal{L}(m) + \lambda\nabla R(m)`; the residual is 0 where
    :math:`\partial_i F = 0` for :math:`0 < m_i < 1`, :math:`\partial_i F \ge 0` for :math:`m_i = 0` and
    :math:`\partial_i F \le 0` for :math:`m_i = 1`.
    """
    return (m - (m - grad).clamp(0.0, 1.0)).abs().amax(dim, keepdim=keepdim)


class ProjectedGradientRun(NamedTuple):
    """The result of :func:`projected_gradient`; ``batch`` is the shape of m without its last dimension."""

    m: Tensor  #: the last iterate (each problem's iterate is frozen once it has converged)
    residual: Tensor  #: (batch) :func:`stationarity` of that iterate
    iterations: Tensor  #: (batch) long, the iteration at which the residual first fell to ``tol``, else max_iter
    converged: Tensor  #: (batch) bool
    trajectory: Tensor | None  #: (max_iter+1, *m.shape) every iterate, with ``record``; else None


def projected_gradient(
    loss_grad: Callable[[Tensor], Tensor],
    regularizer: Regularizer,
    lam: float | Tensor,
    m0: Tensor,
    step: float | Tensor,
    *,
    max_iter: int,
    tol: float | None = None,
    record: bool = False,
) -> ProjectedGradientRun:
    r"""Projected gradient for Problem (4): :math:`m^{t+1} = \Pi_{[0,1]^d}(m^t - \eta(\nabla\mathcal{L}(m^t)
    + \lambda\nabla R(m^t)))` from :math:`m^0` = ``m0`` (projected onto the box).

    ``m0`` has shape (*batch, d): every leading index is its own problem. ``loss_grad(m)`` is
    :math:`\nabla\mathcal{L}(m)` (same shape); ``lam`` and ``step`` (η) broadcast against m. With ``tol``,
    a problem whose :func:`stationarity` is ≤ ``tol`` stops (its iterate is frozen) and the loop ends
    once all have stopped; without it, exactly ``max_iter`` steps are taken. ``record`` keeps every
    iterate. For a concave r and :math:`\eta \le 1/L` (L a Lipschitz constant of
    :math:`\nabla\mathcal{L}`), the step minimises a majoriser of F and never increases it.
    """
    m = m0.clamp(0.0, 1.0)
    batch = m.shape[:-1]
    done = torch.zeros(batch, dtype=torch.bool, device=m.device)
    iterations = torch.full(batch, max_iter, dtype=torch.long, device=m.device)
    residual = torch.full(batch, math.inf, dtype=m.dtype, device=m.device)
    path = [m]
    for it in range(max_iter + 1):
        grad = loss_grad(m) + penalty_gradient(regularizer, m, lam)
        res = stationarity(m, grad)
        residual = torch.where(done, residual, res)
        if tol is not None:
            newly = (~done) & (res <= tol)
            iterations = torch.where(newly, torch.full_like(iterations, it), iterations)
            done = done | newly
        if bool(done.all()) or it == max_iter:
            break
        m = torch.where(done[..., None], m, projected_step(m, grad, step))
        if record:
            path.append(m)
    return ProjectedGradientRun(m, residual, iterations, done, torch.stack(path) if record else None)


class SubgradientRun(NamedTuple):
    """The result of :func:`subgradient_l1`."""

    theta: Tensor  #: the last iterate, as a deep-learning library would return it
    b: Tensor | None  #: the last unpenalised variable (an intercept), or None
    trajectory: Tensor | None  #: (n_iter+1, *theta.shape) every θ iterate, with ``record``; else None


def subgradient_l1(
    loss_grad: Callable[[Tensor, Tensor | None], tuple[Tensor, Tensor | None]],
    theta0: Tensor,
    lam: float | Tensor,
    step: Callable[[int], float | Tensor],
    n_iter: int,
    *,
    b0: Tensor | None = None,
    record: bool = False,
) -> SubgradientRun:
    r"""The subgradient method for :math:`\min_{\theta, b}\ \mathcal{L}(\theta, b) + \lambda\|\theta\|_1`:

    .. math::  \theta^{t+1} = \theta^t - \eta_t\big(\nabla_\theta\mathcal{L}
               + \lambda\operatorname{sign}(\theta^t)\big), \qquad b^{t+1} = b^t - \eta_t\nabla_b\mathcal{L},

    both gradients taken at :math:`(\theta^t, b^t)`; ``sign(0) = 0``. ``loss_grad(theta, b)`` returns
    :math:`(\nabla_\theta\mathcal{L}, \nabla_b\mathcal{L})` (the second ignored when ``b0`` is None: no
    unpenalised variable); ``step(t)`` is :math:`\eta_t`; ``lam`` broadcasts against θ.
    """
    theta, b = theta0, b0
    path = [theta]
    for t in range(n_iter):
        eta = step(t)
        g_theta, g_b = loss_grad(theta, b)
        theta = theta - eta * (g_theta + lam * torch.sign(theta))
        if b is not None:
            b = b - eta * g_b
        if record:
            path.append(theta)
    return SubgradientRun(theta, b, torch.stack(path) if record else None)
