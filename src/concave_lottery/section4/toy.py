r"""A toy problem that shows why the paper puts the penalty on a relaxed mask (Sec. III-B, IV-C).

Sparse least squares, :math:`\mathcal{L}(\theta) = \frac{1}{2n}\|X\theta - y\|_2^2` with a k-sparse
ground truth. Two ways to sparsify it:

* **ℓ1 on the weights, by subgradient** (what a deep-learning library does with an ℓ1 term,
  :math:`\partial|x| \ni \operatorname{sign}(x)`, ``sign(0) = 0``):

  .. math::  \theta^{t+1} = \theta^t
             - \eta_t\big(\nabla\mathcal{L}(\theta^t) + \lambda\operatorname{sign}(\theta^t)\big).

  An entry whose optimum is 0 overshoots zero at almost every step: it oscillates around 0 with
  an amplitude of about :math:`\eta_t\lambda` and is (almost) never exactly 0.

* **A concave penalty on a relaxed mask, by projected gradient** (Algorithm 1, eq. (2), (4)):
  keep weights :math:`\hat\theta` (here the least-squares fit) and learn :math:`m \in [0,1]^d`,

  .. math::  m^{t+1} = \Pi_{[0,1]^d}\big(m^t - \eta(\nabla_m\mathcal{L}(\hat\theta\odot m^t)
             + \lambda\nabla R(m^t))\big),

  where the projection clips at 0: an entry whose gradient keeps pushing it down lands on
  **exactly** 0 after finitely many steps and stays there.

The functions return whole trajectories (float64 tensors, one row per iterate) so a chapter can
plot both. Nothing here is used by the training code; it only illustrates Sec. III-B.
:func:`with_signal_scale` prepares the instances of :mod:`concave_lottery.theory` on which
Lemma 1 can be observed (the theory chapter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from ..errors import ParameterError
from ..method.regularizers import Regularizer
from .solver import projected_gradient, subgradient_l1
from .theory import QuadraticInstances

__all__ = [
    "final_table",
    "convergence_summary",
    "ToyProblem",
    "make_toy_problem",
    "subgradient_weights",
    "projected_gradient_mask",
    "exact_zeros",
    "trajectory_frame",
    "with_signal_scale",
]


@dataclass
class ToyProblem:
    r"""A sparse least-squares problem :math:`\mathcal{L}(\theta) = \frac{1}{2n}\|X\theta - y\|^2`.

    ``X`` (n, d), ``y`` (n,), ``theta_true`` (d,) k-sparse, ``support`` (d,) bool,
    ``theta_hat`` (d,) the unregularised least-squares fit (the "trained weights" the mask acts on),
    ``lipschitz`` :math:`\lambda_{\max}(X^TX/n)`, the Lipschitz constant of :math:`\nabla\mathcal{L}`.
    """

    X: Tensor
    y: Tensor
    theta_true: Tensor
    support: Tensor
    theta_hat: Tensor
    lipschitz: float

    @property
    def d(self) -> int:
        return self.X.shape[1]

    def grad_theta(self, theta: Tensor) -> Tensor:
        r""":math:`\nabla\mathcal{L}(\theta) = X^T(X\theta - y)/n`."""
        n = self.X.shape[0]
        return self.X.T @ (self.X @ theta - self.y) / n

    def grad_mask(self, m: Tensor) -> Tensor:
        r""":math:`\nabla_m \mathcal{L}(\hat\theta \odot m)
        = \hat\theta \odot \nabla\mathcal{L}(\hat\theta\odot m)`."""
        return self.theta_hat * self.grad_theta(self.theta_hat * m)

    @property
    def mask_lipschitz(self) -> float:
        r""":math:`\lambda_{\max}(D X^T X D / n)` with :math:`D = \operatorname{diag}(\hat\theta)`."""
        n = self.X.shape[0]
        Z = self.X * self.theta_hat
        return float(torch.linalg.eigvalsh(Z.T @ Z / n)[-1])


def make_toy_problem(n: int = 60, d: int = 8, k: int = 3, noise: float = 0.1, seed: int = 0) -> ToyProblem:
    """A random instance: X with N(0, 1) entries, k nonzero weights of size 1 to 2 with random signs,
    ``y = X theta_true + noise * xi``; ``theta_hat`` is the least-squares fit."""
    if not isinstance(d, int) or d < 1:
        raise ParameterError("d", d, "d must be an integer >= 1")
    if not isinstance(k, int) or not 0 <= k <= d:
        raise ParameterError("k", k, f"k must be an integer in [0, d] = [0, {d}]")
    if not isinstance(n, int) or n < d:
        raise ParameterError("n", n, f"n must be an integer >= d = {d} (so the least-squares fit is unique)")
    if not (math.isfinite(noise) and noise >= 0):
        raise ParameterError("noise", noise, "noise must be a finite number >= 0")
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    support = torch.zeros(d, dtype=torch.bool)
    support[torch.randperm(d, generator=g)[:k]] = True
    sign = torch.where(torch.rand(d, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    theta_true = torch.where(support, sign * (1.0 + torch.rand(d, generator=g, dtype=torch.float64)), 0.0)
    y = X @ theta_true + noise * torch.randn(n, generator=g, dtype=torch.float64)
    theta_hat = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]
    lipschitz = float(torch.linalg.eigvalsh(X.T @ X / n)[-1])
    return ToyProblem(X, y, theta_true, support, theta_hat, lipschitz)


def _check_run(lam: float, step: float, n_steps: int) -> None:
    if not (math.isfinite(lam) and lam >= 0):
        raise ParameterError("lam", lam, "lam must be a finite number >= 0")
    if not (math.isfinite(step) and step > 0):
        raise ParameterError("step", step, "step must be a finite number > 0")
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ParameterError("n_steps", n_steps, "n_steps must be an integer >= 1")


def subgradient_weights(
    problem: ToyProblem,
    lam: float,
    *,
    step: float | None = None,
    n_steps: int = 200,
    theta0: Tensor | None = None,
    diminishing: bool = False,
) -> Tensor:
    r"""Subgradient iterates for :math:`\mathcal{L}(\theta) + \lambda\|\theta\|_1`, shape (n_steps+1, d).

    Step :math:`\eta_t = \eta` (default :math:`1/L`), or :math:`\eta/\sqrt{t+1}` with ``diminishing``.
    Starts from ``theta0`` (default: the least-squares fit :math:`\hat\theta`). The iteration is
    :func:`concave_lottery.section4.solver.subgradient_l1`.
    """
    step = 1.0 / problem.lipschitz if step is None else float(step)
    _check_run(lam, step, n_steps)
    theta = (problem.theta_hat if theta0 is None else theta0).clone().to(torch.float64)
    run = subgradient_l1(lambda theta, b: (problem.grad_theta(theta), None), theta, lam,
                         lambda t: step / math.sqrt(t + 1) if diminishing else step, n_steps, record=True)
    return run.trajectory


def projected_gradient_mask(
    problem: ToyProblem,
    regularizer: Regularizer,
    lam: float,
    *,
    step: float | None = None,
    n_steps: int = 200,
    m0: float = 0.5,
) -> Tensor:
    r"""Projected-gradient iterates of the relaxed mask (Problem (4) on the toy), shape (n_steps+1, d).

    :math:`m^{t+1} = \Pi_{[0,1]^d}(m^t - \eta(\nabla_m\mathcal{L} + \lambda r'(m^t)))` from
    :math:`m^0 = m_0\mathbf{1}` (1/2 as in Algorithm 1); default step :math:`1/L_m`, the inverse
    Lipschitz constant of :math:`\nabla_m\mathcal{L}`. An infinite :math:`r'(0)` (ℓq) keeps an entry at 0.
    The iteration is :func:`concave_lottery.section4.solver.projected_gradient`.
    """
    step = 1.0 / problem.mask_lipschitz if step is None else float(step)
    _check_run(lam, step, n_steps)
    if not 0.0 <= m0 <= 1.0:
        raise ParameterError("m0", m0, "m0 must lie in [0, 1]")
    m = torch.full((problem.d,), float(m0), dtype=torch.float64)
    return projected_gradient(problem.grad_mask, regularizer, lam, m, step, max_iter=n_steps, record=True).trajectory


def exact_zeros(trajectory: Tensor) -> Tensor:
    """How many entries are exactly 0 at every iterate, shape (n_steps+1,)."""
    return (trajectory == 0).sum(-1)


def trajectory_frame(trajectory: Tensor, problem: ToyProblem, method: str) -> pd.DataFrame:
    """A long table (step, coordinate, value, in_support, method) for plotting a trajectory."""
    T, d = trajectory.shape
    return pd.DataFrame({
        "step": torch.arange(T).repeat_interleave(d).numpy(),
        "coordinate": torch.arange(d).repeat(T).numpy(),
        "value": trajectory.reshape(-1).numpy(),
        "in_support": problem.support.repeat(T).numpy(),
        "method": method,
    })


def with_signal_scale(instances: QuadraticInstances, scale: float) -> QuadraticInstances:
    r"""The same instances of Problem (4) with the planted signal multiplied by ``scale``.

    The targets become :math:`y' = y + (s - 1) X(\theta \odot \tilde m)`, i.e.
    :math:`X(\theta \odot s\tilde m)` plus the same noise, so the unpenalised optimum on the support
    moves from about 1 to about s. For s > 1 it lies *outside* the box: the loss pushes the kept
    entries against the bound :math:`m_i \le 1` with a force of about
    :math:`(s-1)\,\partial^2_{ii}\mathcal{L}`, and a regularizer whose slope at 1 is smaller than that
    force keeps them exactly at 1 -- the situation in which :math:`m^*` can be binary and Lemma 1
    has something to say. X, θ, m̃ and μ are unchanged (so is γ).
    """
    if not (math.isfinite(scale) and scale > 0):
        raise ParameterError("scale", scale, "scale must be a finite number > 0")
    signal = (instances.X @ (instances.theta * instances.m_tilde)[..., None])[..., 0]
    y = instances.y + (scale - 1.0) * signal
    return QuadraticInstances.from_data(instances.X, instances.theta, y, instances.m_tilde, instances.mu)


def final_table(problem: ToyProblem, theta_sg: Tensor, mask_l1: Tensor, mask_log: Tensor) -> pd.DataFrame:
    """The last iterate of each method beside the true weights, one row per weight ``i``: the
    subgradient's θ, the ℓ1 and log masks, and the weights the log mask keeps (θ̂ ⊙ m)."""
    final = pd.DataFrame({
        "true theta": problem.theta_true.numpy(),
        "theta (subgradient)": theta_sg[-1].numpy(),
        "m (l1)": mask_l1[-1].numpy(),
        "m (log)": mask_log[-1].numpy(),
        "theta-hat · m (log)": (problem.theta_hat * mask_log[-1]).numpy(),
    })
    final.index.name = "i"
    return final


def convergence_summary(problem: ToyProblem, trajectories: dict[str, Tensor]) -> pd.DataFrame:
    """Per method (name → trajectory): its exact zeros at the end, whether its nonzeros are exactly the
    true support, and its largest move over the last 10 steps (a subgradient keeps oscillating)."""
    support = problem.support.numpy()
    return pd.DataFrame({
        "exact zeros at the end": {k: int(exact_zeros(t)[-1]) for k, t in trajectories.items()},
        "support recovered": {k: bool(((t[-1] != 0).numpy() == support).all()) for k, t in trajectories.items()},
        "largest move, last 10 steps": {k: float((t[-10:] - t[-11:-1]).abs().max())
                                        for k, t in trajectories.items()},
    })
