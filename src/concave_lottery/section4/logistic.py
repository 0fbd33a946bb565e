r"""The illustrative example of paper Sec. IV-C (Figs 3 and 4): sparse logistic regression on MNIST 0-vs-1.

Data (:mod:`concave_lottery.data.mnist01`): per random run, 160 + 160 training and 40 + 40
validation images of the digits 0 and 1, cut to their central 20x20 pixels (d = 400, values in
[0, 1]), plus an intercept. Every function here works on **all runs and all λ at once**: tensors
carry a leading run dimension R and, where λ varies, a trailing column dimension C (one column per
λ, or per (regularizer, λ) pair). There is no Python loop over runs or λ values, only over
iterations.

**The model, with the paper's sign slip corrected.** The paper prints

.. math::  \mathcal{L}(X, y; \theta) = \sum_i y_i\log\hat y_i - (1-y_i)\log(1-\hat y_i),
           \qquad \hat y_i = \frac{1}{1+e^{X_i\theta}} .

The loss has the wrong sign on its first term: :math:`y_i\log\hat y_i \le 0`, so minimising it as
printed would drive :math:`\hat y_i \to 0` exactly where :math:`y_i = 1`. The sigmoid's exponent
has the opposite of the usual sign: :math:`1/(1+e^{X_i\theta}) = \sigma(-X_i\theta)`, a valid model
only with θ negated. We use the standard pair

.. math::  \mathcal{L}(X, y; \theta, b) = -\frac1n\sum_{i=1}^n \big[y_i\log\hat y_i + (1-y_i)\log(1-\hat y_i)\big],
           \qquad \hat y_i = \sigma(X_i\theta + b) = \frac{1}{1 + e^{-(X_i\theta + b)}},

computed without cancellation as :math:`\frac1n\sum_i\operatorname{softplus}((1-2y_i)z_i)`,
:math:`z_i = X_i\theta + b` (:func:`cross_entropy`). It is the **mean** over the n = 320 training
samples (the paper writes a sum; with a sum every λ below would be n times larger). The intercept
b is the paper's 401st column of X; it is never penalised and never masked. The gradient is
:math:`\nabla_\theta\mathcal{L} = X^\top(\hat y - y)/n` and the Hessian is at most
:math:`X^\top X/(4n)`, so :math:`L = \lambda_{\max}(\tilde X^\top\tilde X)/(4n)` with
:math:`\tilde X = [X, 1]` is a Lipschitz constant of the gradient (:func:`lipschitz`, by power
iteration).

**The three approaches**, each for every λ of the grid:

(a) *ℓ1 on θ by the subgradient method* (:func:`fit_theta_l1`): minimise
    :math:`\mathcal{L}(X, y; \theta, b) + \lambda\|\theta\|_1` from θ = 0, b = 0 with

    .. math::  \theta^{t+1} = \theta^t - \eta_t\big(\nabla_\theta\mathcal{L}
               + \lambda\operatorname{sign}(\theta^t)\big), \qquad \eta_t = \frac{1}{L\,(1+t)^{p}},

    ``sign(0) = 0``, p = ``step_decay`` (0: a constant step, what a deep-learning optimiser does;
    1/2: the classic diminishing step). A coordinate whose optimum is 0 overshoots zero by about
    :math:`\eta_t\lambda` at every step, so the iterates are (almost) never exactly 0 (Sec. III-B).
(b), (c) *a mask on trained weights by projected gradient* (:func:`mask_projected_gradient`):
    first :math:`(\hat\theta, \hat b)` minimise :math:`\mathcal{L} + \frac\mu2\|\theta\|_2^2`
    (:func:`fit_logistic_l2`; the small ℓ2 term makes the loss strongly convex, Assumption 2, and
    keeps θ̂ finite on these linearly separable data). Then, since
    :math:`X(\hat\theta\odot m) = X\operatorname{diag}(\hat\theta)\,m`, the mask solves Problem (4)
    on the dataset :math:`X\operatorname{diag}(\hat\theta)`,

    .. math::  \min_{m\in[0,1]^d,\ b}\ \mathcal{L}(X\operatorname{diag}(\hat\theta), y; m, b) + \lambda R(m),

    with R = ℓ1 (b) or the log regularizer of parameter ε (c), from :math:`m^0 = 1` (the trained
    model) and :math:`b^0 = \hat b`, by projected gradient steps
    :math:`m \leftarrow \Pi_{[0,1]^d}\big(m - \eta(\operatorname{diag}(\hat\theta)X^\top(\hat y - y)/n
    + \lambda\nabla R(m))\big)`, accelerated (FISTA momentum with restart) and with a backtracking
    step size, both described at :func:`mask_projected_gradient`. The projection clips an entry
    pushed below 0 to **exactly** 0. At λ = 0, m = 1 is a fixed point: θ̂ minimises the
    ℓ2-regularised loss, so :math:`\nabla_m\mathcal{L}(1) = -\mu\hat\theta^2 \le 0`.

**What counts as a zero.** Sparsity is the fraction of the d = 400 pixel weights of the final model
that are zero (never the intercept). For the masks that model is :math:`\hat\theta\odot m` and a
weight is zero when it is **exactly** 0 (the projection produces such zeros). For θ of approach (a),
``sparsity`` counts :math:`|\theta_i| \le` ``theta_tol`` (a tolerance: pixels lie in [0, 1], so
zeroing all such weights changes any logit by at most :math:`d\cdot` ``theta_tol``), and
``exact_sparsity`` counts :math:`\theta_i = 0` exactly.

**Trivially prunable pixels.** A pixel that is 0 in every training image of a run
(:func:`dead_pixels`; corners and edges of the crop) contributes nothing to the loss: its gradient
is 0, so θ̂ and the iterates of (a) started from 0 keep its weight exactly 0, and for any λ > 0
its mask entry's exact minimiser is 0 (set at the start). These pixels are in every sparsity
reported here: they are the whole of approach (a)'s exact zeros.

**Accuracy** is the validation accuracy on a run's 40 + 40 held-out images: of θ for (a), of
:math:`\hat\theta\odot m` for the masks (``accuracy``); ``accuracy_binary`` is that of θ with its
near-zero entries removed, resp. of the binary mask :math:`\hat\theta\odot 1[m > 0]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ParameterError
from ..method.regularizers import Regularizer, get_regularizer
from .solver import penalty_derivative, projected_step, stationarity, subgradient_l1

__all__ = [
    "dead_pixel_stats",
    "LogisticRuns",
    "as_runs",
    "cross_entropy",
    "predict",
    "dead_pixels",
    "lipschitz",
    "fit_logistic_l2",
    "fit_theta_l1",
    "mask_projected_gradient",
    "accuracy",
    "MaskFit",
    "ExampleConfig",
    "APPROACHES",
    "ExampleResult",
    "run_example",
    "summarize",
    "sparsity_at_accuracy",
    "sparsity_at_drop",
    "KSparseMask",
    "find_k_sparse_mask",
    "example_digits",
]


# --------------------------------------------------------------------------------------------------
# data and model


class LogisticRuns(NamedTuple):
    """R runs of the Sec. IV-C protocol as floating tensors: ``X_*`` (R, n, d), ``y_*`` (R, n) in {0, 1}."""

    X_train: Tensor
    y_train: Tensor
    X_val: Tensor
    y_val: Tensor

    @property
    def n_runs(self) -> int:
        return self.X_train.shape[0]

    @property
    def d(self) -> int:
        return self.X_train.shape[2]

    def select(self, runs: slice | list[int] | Tensor) -> LogisticRuns:
        """The runs ``runs`` only (a slice or indices), keeping the run dimension."""
        return LogisticRuns(*(t[runs] for t in self))


def as_runs(runs, dtype: torch.dtype = torch.float32) -> LogisticRuns:
    """:class:`LogisticRuns` from :func:`concave_lottery.data.mnist01.draw_runs` output (or any
    object with ``X_train, y_train, X_val, y_val``), converted to ``dtype``."""
    return LogisticRuns(*(getattr(runs, k).to(dtype) for k in LogisticRuns._fields))


def _logits(X: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """z = X W + b for X (R, n, d), W (R, d, C), b (R, C): (R, n, C)."""
    return torch.bmm(X, W) + b.unsqueeze(1)


def cross_entropy(z: Tensor, y: Tensor) -> Tensor:
    r"""Mean binary cross-entropy (corrected sign) of logits z (R, n, C) and labels y (R, n): (R, C).

    .. math::  -\frac1n\sum_i\big[y_i\log\sigma(z_i) + (1-y_i)\log(1-\sigma(z_i))\big]
               = \frac1n\sum_i \operatorname{softplus}\big((1-2y_i)\,z_i\big),

    the form without cancellation (``softplus(z) - y z`` loses all digits of a well-classified sample's
    tiny loss to round-off).
    """
    return F.softplus((1.0 - 2.0 * y.unsqueeze(-1)) * z).mean(dim=1)


def predict(X: Tensor, W: Tensor, b: Tensor) -> Tensor:
    r"""The estimated labels :math:`\hat y = \sigma(XW + b)` (the corrected sigmoid), (R, n, C)."""
    return torch.sigmoid(_logits(X, W, b))


def accuracy(X: Tensor, y: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """Fraction of samples with ``(XW + b > 0) == y``: (R, C)."""
    return ((_logits(X, W, b) > 0) == y.unsqueeze(-1).bool()).to(X.dtype).mean(dim=1)


def dead_pixels(X_train: Tensor) -> Tensor:
    """Pixels that are 0 in every training image of a run, (R, d) bool: trivially prunable."""
    return (X_train == 0).all(dim=1)


def lipschitz(A: Tensor, *, intercept: bool = False, n_iter: int = 100) -> Tensor:
    r""":math:`\lambda_{\max}(\tilde A^\top\tilde A)/(4n)` per run, (R,), by batched power iteration
    (``intercept`` appends a column of ones, :math:`\tilde A = [A, 1]`): the Lipschitz constant of
    the gradient of the mean logistic loss in the variables multiplying A. The estimate is raised
    by 1% because power iteration approaches the top eigenvalue from below."""
    if intercept:
        A = torch.cat([A, torch.ones_like(A[..., :1])], dim=2)
    v = torch.ones(A.shape[0], A.shape[2], 1, dtype=A.dtype, device=A.device)
    top = torch.zeros(A.shape[0], dtype=A.dtype, device=A.device)
    for _ in range(n_iter):
        w = torch.bmm(A.transpose(1, 2), torch.bmm(A, v))
        top = w.flatten(1).norm(dim=1)
        v = w / top.clamp_min(torch.finfo(A.dtype).tiny).view(-1, 1, 1)
    return 1.01 * top / (4.0 * A.shape[1])


# --------------------------------------------------------------------------------------------------
# θ̂: ℓ2-regularised logistic regression


def fit_logistic_l2(X: Tensor, y: Tensor, mu: float, *, n_iter: int = 40, tol: float = 1e-9) -> tuple[Tensor, Tensor]:
    r"""θ̂ (R, d) and b̂ (R,) minimising :math:`\mathcal{L}(X, y; \theta, b) + \frac\mu2\|\theta\|_2^2` (b unpenalised).

    Batched Newton's method with backtracking (Armijo, halving) for all runs at once, in float64
    (the Hessian is formed in X's dtype); results in X's dtype. This is the reference fit on which
    the masks are learned, not one of the compared approaches: solving it to high accuracy makes θ̂
    a true minimiser, so m = 1 is stationary at λ = 0. Weights of :func:`dead_pixels` stay exactly 0
    (their rows of the gradient and the Hessian are 0 apart from μ on the diagonal). Stops when
    every run's gradient sup-norm is below ``tol``.
    """
    if mu <= 0:
        raise ParameterError("mu", mu, "mu must be > 0 (the l2 term makes the loss strongly convex)")
    R, n, d = X.shape
    X1 = torch.cat([X, torch.ones_like(X[..., :1])], dim=2)  # (R, n, d+1), the paper's 401 columns
    Xd, yd = X1.double(), y.double()
    reg = torch.full((d + 1,), mu, dtype=torch.float64, device=X.device)
    reg[-1] = 0.0  # the intercept is not penalised
    w = torch.zeros(R, d + 1, 1, dtype=torch.float64, device=X.device)
    zero = torch.zeros(R, 1, dtype=torch.float64, device=X.device)

    def objective(w: Tensor) -> Tensor:  # w (R, d+1, K) -> (R, K)
        return cross_entropy(_logits(Xd, w, zero.expand(R, w.shape[2])), yd) + 0.5 * (reg.view(1, -1, 1) * w * w).sum(1)

    steps = 0.5 ** torch.arange(20, dtype=torch.float64, device=X.device)
    for _ in range(n_iter):
        p = torch.sigmoid(torch.bmm(Xd, w))
        grad = torch.bmm(Xd.transpose(1, 2), p - yd.unsqueeze(-1)) / n + reg.view(1, -1, 1) * w
        if float(grad.abs().max()) < tol:
            break
        s = (p * (1 - p) / n).to(X.dtype)  # (R, n, 1)
        H = torch.bmm(X1.transpose(1, 2), X1 * s).double() + torch.diag_embed(reg)
        H[:, -1, -1] += 1e-12  # the intercept's curvature can vanish when the data are separated
        direction = -torch.cholesky_solve(grad, torch.linalg.cholesky(H))
        cand = w + direction * steps.view(1, 1, -1)  # (R, d+1, K): all step lengths at once
        slope = (grad * direction).sum(1)  # (R, 1) < 0
        ok = objective(cand) <= objective(w) + 1e-4 * steps.view(1, -1) * slope
        first = torch.where(ok.any(1), ok.to(torch.int8).argmax(1), torch.full_like(ok[:, 0], len(steps) - 1,
                                                                                      dtype=torch.long))
        w = cand.gather(2, first.view(R, 1, 1).expand(R, d + 1, 1))
    return w[:, :d, 0].to(X.dtype).contiguous(), w[:, d, 0].to(X.dtype).contiguous()


# --------------------------------------------------------------------------------------------------
# (a) ℓ1 on θ by the subgradient method


def fit_theta_l1(
    X: Tensor,
    y: Tensor,
    lams: Tensor,
    *,
    n_iter: int,
    step_decay: float = 0.0,
    step_scale: float = 1.0,
) -> tuple[Tensor, Tensor]:
    r"""Approach (a): :math:`\min_{\theta,b}\mathcal{L}(X,y;\theta,b) + \lambda\|\theta\|_1` by the
    subgradient method, every run and every λ of ``lams`` (C,) at once, from θ = 0, b = 0.

    Step :math:`\eta_t = \text{step\_scale}/(L(1+t)^{\text{step\_decay}})` with L of :func:`lipschitz`
    (with intercept). Returns θ (R, d, C) and b (R, C): the last iterate, as a deep-learning
    library would return it. The iteration is :func:`concave_lottery.section4.solver.subgradient_l1`
    (b is its unpenalised variable).
    """
    R, n, d = X.shape
    lams = torch.as_tensor(lams, dtype=X.dtype, device=X.device)
    C = lams.numel()
    eta0 = step_scale / lipschitz(X, intercept=True)  # (R,)
    theta = torch.zeros(R, d, C, dtype=X.dtype, device=X.device)
    b = torch.zeros(R, 1, C, dtype=X.dtype, device=X.device)  # (R, 1, C): broadcasts over the samples
    Xt = X.transpose(1, 2).contiguous()
    yy = y.unsqueeze(-1)

    def loss_grad(theta: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        resid = (torch.sigmoid(torch.bmm(X, theta) + b) - yy) / n  # (R, n, C)
        return torch.bmm(Xt, resid), resid.sum(1, keepdim=True)

    run = subgradient_l1(loss_grad, theta, lams.view(1, 1, C),
                         lambda t: (eta0 / (1.0 + t) ** step_decay).view(R, 1, 1), n_iter, b0=b)
    return run.theta, run.b[:, 0]


# --------------------------------------------------------------------------------------------------
# (b), (c) a mask on θ̂ by projected gradient


class MaskFit(NamedTuple):
    """The result of :func:`mask_projected_gradient`, C columns (one per λ or (regularizer, λ) pair)."""

    mask: Tensor  #: m (R, d, C), every entry in [0, 1]
    b: Tensor  #: the intercept (R, C) (b̂ itself when it is not trained)
    eta: Tensor  #: the last step size (R, C)
    stationarity: Tensor  #: (R, C) sup-norm of x - Π(x - ∇F(x)) divided by λ (not divided at λ = 0)
    accepted: Tensor  #: (R, C) number of accepted steps


def mask_projected_gradient(
    X: Tensor,
    y: Tensor,
    theta_hat: Tensor,
    b_hat: Tensor,
    lams: Tensor,
    regularizers: Regularizer | list[Regularizer],
    *,
    n_iter: int,
    m0: float = 1.0,
    train_intercept: bool = True,
    momentum: bool = True,
    adaptive: bool = True,
    precondition: bool = False,
    grow: float = 1.5,
) -> MaskFit:
    r"""Approaches (b), (c): Problem (4) on :math:`X\operatorname{diag}(\hat\theta)` by projected gradient.

    Column c of the batch solves

    .. math::  \min_{m\in[0,1]^d,\ b\in\mathbb{R}}\ F_c(m, b)
               = \mathcal{L}(X\operatorname{diag}(\hat\theta), y; m, b) + \lambda_c R_c(m)

    with ``lams`` (C,) and ``regularizers`` (one, or one per column); θ̂ (R, d) and b̂ (R,) come
    from :func:`fit_logistic_l2`. The intercept b starts at b̂ and, with ``train_intercept``, is
    learned with the mask (unpenalised and unconstrained: training a logistic regression on the
    dataset :math:`X\operatorname{diag}(\hat\theta)` fits its intercept too); otherwise it stays b̂.
    ``X diag(θ̂)`` is never formed: the logits are :math:`X(\hat\theta\odot m) + b`. Entries whose
    weight :math:`\hat\theta_i` is 0 (dead pixels) do not enter the loss; for λ > 0 their exact
    minimiser, 0, is set at the start.

    **Step.** With :math:`x = (m, b)`, the gradient taken at a point v,

    .. math::  x^+ = \Pi\big(v - \eta\,(\nabla\mathcal{L}(v) + \lambda_c\nabla R_c(v_m))\big),
               \qquad \Pi = \text{clip of } m \text{ to } [0,1]^d,

    the projected gradient step of the loss plus the penalty linearised at v (for a concave R this
    linearisation lies above R, so the step is a majorise-minimise step; for ℓ1 it is exact). The step,
    the penalty's derivative and the stationarity are those of :mod:`concave_lottery.section4.solver`.

    * ``adaptive`` (default): η starts at :math:`1/L_m`, the :func:`lipschitz` constant of
      :math:`[X\operatorname{diag}(\hat\theta), 1]`, and each column keeps its own η. A step is
      accepted when the quadratic model majorises the loss,
      :math:`\mathcal{L}(x^+) \le \mathcal{L}(v) + \nabla\mathcal{L}(v)^\top(x^+-v) + \|x^+-v\|^2/(2\eta)`;
      then η grows by ``grow``, otherwise the step is discarded and η halves. Near the solution
      most training points have a wide margin, the curvature is far below the worst case :math:`L_m`,
      and the step grows to match it. ``adaptive=False``: the fixed step η = 1/L_m.
    * ``momentum`` (default): FISTA extrapolation :math:`v = x^+ + \beta_k(x^+ - x)`,
      :math:`\beta_k = (t_k - 1)/t_{k+1}`, :math:`t_{k+1} = (1 + \sqrt{1 + 4t_k^2})/2`, restarted
      (:math:`t = 1`, β = 0) whenever the objective :math:`F_c` increases (O'Donoghue and Candès'
      function restart). Without momentum v = x: the plain projected gradient method.
    * ``precondition``: scale the step of coordinate i by the inverse of the diagonal of the
      curvature bound, :math:`4n/(\hat\theta_i^2\|X_{:,i}\|^2)` (and 4 for b). It converges much faster at tiny
      λ and reaches the same minimiser for ℓ1 (a convex problem), but for the concave log it
      follows another path to another local minimiser; off by default (the paper's method is
      plain projected gradient).

    The stationarity returned is :math:`\|x - \Pi(x - \nabla F_c(x))\|_\infty / \lambda_c`: below
    about 1 the iterate no longer moves on the scale the penalty acts on; far above 1 it is still
    drifting (slow at tiny λ, where the pull towards 0 of weakly used pixels is tiny).
    """
    R, n, d = X.shape
    lams = torch.as_tensor(lams, dtype=X.dtype, device=X.device)
    C = lams.numel()
    regs = regularizers if isinstance(regularizers, list) else [regularizers] * C
    if len(regs) != C:
        raise ParameterError("regularizers", len(regs), f"give one regularizer or one per lambda ({C})")
    if not 0.0 <= m0 <= 1.0:
        raise ParameterError("m0", m0, "the initial mask must lie in [0, 1]")
    groups: dict[Regularizer, list[int]] = {}
    for c, r in enumerate(regs):
        groups.setdefault(r, []).append(c)
    index = [torch.tensor(cols, device=X.device) for cols in groups.values()]
    th = theta_hat.unsqueeze(-1)  # (R, d, 1)
    # coordinate scales: Jacobi (1 / diagonal of the curvature bound) or 1
    h = th * th * (X * X).sum(1).unsqueeze(-1) / (4 * n)  # (R, d, 1)
    active = h > 0  # θ̂_i != 0 and the pixel is not dead
    if precondition:
        scale = torch.where(active, 1.0 / h.where(active, torch.ones_like(h)), torch.zeros_like(h))
        scale_b = torch.full((R, 1, 1), 4.0, dtype=X.dtype, device=X.device)
    else:
        scale = active.to(X.dtype)
        scale_b = torch.ones(R, 1, 1, dtype=X.dtype, device=X.device)
    if not train_intercept:
        scale_b = torch.zeros_like(scale_b)
    A = torch.cat([X * (th * scale.sqrt()).transpose(1, 2), scale_b.sqrt().expand(R, n, 1)], dim=2)
    eta = (1.0 / lipschitz(A)).view(R, 1, 1).expand(R, 1, C).contiguous()
    lam = lams.view(1, 1, C)
    m = torch.full((R, d, C), float(m0), dtype=X.dtype, device=X.device)
    m = torch.where(~active & (lam > 0), torch.zeros_like(m), m)  # the exact minimiser where m_i is irrelevant
    b = b_hat.view(R, 1, 1).expand(R, 1, C).contiguous()
    Xt = X.transpose(1, 2).contiguous()
    yy = y.unsqueeze(-1)
    accepted = torch.zeros(R, 1, C, dtype=torch.long, device=X.device)

    def penalty_grad(m: Tensor) -> Tensor:  # r'(m), each column by its regularizer
        out = torch.empty_like(m)
        for reg, cols in zip(groups, index, strict=True):
            out[:, :, cols] = penalty_derivative(reg, m[:, :, cols])
        return out

    slack = 8 * torch.finfo(X.dtype).eps  # float round-off in the comparison
    inv_scale = torch.where(active, 1.0 / scale.where(active, torch.ones_like(scale)), 0.0)

    def forward(m: Tensor, b: Tensor) -> Tensor:
        return torch.bmm(X, th * m) + b

    def grads(z: Tensor) -> tuple[Tensor, Tensor]:
        resid = (torch.sigmoid(z) - yy) / n
        return th * torch.bmm(Xt, resid), resid.sum(1, keepdim=True)

    def objective(z: Tensor, m: Tensor) -> Tensor:
        pen = torch.empty_like(m)
        for reg, cols in zip(groups, index, strict=True):
            pen[:, :, cols] = reg.value(m[:, :, cols])
        return cross_entropy(z, y).unsqueeze(1) + lam * pen.sum(1, keepdim=True)

    # x = (m, b) the iterate, v = (mv, bv) the extrapolated point where gradients are taken (v = x without momentum)
    z = forward(m, b)
    mv, bv, zv = m, b, z
    loss_v = cross_entropy(zv, y).unsqueeze(1)
    gm, gb = grads(zv)
    F_x = objective(z, m)
    t = torch.ones(R, 1, C, dtype=X.dtype, device=X.device)
    for _ in range(n_iter):
        m_new = projected_step(mv, gm + lam * penalty_grad(mv.clamp(0.0, 1.0)), eta * scale)
        b_new = bv - eta * scale_b * gb
        z_new = forward(m_new, b_new)
        dm, db = m_new - mv, b_new - bv
        sq = (dm * dm * inv_scale).sum(1, keepdim=True) + (db * db / scale_b if train_intercept else 0.0)
        model = loss_v + (gm * dm).sum(1, keepdim=True) + gb * db + sq / (2 * eta)
        ok = cross_entropy(z_new, y).unsqueeze(1) <= model + slack * loss_v.abs()  # (R, 1, C)
        if not adaptive:
            ok = torch.ones_like(ok)
        F_new = objective(z_new, m_new)
        if momentum:  # FISTA with function-value restart (O'Donoghue and Candès)
            restart = F_new > F_x
            t_new = torch.where(restart, torch.ones_like(t), (1 + torch.sqrt(1 + 4 * t * t)) / 2)
            beta = torch.where(restart, torch.zeros_like(t), (t - 1) / t_new)
        else:
            t_new, beta = t, torch.zeros_like(t)
        # accepted columns move to x_new and extrapolate; rejected ones keep x, v and halve the step
        mv_next = m_new + beta * (m_new - m)
        bv_next = b_new + beta * (b_new - b)
        zv_next = z_new + beta * (z_new - z)  # the logits are affine in (m, b)
        m, b, z = torch.where(ok, m_new, m), torch.where(ok, b_new, b), torch.where(ok, z_new, z)
        F_x = torch.where(ok, F_new, F_x)
        t = torch.where(ok, t_new, t)
        mv, bv, zv = torch.where(ok, mv_next, mv), torch.where(ok, bv_next, bv), torch.where(ok, zv_next, zv)
        loss_v = cross_entropy(zv, y).unsqueeze(1)
        gm, gb = grads(zv)
        eta = torch.where(ok, eta * grow, eta * 0.5)
        accepted += ok
    gm, gb = grads(z)
    full_grad = (gm + lam * penalty_grad(m)) * active
    gap = stationarity(m, full_grad, dim=1, keepdim=True)
    if train_intercept:
        gap = gap.maximum(gb.abs())
    gap = torch.where(lam > 0, gap / lam.clamp_min(torch.finfo(X.dtype).tiny), gap)  # raw gap at λ = 0
    return MaskFit(m, b[:, 0], eta[:, 0], gap[:, 0], accepted[:, 0])


# --------------------------------------------------------------------------------------------------
# the experiment


@dataclass
class ExampleConfig:
    """Every knob of the Sec. IV-C experiment (the chapter's parameters map onto these)."""

    lams: list[float]  #: the λ grid shared by the three approaches (mean loss, see the module doc); may hold 0
    eps: float = 0.1  #: ε of the log regularizer (c)
    mu: float = 1e-3  #: the ℓ2 weight of the fit θ̂ (b, c)
    n_iter_mask: int = 300  #: projected-gradient iterations for the masks (b, c)
    n_iter_subgradient: int = 200  #: subgradient iterations for (a)
    step_decay: float = 0.0  #: p in η_t = 1/(L (1+t)^p) for (a); 0 = constant step
    mask_init: float = 1.0  #: m^0 of (b, c)
    train_intercept: bool = True  #: learn the intercept with the mask (b, c)
    momentum: bool = True  #: FISTA momentum for the masks (b, c)
    theta_tol: float = 1e-3  #: |θ_i| <= theta_tol counts as zero for (a)


#: Short names of the three approaches and their labels in figures and tables.
APPROACHES = {
    "theta-l1": "(a) l1 on theta, subgradient",
    "mask-l1": "(b) mask, l1, projected gradient",
    "mask-log": "(c) mask, log, projected gradient",
}


@dataclass
class ExampleResult:
    """The raw tensors of one experiment and one tidy row per (approach, λ, run) in ``frame``."""

    config: ExampleConfig
    lams: Tensor  # (L,)
    theta_hat: Tensor  # (R, d)
    b_hat: Tensor  # (R,)
    theta_l1: Tensor  # (R, d, L) approach (a)
    b_l1: Tensor  # (R, L)
    masks: dict[str, MaskFit]  # "mask-l1" (b), "mask-log" (c): masks (R, d, L)
    dead: Tensor  # (R, d) bool, pixels that are 0 in every training image
    baseline: pd.DataFrame  # one row per run: θ̂'s accuracy and sparsity, dead pixels
    frame: pd.DataFrame = field(repr=False)  # one row per (approach, lam, run)


def _rows(approach: str, lams: Tensor, **cols: Tensor) -> pd.DataFrame:
    """A long frame (one row per run and λ) from (R, L) tensors."""
    R, L = next(iter(cols.values())).shape
    data = {"approach": approach, "lam": np.tile(lams.cpu().double().numpy(), R), "run": np.repeat(np.arange(R), L)}
    data |= {k: v.detach().cpu().double().numpy().reshape(-1) for k, v in cols.items()}
    return pd.DataFrame(data)


def _fraction(flags: Tensor) -> Tensor:
    """Mean of a bool tensor over the pixel dimension 1."""
    return flags.to(torch.float64).mean(1)


def run_example(data: LogisticRuns, config: ExampleConfig) -> ExampleResult:
    """Fit θ̂, then run (a), (b) and (c) for every run and every λ of ``config.lams``, batched.

    The rows of ``frame`` hold, per (approach, λ, run): ``accuracy`` and ``accuracy_binary``
    (validation, see the module doc), ``sparsity`` (fraction of the d pixel weights counted as
    zero), ``exact_sparsity`` (exactly zero), ``dead_zero`` (fraction of the run's dead pixels whose
    weight counts as zero; NaN for a run without dead pixels), ``train_loss``, and for the masks
    ``binary`` (fraction of mask entries in {0, 1}) and ``stationarity`` (see :class:`MaskFit`).
    """
    X, y = data.X_train, data.y_train
    lams = torch.as_tensor(config.lams, dtype=X.dtype)
    if (lams < 0).any():
        raise ParameterError("lams", config.lams, "every lambda must be >= 0")
    L = lams.numel()
    theta_hat, b_hat = fit_logistic_l2(X, y, config.mu)
    dead = dead_pixels(X)
    n_dead = dead.sum(1, keepdim=True).to(torch.float64)
    n_dead = torch.where(n_dead > 0, n_dead, torch.nan)
    Xv, yv = data.X_val, data.y_val

    # (a) l1 on theta by the subgradient method
    theta, b = fit_theta_l1(X, y, lams, n_iter=config.n_iter_subgradient, step_decay=config.step_decay)
    zero = theta.abs() <= config.theta_tol
    frames = [_rows(
        "theta-l1", lams,
        accuracy=accuracy(Xv, yv, theta, b),
        accuracy_binary=accuracy(Xv, yv, theta * ~zero, b),
        sparsity=_fraction(zero),
        exact_sparsity=_fraction(theta == 0),
        dead_zero=(zero & dead.unsqueeze(-1)).sum(1) / n_dead,
        train_loss=cross_entropy(_logits(X, theta, b), y),
    )]

    # (b) and (c) in one batch: columns 0..L-1 are l1, L..2L-1 are log
    regs = [get_regularizer("l1")] * L + [get_regularizer("log", eps=config.eps)] * L
    fit = mask_projected_gradient(X, y, theta_hat, b_hat, torch.cat([lams, lams]), regs, n_iter=config.n_iter_mask,
                                  m0=config.mask_init, train_intercept=config.train_intercept,
                                  momentum=config.momentum)
    th = theta_hat.unsqueeze(-1)
    masks = {}
    for j, name in enumerate(("mask-l1", "mask-log")):
        part = MaskFit(*(t[..., j * L:(j + 1) * L] for t in fit))
        masks[name] = part
        m, bm = part.mask, part.b
        w = th * m  # the final weights θ̂ ⊙ m
        frames.append(_rows(
            name, lams,
            accuracy=accuracy(Xv, yv, w, bm),
            accuracy_binary=accuracy(Xv, yv, th * (m > 0), bm),
            sparsity=_fraction(w == 0),
            exact_sparsity=_fraction(w == 0),
            dead_zero=((w == 0) & dead.unsqueeze(-1)).sum(1) / n_dead,
            train_loss=cross_entropy(_logits(X, w, bm), y),
            binary=_fraction((m == 0) | (m == 1)),
            stationarity=part.stationarity,
        ))
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(1, "label", frame["approach"].map(APPROACHES))
    baseline = pd.DataFrame({
        "run": np.arange(data.n_runs),
        "accuracy": accuracy(Xv, yv, th, b_hat.unsqueeze(-1))[:, 0].double().numpy(),
        "sparsity": _fraction(theta_hat.abs() <= config.theta_tol).numpy(),
        "exact_sparsity": _fraction(theta_hat == 0).numpy(),
        "dead_pixels": dead.sum(1).numpy(),
        "dead_fraction": _fraction(dead).numpy(),
    })
    return ExampleResult(config, lams, theta_hat, b_hat, theta, b, masks, dead, baseline, frame)


METRICS = ["accuracy", "accuracy_binary", "sparsity", "exact_sparsity"]


def summarize(frame: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Mean and standard deviation over runs (``<metric>_sd``) of every metric, per (approach, λ)."""
    metrics = metrics or METRICS
    out = frame.groupby(["approach", "lam"], sort=True)[metrics].agg(["mean", "std"])
    out.columns = [a if b == "mean" else f"{a}_sd" for a, b in out.columns]
    return out.reset_index()


def _sparsity_at_level(acc: np.ndarray, sp: np.ndarray, level: float) -> float:
    """Walk the (sparsity, accuracy) points in λ order; the sparsity where accuracy first drops
    below ``level`` (linear interpolation), the last sparsity if it never does, NaN if the first
    point is already below."""
    if acc[0] < level:
        return float("nan")
    for i in range(1, len(acc)):
        if acc[i] < level:
            t = (acc[i - 1] - level) / (acc[i - 1] - acc[i])
            return float(sp[i - 1] + t * (sp[i] - sp[i - 1]))
    return float(sp[-1])


def sparsity_at_accuracy(frame: pd.DataFrame, levels: list[float], *, by_run: bool = False) -> pd.DataFrame:
    """How sparse each approach gets while its accuracy stays at or above each level ("sparser at
    equal accuracy").

    Along the λ grid (increasing λ) the (sparsity, accuracy) points are joined by straight lines;
    for each level the answer is the sparsity where the curve first drops below the level, the
    sparsity at the largest λ if it never does, NaN if it starts below. Without ``by_run`` the
    curve is that of the means over runs and the result is indexed by approach, one column per
    level; with ``by_run`` each run's own curve is used and the index is (approach, run).
    """
    keys = ["approach", "run"] if by_run else ["approach"]
    curves = frame.groupby([*keys, "lam"], sort=True)[["accuracy", "sparsity"]].mean().reset_index()
    out = {}
    for key, g in curves.groupby(keys if by_run else "approach", sort=True):
        acc, sp = g["accuracy"].to_numpy(), g["sparsity"].to_numpy()
        out[key] = {level: _sparsity_at_level(acc, sp, level) for level in levels}
    result = pd.DataFrame.from_dict(out, orient="index")
    result.index = pd.MultiIndex.from_tuples(result.index, names=keys) if by_run else result.index.rename("approach")
    return result


def sparsity_at_drop(frame: pd.DataFrame, reference: pd.Series, drops: list[float]) -> pd.DataFrame:
    """Per run: how sparse each approach gets while its accuracy stays at least ``reference[run] - drop``.

    ``reference`` maps a run to its reference accuracy (e.g. θ̂'s, ``ExampleResult.baseline``);
    the crossing is found on the run's own curve as in :func:`sparsity_at_accuracy`. Index
    (approach, run), one column per drop. With 80 validation images a run's accuracy moves in
    steps of 1/80 = 0.0125, so a drop below that means "no additional error".
    """
    curves = frame.groupby(["approach", "run", "lam"], sort=True)[["accuracy", "sparsity"]].mean().reset_index()
    out = {}
    for (approach, run), g in curves.groupby(["approach", "run"], sort=True):
        acc, sp = g["accuracy"].to_numpy(), g["sparsity"].to_numpy()
        out[(approach, run)] = {d: _sparsity_at_level(acc, sp, float(reference[run]) - d) for d in drops}
    result = pd.DataFrame.from_dict(out, orient="index")
    result.index = pd.MultiIndex.from_tuples(result.index, names=["approach", "run"])
    return result


# --------------------------------------------------------------------------------------------------
# Fig 4: a k-sparse mask


@dataclass
class KSparseMask:
    """A mask with exactly k nonzero entries found by the log regularizer on one run (Fig 4)."""

    run: int
    lam: float
    mask: Tensor  # (d,)
    theta_hat: Tensor  # (d,)
    b: float  # the mask problem's intercept
    accuracy: float  # validation accuracy of θ̂ ⊙ m
    accuracy_binary: float  # validation accuracy of θ̂ ⊙ 1[m > 0]

    @property
    def support(self) -> Tensor:
        """Indices of the k kept pixels (row-major on the 20x20 grid)."""
        return torch.nonzero(self.mask).flatten()


def find_k_sparse_mask(
    data: LogisticRuns,
    result: ExampleResult,
    k: int = 8,
    *,
    n_lams: int = 16,
    rounds: int = 4,
    max_runs: int = 10,
) -> KSparseMask:
    """Search λ for a log-regularised mask with exactly k nonzero entries, run by run from run 0.

    For a run, the λ grid of ``result`` brackets k (more than k survivors at one λ, at most k at
    the next); ``n_lams`` log-spaced λ inside the bracket are solved at once (one batch) and the
    bracket is narrowed up to ``rounds`` times. The first run where some λ leaves exactly k
    survivors wins. Same solver settings as ``result``.
    """
    cfg = result.config
    reg = get_regularizer("log", eps=cfg.eps)
    positive = result.lams > 0
    lams = result.lams[positive]
    nnz_grid = ((result.theta_hat.unsqueeze(-1) * result.masks["mask-log"].mask) != 0).sum(1)[:, positive]  # (R, L)
    for r in range(min(max_runs, data.n_runs)):
        above = torch.nonzero(nnz_grid[r] > k).flatten()
        below = torch.nonzero(nnz_grid[r] <= k).flatten()
        if len(above) == 0 or len(below) == 0 or above.max() >= below.min():
            continue
        lo, hi = float(lams[above.max()]), float(lams[below.min()])
        one = data.select([r])
        for _ in range(rounds):
            grid = torch.logspace(np.log10(lo), np.log10(hi), n_lams, dtype=lams.dtype)
            fit = mask_projected_gradient(one.X_train, one.y_train, result.theta_hat[r:r + 1], result.b_hat[r:r + 1],
                                          grid, reg, n_iter=cfg.n_iter_mask, m0=cfg.mask_init,
                                          train_intercept=cfg.train_intercept, momentum=cfg.momentum)
            m = fit.mask[0]
            nnz = ((result.theta_hat[r].unsqueeze(-1) * m) != 0).sum(0)
            hit = torch.nonzero(nnz == k).flatten()
            if len(hit):
                c = int(hit[len(hit) // 2])
                th, bm = result.theta_hat[r], fit.b[:, c:c + 1]
                acc = accuracy(one.X_val, one.y_val, (th * m[:, c]).view(1, -1, 1), bm)
                acc_bin = accuracy(one.X_val, one.y_val, (th * (m[:, c] > 0)).view(1, -1, 1), bm)
                return KSparseMask(r, float(grid[c]), m[:, c].clone(), th.clone(), float(bm), float(acc),
                                   float(acc_bin))
            more, fewer = torch.nonzero(nnz > k).flatten(), torch.nonzero(nnz < k).flatten()
            if len(more) == 0 or len(fewer) == 0 or more.max() >= fewer.min():
                break
            lo, hi = float(grid[more.max()]), float(grid[fewer.min()])
    raise ParameterError("k", k, f"no lambda gave exactly {k} nonzero mask entries in the first {max_runs} runs")


def example_digits(data: LogisticRuns, run: int, per_digit: int = 4) -> tuple[Tensor, Tensor]:
    """``per_digit`` validation images of each digit of a run, zeros first: (2 per_digit, d), labels."""
    y = data.y_val[run]
    rows = torch.cat([torch.nonzero(y == digit).flatten()[:per_digit] for digit in (0, 1)])
    return data.X_val[run, rows], y[rows]


def dead_pixel_stats(data: LogisticRuns) -> pd.Series:
    """Pixels that are 0 in every training image of a run (:func:`dead_pixels`): mean, min and max
    over the runs, and the mean as a fraction of d."""
    dead = dead_pixels(data.X_train).sum(1).double()
    return pd.Series({"mean": dead.mean().item(), "min": dead.min().item(), "max": dead.max().item(),
                      "fraction of d (mean)": dead.mean().item() / data.d},
                     name="pixels that are 0 in all training images")
