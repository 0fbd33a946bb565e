r"""Section IV of the paper, checked numerically: Problem (4) on strongly convex losses.

The paper assumes trained weights :math:`\theta \in \mathbb{R}^d` and an unknown sparse binary mask
:math:`\tilde m \in \{0,1\}^d` with :math:`k = \|\tilde m\|_0` ones, and estimates it by

.. math::  m^* = \operatorname*{argmin}_{m \in [0,1]^d} \mathcal{L}(m) + \lambda R(m)   \tag{4, 5}

with R of Assumption 1 (eq. (3)). Under

.. math::  \|\nabla\mathcal{L}(\tilde m)\|_\infty \le \lambda                              \tag{6}

.. math::  \mathcal{L}(m^*) \ge \mathcal{L}(\tilde m) + \nabla\mathcal{L}(\tilde m)^T(m^* - \tilde m)
           + \tfrac{\gamma}{2}\|m^* - \tilde m\|_2^2                                      \tag{7}

Theorem 1 (R = ℓ1) gives :math:`\|h\|_2 \le 4\lambda\sqrt{k}/\gamma` with :math:`h = m^* - \tilde m`
(eq. (8)); Theorem 2 (strictly concave R) improves it by means of

.. math::  \phi(m^*) = R(m^*) - \|m^*\|_1 \ge 0,                                          \tag{17}

and Lemma 1 says: if :math:`4\sqrt{k}\lambda/\gamma < 1` and :math:`m^* \in \{0,1\}^d` then
:math:`m^* = \tilde m`.

What this module provides, all batched over instances as tensor operations (float64):

* :func:`generate_instances` -- random least-squares instances with a planted k-sparse mask,
  :math:`\mathcal{L}(m) = \frac{1}{2n}\|X(\theta \odot m) - y\|_2^2 + \frac{\mu}{2}\|m\|_2^2`,
  :math:`y = X(\theta \odot \tilde m) + \sigma\xi`; the Hessian
  :math:`H = \operatorname{diag}(\theta) X^T X \operatorname{diag}(\theta)/n + \mu I` is constant, so
  (7) holds exactly with :math:`\gamma = \lambda_{\min}(H)` (computed by ``eigvalsh``), and the
  smallest λ allowed by (6) is :math:`\|\nabla\mathcal{L}(\tilde m)\|_\infty`;
* :func:`solve_problem4` -- projected gradient for (4) (:mod:`concave_lottery.section4.solver`) with step
  :math:`1/\lambda_{\max}(H)`,
  batched over instances and a λ grid, for any :class:`~concave_lottery.regularizers.Regularizer`;
* :func:`theorem1_bound`, :func:`phi`, :func:`theorem2_bound_printed`, :func:`theorem2_bound_proof`;
* :func:`check_theorems` -- one DataFrame row per (regularizer, λ, instance) with the error,
  the bounds, whether (6), (7) and the optimality step (9) held, and the Lemma 1 check;
* :func:`head_to_head` -- how often one regularizer's estimate beats another's.

**About Theorem 2 as printed.** Eq. (14) reads :math:`\|h\|_2 \le 4\lambda\sqrt{k}/\gamma - \phi(m^*)`.
The proof, (15)-(16) combined with (7) and (11) exactly as in (12)-(13), shows

.. math::  \tfrac{\gamma}{2}\|h\|_2^2 \le 2\lambda\sqrt{k}\,\|h\|_2 - \lambda\,\phi(m^*),

i.e. :math:`\|h\|_2 \le 4\lambda\sqrt{k}/\gamma - 2\lambda\phi(m^*)/(\gamma\|h\|_2)` for
:math:`h \ne 0`, or, solving the quadratic inequality,

.. math::  \|h\|_2 \le \frac{2\lambda\sqrt{k} + \sqrt{4\lambda^2 k - 2\gamma\lambda\phi(m^*)}}{\gamma}
           \approx \frac{4\lambda\sqrt{k}}{\gamma} - \frac{\phi(m^*)}{2\sqrt{k}}
           \quad(\text{small } \phi),

(and, as a by-product, :math:`\phi(m^*) \le 2\lambda k/\gamma`). So the improvement the proof
supports is :math:`2\lambda\phi/(\gamma\|h\|_2)` -- of order :math:`\phi/(2\sqrt{k})` -- not
:math:`\phi` itself. The printed (14) is a different, stronger statement (a distance minus a sum
over up to d coordinates, which can be negative) and it is false in general:
:func:`theorem2_counterexample` builds a separable instance (H = I, so the global minimiser is
known coordinate by coordinate) satisfying (6), (7) and (9) where, for log(ε=0.1), k = 16,
λ = 0.2, :math:`\|h\|_2 \approx 1.22` while :math:`4\lambda\sqrt{k}/\gamma - \phi(m^*) \approx 0.49`
(the proof's bound is 2.81, Theorem 1's 3.2). On random instances the bounds are loose
(:math:`\|h\|_2` is typically < 20% of (8)) and (14) as printed is rarely tested. Both versions
are reported: ``bound_thm2_printed`` and ``bound_thm2_proof``.

**About the solver.** For ℓ1, (4) is strongly convex and projected gradient converges to the
global minimiser. For a strictly concave r, (4) is nonconvex, but the concave part lies below its
tangent, :math:`R(m') \le R(m) + \nabla R(m)^T(m' - m)`, and :math:`\mathcal{L}` lies below its
quadratic upper model with curvature :math:`\lambda_{\max}(H)`; so the projected step with
:math:`\eta = 1/\lambda_{\max}(H)` minimises a majoriser of the objective and never increases it
(majorise-minimise, as in iteratively reweighted ℓ1), whatever the curvature of r -- even ℓq with
:math:`r'(0) = \infty`. It reaches a KKT point of (4), not necessarily the global minimiser the
theorems speak of; the proofs only use the optimality inequality (9)/(15),
:math:`\mathcal{L}(m^*) + \lambda R(m^*) \le \mathcal{L}(\tilde m) + \lambda R(\tilde m)`, so that
inequality is checked and reported (``optimality9``) for the point found.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from ..errors import ParameterError
from ..method.regularizers import Regularizer
from .solver import penalty_gradient, projected_gradient, stationarity

__all__ = [
    "QuadraticInstances",
    "generate_instances",
    "Problem4Solution",
    "solve_problem4",
    "kkt_residual",
    "theorem1_bound",
    "phi",
    "theorem2_bound_printed",
    "theorem2_bound_proof",
    "theorem2_counterexample",
    "check_theorems",
    "head_to_head",
    "violations",
    "theorem_summary",
    "lemma_summary",
    "phi_summary",
    "head_to_head_by_lambda",
]


# ------------------------------------------------------------------------------------------------
# Instances
# ------------------------------------------------------------------------------------------------


@dataclass
class QuadraticInstances:
    r"""A batch of B strongly convex instances of Problem (4) with planted masks.

    Instance b has :math:`\mathcal{L}_b(m) = \frac{1}{2n}\|X_b(\theta_b \odot m) - y_b\|^2
    + \frac{\mu}{2}\|m\|^2 = \frac12 m^T H_b m - c_b^T m + \mathrm{const}_b` with
    :math:`H_b = D_b X_b^T X_b D_b / n + \mu I`, :math:`D_b = \operatorname{diag}(\theta_b)`,
    :math:`c_b = D_b X_b^T y_b / n`, :math:`\mathrm{const}_b = \|y_b\|^2/(2n)`.

    Shapes: ``X`` (B, n, d), ``theta`` (B, d), ``y`` (B, n), ``m_tilde`` (B, d) in {0, 1},
    ``H`` (B, d, d), ``c`` (B, d), ``const``, ``gamma``, ``lipschitz`` (B,).
    ``gamma`` = :math:`\lambda_{\min}(H_b)`, the constant of Assumption 2 / eq. (7);
    ``lipschitz`` = :math:`\lambda_{\max}(H_b)`, the Lipschitz constant of :math:`\nabla\mathcal{L}_b`.
    Methods take masks of shape (..., B, d) and return (..., B).
    """

    X: Tensor
    theta: Tensor
    y: Tensor
    m_tilde: Tensor
    mu: float
    H: Tensor
    c: Tensor
    const: Tensor
    gamma: Tensor
    lipschitz: Tensor

    @classmethod
    def from_data(cls, X: Tensor, theta: Tensor, y: Tensor, m_tilde: Tensor, mu: float = 0.0
                  ) -> QuadraticInstances:
        """Build H, c, const, γ and the Lipschitz constant from (X, θ, y, m̃, μ)."""
        n = X.shape[-2]
        Z = X * theta[:, None, :]  # X diag(theta), (B, n, d)
        H = Z.transpose(1, 2) @ Z / n
        H = H + mu * torch.eye(H.shape[-1], dtype=H.dtype, device=H.device)
        H = 0.5 * (H + H.transpose(1, 2))
        c = (Z.transpose(1, 2) @ y[..., None])[..., 0] / n
        const = (y * y).sum(-1) / (2 * n)
        eig = torch.linalg.eigvalsh(H)
        return cls(X=X, theta=theta, y=y, m_tilde=m_tilde, mu=float(mu), H=H, c=c, const=const,
                   gamma=eig[:, 0], lipschitz=eig[:, -1])

    def subset(self, index: Tensor | Sequence[int] | slice) -> QuadraticInstances:
        """The instances selected by ``index`` (along the batch axis), as a new batch."""
        if isinstance(index, int):
            index = [index]
        pick = (lambda t: t[index]) if isinstance(index, slice) else (
            lambda t: t.index_select(0, torch.as_tensor(index, dtype=torch.long, device=t.device)))
        return QuadraticInstances(
            X=pick(self.X), theta=pick(self.theta), y=pick(self.y), m_tilde=pick(self.m_tilde),
            mu=self.mu, H=pick(self.H), c=pick(self.c), const=pick(self.const),
            gamma=pick(self.gamma), lipschitz=pick(self.lipschitz))

    @property
    def batch_size(self) -> int:
        return self.theta.shape[0]

    @property
    def d(self) -> int:
        return self.theta.shape[1]

    @property
    def n_samples(self) -> int:
        return self.X.shape[1]

    @property
    def k(self) -> Tensor:
        r""":math:`k = \|\tilde m\|_0` per instance, shape (B,)."""
        return self.m_tilde.sum(-1)

    def loss(self, m: Tensor) -> Tensor:
        r""":math:`\mathcal{L}(m) = \frac12 m^T H m - c^T m + \mathrm{const}`; m (..., B, d) -> (..., B)."""
        Hm = torch.einsum("bij,...bj->...bi", self.H, m)
        return 0.5 * (m * Hm).sum(-1) - (self.c * m).sum(-1) + self.const

    def grad(self, m: Tensor) -> Tensor:
        r""":math:`\nabla\mathcal{L}(m) = Hm - c`; m (..., B, d) -> (..., B, d)."""
        return torch.einsum("bij,...bj->...bi", self.H, m) - self.c

    def lam_min(self) -> Tensor:
        r"""The smallest λ satisfying eq. (6): :math:`\|\nabla\mathcal{L}(\tilde m)\|_\infty`, shape (B,)."""
        return self.grad(self.m_tilde).abs().amax(-1)


def generate_instances(
    n_instances: int = 64,
    d: int = 20,
    k: int = 3,
    *,
    n_samples: int | None = None,
    theta_range: tuple[float, float] = (1.0, 2.0),
    noise: float = 0.01,
    mu: float = 1e-3,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> QuadraticInstances:
    r"""Random least-squares instances of Problem (4) with a planted binary k-sparse mask.

    For each instance: :math:`X \in \mathbb{R}^{n \times d}` with i.i.d. N(0, 1) entries
    (``n_samples`` defaults to 4d), weights :math:`\theta_i = \pm U(\text{theta\_range})` with random
    signs, a support S of k indices drawn uniformly (:math:`\tilde m = 1_S`), and
    :math:`y = X(\theta \odot \tilde m) + \sigma \xi`, :math:`\xi \sim N(0, I)`, σ = ``noise``.
    Then :math:`\nabla\mathcal{L}(\tilde m) = -D X^T \sigma\xi / n + \mu\tilde m`: small noise and
    μ make (6) hold with a small λ. γ > 0 (Assumption 2) needs μ > 0 or n ≥ d.
    """
    if not isinstance(n_instances, int) or n_instances < 1:
        raise ParameterError("n_instances", n_instances, "n_instances must be an integer >= 1")
    if not isinstance(d, int) or d < 1:
        raise ParameterError("d", d, "d must be an integer >= 1")
    if not isinstance(k, int) or not 1 <= k <= d:
        raise ParameterError("k", k, f"k must be an integer in [1, d] = [1, {d}]")
    n = 4 * d if n_samples is None else n_samples
    if not isinstance(n, int) or n < 1:
        raise ParameterError("n_samples", n_samples, "n_samples must be an integer >= 1")
    lo, hi = (float(v) for v in theta_range)
    if not (0.0 < lo <= hi and math.isfinite(hi)):
        raise ParameterError("theta_range", theta_range, "theta_range must be (lo, hi) with 0 < lo <= hi")
    if not (math.isfinite(noise) and noise >= 0):
        raise ParameterError("noise", noise, "noise must be a finite number >= 0")
    if not (math.isfinite(mu) and mu >= 0):
        raise ParameterError("mu", mu, "mu must be a finite number >= 0")
    if mu == 0 and n < d:
        raise ParameterError("mu", mu, "mu must be > 0 when n_samples < d (Assumption 2 needs gamma > 0)")

    g = torch.Generator(device="cpu").manual_seed(seed)
    B = n_instances
    X = torch.randn(B, n, d, generator=g, dtype=torch.float64)
    mag = lo + (hi - lo) * torch.rand(B, d, generator=g, dtype=torch.float64)
    sign = torch.where(torch.rand(B, d, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    theta = sign * mag
    support = torch.rand(B, d, generator=g).argsort(dim=-1)[:, :k]
    m_tilde = torch.zeros(B, d, dtype=torch.float64).scatter_(1, support, 1.0)
    xi = torch.randn(B, n, generator=g, dtype=torch.float64)
    y = (X @ (theta * m_tilde)[..., None])[..., 0] + noise * xi
    to = {"dtype": dtype, "device": device}
    return QuadraticInstances.from_data(X.to(**to), theta.to(**to), y.to(**to), m_tilde.to(**to), mu)


def theorem2_counterexample(d: int = 20, k: int = 16, lam: float = 0.2) -> QuadraticInstances:
    r"""One separable instance on which eq. (14) as printed fails but the proof's bound holds.

    :math:`\mathcal{L}(m) = \frac12\|m - a\|_2^2` (X = √d I, θ = 1, μ = 0, so H = I and γ = 1) with
    :math:`\tilde m = 1_S`, :math:`S = \{0, \dots, k-1\}`, :math:`a_i = 1 - \lambda` on S and 0 elsewhere.
    Then :math:`\nabla\mathcal{L}(\tilde m) = \lambda 1_S`, so (6) holds with equality at ``lam`` and
    (7) holds with γ = 1. Problem (4) separates into scalar problems
    :math:`\min_{t \in [0,1]} \frac12 (t - a_i)^2 + \lambda r(t)`, whose global minimisers are easy to
    certify (e.g. on a fine grid). For log(ε = 0.1): off S, t* = 0; on S, t* ≈ 0.695, so
    :math:`\|h\|_2 \approx 0.305\sqrt{k}`, :math:`\phi(m^*) \approx 0.170\,k`, and
    :math:`4\lambda\sqrt{k} - \phi < \|h\|_2` as soon as k ≳ 9.
    """
    if not isinstance(d, int) or not isinstance(k, int) or not 1 <= k <= d:
        raise ParameterError("k", k, "k must be an integer in [1, d]")
    if not 0.0 < lam < 1.0:
        raise ParameterError("lam", lam, "lam must lie in (0, 1)")
    dt = torch.float64
    X = math.sqrt(d) * torch.eye(d, dtype=dt)[None]
    theta = torch.ones(1, d, dtype=dt)
    m_tilde = torch.zeros(1, d, dtype=dt)
    m_tilde[0, :k] = 1.0
    y = math.sqrt(d) * (1.0 - lam) * m_tilde  # then c = X^T y / d = a
    return QuadraticInstances.from_data(X, theta, y, m_tilde, 0.0)


# ------------------------------------------------------------------------------------------------
# Projected gradient for Problem (4)
# ------------------------------------------------------------------------------------------------


@dataclass
class Problem4Solution:
    """Output of :func:`solve_problem4` for a grid of G λ values and B instances.

    ``m`` (G, B, d); ``lam``, ``objective``, ``kkt_residual`` (G, B) float; ``iterations`` (G, B)
    long (the iteration at which the KKT residual first fell below ``tol``, else ``max_iter``);
    ``converged`` (G, B) bool; ``tol`` the tolerance used.
    """

    m: Tensor
    lam: Tensor
    objective: Tensor
    kkt_residual: Tensor
    iterations: Tensor
    converged: Tensor
    tol: float


def _lam_grid(lam: float | Sequence[float] | Tensor, B: int, like: Tensor) -> Tensor:
    """λ as a (G, B) tensor: a scalar, a (G,) grid shared by all instances, or a (G, B) array."""
    t = torch.as_tensor(lam, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        t = t.reshape(1, 1).expand(1, B)
    elif t.ndim == 1:
        t = t[:, None].expand(t.shape[0], B)
    elif t.ndim != 2 or t.shape[1] != B:
        raise ParameterError("lam", tuple(t.shape), f"lam must be a scalar, a (G,) grid or a (G, {B}) array")
    if not (torch.isfinite(t).all() and (t >= 0).all()):
        raise ParameterError("lam", lam, "every lam must be a finite number >= 0")
    return t.contiguous()


def kkt_residual(instances: QuadraticInstances, regularizer: Regularizer, m: Tensor,
                 lam: Tensor) -> Tensor:
    r"""Stationarity of (4) on the box: :math:`\|m - \Pi_{[0,1]^d}(m - \nabla F(m))\|_\infty`.

    :math:`F = \mathcal{L} + \lambda R`. The residual is 0 exactly at KKT points: :math:`\partial_i F = 0`
    where :math:`0 < m_i < 1`, :math:`\partial_i F \ge 0` where :math:`m_i = 0`, :math:`\partial_i F \le 0`
    where :math:`m_i = 1` (with :math:`r'(0) = +\infty` for ℓq, so m_i = 0 is always stationary).
    ``m`` (G, B, d), ``lam`` (G, B) -> (G, B).
    """
    return stationarity(m, instances.grad(m) + penalty_gradient(regularizer, m, lam[..., None]))


def solve_problem4(
    instances: QuadraticInstances,
    regularizer: Regularizer,
    lam: float | Sequence[float] | Tensor,
    *,
    m0: float | Tensor = 0.5,
    max_iter: int = 20_000,
    tol: float = 1e-10,
) -> Problem4Solution:
    r"""Solve Problem (4)/(5) by projected gradient, batched over a λ grid and the instances.

    .. math::  m^{t+1} = \Pi_{[0,1]^d}\!\big(m^t - \eta\,(\nabla\mathcal{L}(m^t)
               + \lambda \nabla R(m^t))\big), \qquad \eta = 1/\lambda_{\max}(H),\quad m^0 = m_0\mathbf{1}

    (:math:`m_0 = 1/2` as in Algorithm 1). ``lam`` is a scalar, a (G,) grid shared by all
    instances, or a (G, B) array (e.g. multiples of each instance's λ of eq. (6)); note that a 1-D
    tensor always means a shared grid -- pass ``lam[None, :]`` for one λ per instance. Each problem
    stops (its iterate is frozen) once its :func:`kkt_residual` is ≤ ``tol``; the loop ends when all
    have stopped or after ``max_iter`` steps. The step never increases the objective for any
    concave r (see the module docstring), so the iterates reach a KKT point of (4); for ℓ1 that is
    the global minimiser m* of (5). The iteration is :func:`concave_lottery.section4.solver.projected_gradient`.
    """
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ParameterError("max_iter", max_iter, "max_iter must be an integer >= 1")
    if not (tol > 0):
        raise ParameterError("tol", tol, "tol must be > 0")
    B, d = instances.batch_size, instances.d
    lam_t = _lam_grid(lam, B, instances.c)
    G = lam_t.shape[0]
    eta = (1.0 / instances.lipschitz)[None, :, None]
    m = torch.as_tensor(m0, dtype=instances.c.dtype, device=instances.c.device)
    run = projected_gradient(instances.grad, regularizer, lam_t[..., None], m.expand(G, B, d), eta,
                             max_iter=max_iter, tol=tol)
    objective = instances.loss(run.m) + lam_t * regularizer.value(run.m).sum(-1)
    return Problem4Solution(m=run.m, lam=lam_t, objective=objective, kkt_residual=run.residual,
                            iterations=run.iterations, converged=run.converged, tol=tol)


# ------------------------------------------------------------------------------------------------
# Bounds of Theorems 1 and 2, φ of eq. (17)
# ------------------------------------------------------------------------------------------------


def theorem1_bound(lam: Tensor, k: Tensor, gamma: Tensor) -> Tensor:
    r"""Eq. (8): :math:`\|m^* - \tilde m\|_2 \le 4\lambda\sqrt{k}/\gamma` (broadcasting)."""
    return 4.0 * lam * torch.sqrt(torch.as_tensor(k, dtype=lam.dtype)) / gamma


def phi(regularizer: Regularizer, m: Tensor) -> Tensor:
    r"""Eq. (17): :math:`\phi(m) = R(m) - \|m\|_1 = \sum_i (r(m_i) - m_i) \ge 0` over the last axis.

    Nonnegative for every r of Assumption 1 (concave with r(0)=0, r(1)=1 lies above the chord
    r(m) = m), zero for ℓ1 and for binary m.
    """
    with torch.no_grad():
        return (regularizer.value(m) - m).sum(-1)


def theorem2_bound_printed(lam: Tensor, k: Tensor, gamma: Tensor, phi_m: Tensor) -> Tensor:
    r"""Eq. (14) as printed: :math:`4\lambda\sqrt{k}/\gamma - \phi(m^*)` (see the module docstring)."""
    return theorem1_bound(lam, k, gamma) - phi_m


def theorem2_bound_proof(lam: Tensor, k: Tensor, gamma: Tensor, phi_m: Tensor) -> Tensor:
    r"""What the proof of Theorem 2 shows: the larger root of
    :math:`\frac{\gamma}{2}x^2 - 2\lambda\sqrt{k}\,x + \lambda\phi = 0`,

    .. math::  \|h\|_2 \le \big(2\lambda\sqrt{k}
               + \sqrt{\max(4\lambda^2 k - 2\gamma\lambda\phi, 0)}\big)/\gamma
               \;\le\; 4\lambda\sqrt{k}/\gamma.

    Equals (8) when φ = 0. A negative discriminant (φ > 2λk/γ) cannot happen at a point satisfying
    (6), (7) and (9); there the function returns :math:`2\lambda\sqrt{k}/\gamma`.
    """
    kk = torch.as_tensor(k, dtype=lam.dtype)
    disc = (4.0 * lam * lam * kk - 2.0 * gamma * lam * phi_m).clamp_min(0.0)
    return (2.0 * lam * torch.sqrt(kk) + torch.sqrt(disc)) / gamma


# ------------------------------------------------------------------------------------------------
# The table
# ------------------------------------------------------------------------------------------------


def check_theorems(
    instances: QuadraticInstances,
    regularizers: Regularizer | Sequence[Regularizer],
    *,
    lam_factors: Sequence[float] | None = (1.0, 2.0, 4.0),
    lams: Sequence[float] | None = None,
    m0: float = 0.5,
    max_iter: int = 20_000,
    tol: float = 1e-10,
    binary_tol: float = 1e-6,
) -> pd.DataFrame:
    r"""Solve (4) for every regularizer, λ and instance, and check Theorems 1, 2 and Lemma 1.

    λ grid: ``lam_factors`` multiply each instance's smallest λ of eq. (6),
    :math:`\lambda_{\min} = \|\nabla\mathcal{L}(\tilde m)\|_\infty` (factor ≥ 1 ⇔ (6) holds), or,
    if ``lams`` is given, those absolute values are used for every instance.

    One row per (regularizer, λ, instance). Columns:

    * ``regularizer`` (label such as ``log(eps=0.1)``), ``reg_name``, ``instance``, ``lam_index``,
      ``lam``, ``lam_factor`` (λ/λ_min), ``lam_min`` (eq. 6), ``d``, ``k``, ``gamma``, ``lipschitz``;
    * ``assumption6`` (:math:`\|\nabla\mathcal{L}(\tilde m)\|_\infty \le \lambda`), ``assumption7_gap``
      (left minus right side of (7) minus nothing: :math:`\mathcal{L}(m^*) - \mathcal{L}(\tilde m) -
      \nabla\mathcal{L}(\tilde m)^T h - \frac{\gamma}{2}\|h\|^2`) and ``assumption7`` (gap ≥ -tol);
      ``optimality9`` (:math:`F(m^*) \le F(\tilde m)`, eq. (9)/(15), automatic for a global
      minimiser), ``premises`` (all three);
    * ``error`` :math:`\|m^* - \tilde m\|_2`, ``error_linf``, ``bound_thm1`` (eq. 8) and
      ``thm1_holds``; ``phi`` (eq. 17); ``bound_thm2_printed`` (eq. 14 as printed),
      ``thm2_printed_holds``; ``bound_thm2_proof`` (what the proof shows) and ``thm2_proof_holds``;
    * ``nnz`` (entries > binary_tol), ``binary`` (:math:`m^* \in \{0,1\}^d` within binary_tol),
      ``support_recovered`` (:math:`\{i: m^*_i > \text{binary\_tol}\} = S`), ``equals_planted``
      (:math:`\|m^* - \tilde m\|_\infty \le` binary_tol), ``lemma1_applies`` (premises,
      :math:`4\sqrt{k}\lambda/\gamma < 1` and binary), ``lemma1_holds`` (not applies, or equals_planted);
    * ``objective``, ``objective_planted`` (:math:`F(\tilde m) = \mathcal{L}(\tilde m) + \lambda k`),
      ``iterations``, ``kkt_residual``, ``converged``.

    A "holds" flag compares with a relative slack of 1e-9 for rounding.
    """
    regs = [regularizers] if isinstance(regularizers, Regularizer) else list(regularizers)
    B = instances.batch_size
    lam_min = instances.lam_min()
    dtype = instances.c.dtype
    if lams is not None:
        lam_grid = _lam_grid(torch.as_tensor(lams, dtype=dtype), B, instances.c)
        factors = lam_grid / lam_min
    else:
        if lam_factors is None or len(lam_factors) == 0:
            raise ParameterError("lam_factors", lam_factors, "give lam_factors or lams")
        factors = torch.as_tensor(lam_factors, dtype=dtype)[:, None].expand(-1, B)
        lam_grid = factors * lam_min
    G = lam_grid.shape[0]

    mt = instances.m_tilde
    k = instances.k
    gamma = instances.gamma
    L_tilde = instances.loss(mt)
    g_tilde = instances.grad(mt)
    slack = 1e-9

    frames = []
    for reg in regs:
        sol = solve_problem4(instances, reg, lam_grid, m0=m0, max_iter=max_iter, tol=tol)
        m = sol.m
        h = m - mt
        err = h.norm(dim=-1)
        L_star = instances.loss(m)
        gap7 = L_star - L_tilde - (g_tilde * h).sum(-1) - 0.5 * gamma * (h * h).sum(-1)
        scale = 1.0 + L_tilde.abs()
        a6 = lam_min <= lam_grid * (1 + slack)
        a7 = gap7 >= -slack * scale
        F_tilde = L_tilde + lam_grid * k  # R(m̃) = k for a binary m̃
        opt9 = sol.objective <= F_tilde + slack * (1.0 + F_tilde.abs())
        premises = a6 & a7 & opt9
        b1 = theorem1_bound(lam_grid, k, gamma)
        ph = phi(reg, m)
        b2p = theorem2_bound_printed(lam_grid, k, gamma, ph)
        b2 = theorem2_bound_proof(lam_grid, k, gamma, ph)
        ok = lambda e, b: e <= b + slack * (1.0 + b.abs())  # noqa: E731
        binary = ((m <= binary_tol) | (m >= 1 - binary_tol)).all(-1)
        nnz = (m > binary_tol).sum(-1)
        support = ((m > binary_tol) == (mt > 0.5)).all(-1)
        equals = h.abs().amax(-1) <= binary_tol
        lemma_applies = premises & (b1 < 1) & binary
        cols = {
            "regularizer": reg.label,
            "reg_name": reg.name,
            "instance": torch.arange(B).expand(G, B),
            "lam_index": torch.arange(G)[:, None].expand(G, B),
            "lam": lam_grid,
            "lam_factor": factors,
            "lam_min": lam_min.expand(G, B),
            "d": instances.d,
            "k": k.expand(G, B),
            "gamma": gamma.expand(G, B),
            "lipschitz": instances.lipschitz.expand(G, B),
            "assumption6": a6,
            "assumption7_gap": gap7,
            "assumption7": a7,
            "optimality9": opt9,
            "premises": premises,
            "error": err,
            "error_linf": h.abs().amax(-1),
            "bound_thm1": b1,
            "thm1_holds": ok(err, b1),
            "phi": ph,
            "bound_thm2_printed": b2p,
            "thm2_printed_holds": ok(err, b2p),
            "bound_thm2_proof": b2,
            "thm2_proof_holds": ok(err, b2),
            "nnz": nnz,
            "binary": binary,
            "support_recovered": support,
            "equals_planted": equals,
            "lemma1_applies": lemma_applies,
            "lemma1_holds": ~lemma_applies | equals,
            "objective": sol.objective,
            "objective_planted": F_tilde,
            "iterations": sol.iterations,
            "kkt_residual": sol.kkt_residual,
            "converged": sol.converged,
        }
        data = {
            name: (v.detach().cpu().reshape(-1).numpy() if isinstance(v, Tensor) else v)
            for name, v in cols.items()
        }
        frames.append(pd.DataFrame(data))
    df = pd.concat(frames, ignore_index=True)
    df["k"] = df["k"].round().astype(int)
    return df


def violations(holds: pd.Series) -> int:
    """How many problems a check fails on: the count of ``False`` in a column of booleans such as
    ``thm1_holds`` of :func:`check_theorems` (usable as a ``groupby(...).agg`` function)."""
    return int((~holds.astype(bool)).sum())


def theorem_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per regularizer and λ/λ_min (rows of :func:`check_theorems`): how many problems, in how many the
    premises and (9) held, how many violate (8), (14) as printed and the proof's bound, and the median
    error and bound (8)."""
    return df.groupby(["regularizer", "lam_factor"]).agg(
        problems=("error", "size"),
        premises=("premises", "sum"),
        eq9=("optimality9", "sum"),
        thm1_fails=("thm1_holds", violations),
        thm2_printed_fails=("thm2_printed_holds", violations),
        thm2_proof_fails=("thm2_proof_holds", violations),
        median_error=("error", "median"),
        median_bound=("bound_thm1", "median"),
    )


def lemma_summary(dfl: pd.DataFrame) -> pd.DataFrame:
    """Per regularizer and λ/λ_min: where the premises held, the bound (8) is below 1, m* is binary,
    Lemma 1 applies, m* = m̃, and how many problems violate Lemma 1 and Theorem 1."""
    return dfl.groupby(["regularizer", "lam_factor"]).agg(
        premises=("premises", "sum"),
        bound_below_1=("bound_thm1", lambda b: int((b < 1).sum())),
        binary=("binary", "sum"),
        lemma1_applies=("lemma1_applies", "sum"),
        equals_planted=("equals_planted", "sum"),
        lemma1_fails=("lemma1_holds", violations),
        thm1_fails=("thm1_holds", violations),
    )


def phi_summary(held: pd.DataFrame) -> pd.DataFrame:
    """Per λ/λ_min, over the problems whose premises held: φ(m*) (median, largest) and the largest
    φγ/(2λk), which inequality (⋆) bounds by 1."""
    return held.assign(phi_ratio=held["phi"] * held["gamma"] / (2 * held["lam"] * held["k"])).groupby(
        "lam_factor").agg(problems=("phi", "size"), median_phi=("phi", "median"), largest_phi=("phi", "max"),
                          largest_phi_over_2lamk_gamma=("phi_ratio", "max"))


def head_to_head(df: pd.DataFrame, a: str, b: str, metric: str = "error", rtol: float = 1e-6
                 ) -> pd.DataFrame:
    """Per λ (``lam_index``): how often regularizer ``a`` has a smaller ``metric`` than ``b``.

    ``a``, ``b`` are ``regularizer`` labels (e.g. ``"log(eps=0.1)"``, ``"l1"``) in a table from
    :func:`check_theorems`; rows are paired by (lam_index, instance). Differences within ``rtol``
    (relative) count as ties. Returns columns ``lam_index``, ``lam_factor`` (mean), ``wins``,
    ``ties``, ``losses``, ``n``, ``win_rate``.
    """
    for lab in (a, b):
        if lab not in set(df["regularizer"]):
            known = ", ".join(sorted(set(df["regularizer"])))
            raise ParameterError("regularizer", lab, f"regularizer must be one of {known}")
    key = ["lam_index", "instance"]
    left = df[df["regularizer"] == a].set_index(key)
    right = df[df["regularizer"] == b].set_index(key)
    va, vb = left[metric].align(right[metric], join="inner")
    tie = (va - vb).abs() <= rtol * (1.0 + vb.abs())
    out = pd.DataFrame({"win": (va < vb) & ~tie, "tie": tie, "loss": (va > vb) & ~tie,
                        "lam_factor": left["lam_factor"].reindex(va.index)})
    g = out.groupby(level="lam_index")
    res = pd.DataFrame({
        "lam_factor": g["lam_factor"].mean(),
        "wins": g["win"].sum(),
        "ties": g["tie"].sum(),
        "losses": g["loss"].sum(),
    })
    res["n"] = res["wins"] + res["ties"] + res["losses"]
    res["win_rate"] = res["wins"] / res["n"]
    return res.reset_index()


def head_to_head_by_lambda(df: pd.DataFrame, a: str, b: str, metric: str = "error",
                           names: tuple[str, str] | None = None) -> pd.DataFrame:
    """:func:`head_to_head` indexed by λ/λ_min, with each regularizer's median ``metric`` beside it
    (columns ``median <metric> <name>``, ``b`` first; ``names`` are short names for ``a`` and ``b``,
    their labels by default)."""
    h2h = head_to_head(df, a, b, metric=metric)
    medians = df.groupby(["lam_index", "regularizer"])[metric].median().unstack()
    name_a, name_b = names or (a, b)
    h2h[f"median {metric} {name_b}"] = medians[b].to_numpy()
    h2h[f"median {metric} {name_a}"] = medians[a].to_numpy()
    return h2h.drop(columns="lam_index").set_index("lam_factor")
