"""Algorithm 1 in your own training loop: :class:`SoftMaskPruner`, for any ``nn.Module`` and any loop.

The lottery loop of the book (:mod:`concave_lottery.runs.lottery`) runs Algorithm 1 on the book's models
through presets and :class:`~concave_lottery.runs.config.RunConfig`. This module offers the same method to
a training loop you already have, as a handful of calls around it::

    pruner = SoftMaskPruner(model, regularizer="log", lam=1e-4, eps=0.1, alpha=0.05)
    theta0 = pruner.theta()                      # θ_0, for rewinding (Algorithm 1, step 2)
    optimizer = torch.optim.SGD(pruner.param_groups(lr=0.1, weight_decay=5e-4), lr=0.1, momentum=0.9)
    for x, y in loader:
        loss = F.cross_entropy(model(x), y) + pruner.penalty()     # eq. (2): L(x; m ⊙ θ) + λ R(m)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        pruner.after_step()                      # projection of m onto [0, 1]^d (eq. 1)
    pruner.prune()                               # step 4: remove every entry with m_i < α
    pruner.rewind(theta0)                        # step 2 of the next round: θ = θ_0, the masks stay

Nothing here is a second implementation of the method: the mask is the library's own parametrization
(:func:`~concave_lottery.method.masks.attach_masks`, kind ``relaxed``), the penalty, its in-place gradient
and the threshold pruning are those of :class:`~concave_lottery.method.search.SoftMask` (the ``soft``
method of every recorded run), the optimizer's parameter groups are
:func:`~concave_lottery.method.masks.param_groups` (what :func:`concave_lottery.runs.training.make_optimizer`
builds), and rewinding is :func:`~concave_lottery.method.rewinding.load_theta_`.

After :meth:`SoftMaskPruner.prune` a removed weight is exactly 0 in every forward pass, whatever momentum
and weight decay then do to θ: the effective weight is ``θ ⊙ a ⊙ m`` with the survivor indicator
``a_i = 0`` (see :mod:`concave_lottery.method.masks`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import UserError
from . import masks as masklib
from .regularizers import Regularizer, get_regularizer
from .rewinding import load_theta_, theta_state
from .search import SoftMask, _check_range


class SoftMaskPruner:
    r"""Algorithm 1 of the paper on any ``nn.Module``, driven from your own training loop.

    Attaching the pruner reparametrizes the ``weight`` of every ``Conv2d`` and ``Linear`` of ``model``
    (those named in ``exclude`` left dense) as the effective weight :math:`w = \theta \odot a \odot m`
    with a trainable relaxed mask :math:`m \in [0, 1]^d` (eq. 1) initialised at ``mask_init``
    (:math:`m_0 = 1/2` in the paper) and the survivor indicator :math:`a \in \{0, 1\}^d`. Each
    training step minimises eq. (2),

    .. math::  \mathcal{L}(x; m \odot \theta) + \lambda R(m), \qquad R(m) = \sum_i r(m_i)  \quad (3)

    over θ and m, followed by the projection of m onto :math:`[0, 1]^d`; at the end of a round every
    surviving entry with :math:`m_i < \alpha` is removed (step 4) and θ is rewound to θ_0 (step 2).

    Parameters
    ----------
    model:
        Any ``nn.Module``; it is modified in place (its prunable weights become parametrized).
    regularizer:
        ``"l1"``, ``"log"``, ``"lq"``, ``"mcp"``, ``"scad"`` (r of Assumption 1), or a
        :class:`~concave_lottery.method.regularizers.Regularizer`.
    lam:
        λ of eq. (2), >= 0. The penalty is a sum over every prunable weight, so its gradient on one
        mask entry, :math:`\lambda r'(m_i)`, does not depend on the size of the network.
    eps, q, gamma, a:
        The regularizer's parameter (ε of the log penalty, q of ℓq, γ of MCP, a of SCAD); only the one
        the named regularizer uses is read.
    alpha:
        The pruning threshold α of step 4, in (0, 1).
    mask_lr_scale, mask_weight_decay:
        The mask's step size as a multiple of θ's, and its weight decay, used by :meth:`param_groups`
        (the library's defaults: 100 and 0; see the chapter "What the paper leaves open").
    mask_init:
        :math:`m_0`, in (0, 1].
    exclude:
        Names of modules (``"fc"``) or weights (``"fc.weight"``) to leave unpruned.
    """

    def __init__(self, model: nn.Module, regularizer: str | Regularizer = "log", *, lam: float,
                 alpha: float = 0.01, eps: float = 0.1, q: float = 0.5, gamma: float = 2.0, a: float = 3.7,
                 mask_lr_scale: float = 100.0, mask_weight_decay: float = 0.0, mask_init: float = 0.5,
                 exclude: Iterable[str] = ()) -> None:
        if not isinstance(regularizer, Regularizer):
            regularizer = get_regularizer(regularizer, eps=eps, q=q, gamma=gamma, a=a)
        # the ranges RunConfig allows (one clear paragraph per bad value); λ and α: SoftMask checks them
        _check_range("mask_lr_scale", mask_lr_scale, mask_lr_scale > 0, "the mask learning-rate scale must be > 0")
        _check_range("mask_weight_decay", mask_weight_decay, mask_weight_decay >= 0, "mask weight decay must be >= 0")
        _check_range("mask_init", mask_init, 0 < mask_init <= 1, "m_0 must lie in (0, 1]")
        self.model = model
        #: the ``soft`` search method of every recorded run: penalty, its gradient, and step 4.
        self.method = SoftMask(regularizer, float(lam), float(alpha))
        self.mask_lr_scale = float(mask_lr_scale)
        self.mask_weight_decay = float(mask_weight_decay)
        self._layers = layers = masklib.prunable_layers(model, exclude=exclude)
        #: the masks, by the weight's qualified name (``"layer1.0.conv1.weight"``)
        self.masks: dict[str, masklib.WeightMask] = masklib.attach_masks(model, "relaxed", init=mask_init,
                                                                         layers=layers)
        self._penalty = self.method.penalty(model)
        self._penalty_grad = self.method.penalty_grad(model)

    # ------------------------------------------------------------------ the parameters

    @property
    def regularizer(self) -> Regularizer:
        return self.method.regularizer

    @property
    def lam(self) -> float:
        return self.method.lam

    @property
    def alpha(self) -> float:
        return self.method.alpha

    def param_groups(self, lr: float, weight_decay: float = 0.0) -> list[dict[str, Any]]:
        """The optimizer's parameter groups: θ (every network parameter) with ``lr`` and ``weight_decay``,
        the masks with ``lr · mask_lr_scale`` and ``mask_weight_decay``, as in every recorded run. Build
        the optimizer *after* the pruner (the masks are new parameters), and a fresh one each round."""
        return masklib.param_groups(self.model, lr=lr, weight_decay=weight_decay,
                                    mask_lr_scale=self.mask_lr_scale, mask_weight_decay=self.mask_weight_decay)

    # ------------------------------------------------------------------ one step

    def penalty(self) -> torch.Tensor:
        r"""The penalty :math:`\lambda R(a \odot m) = \lambda \sum_i r(a_i m_i)` of eqs. (2)-(3), to add to
        the loss before ``backward()`` (pruned entries add r(0) = 0 and get no gradient). λ = 0 gives 0."""
        if self._penalty is None:
            return torch.zeros(())
        return self._penalty()

    def add_penalty_grad_(self) -> None:
        r"""The same penalty through its closed-form gradient instead of autograd: after ``backward()``
        (and *instead of* adding :meth:`penalty` to the loss), add :math:`\lambda r'(m_i) a_i` to each mask
        entry's gradient. This is what the library's training loop does (same result as :meth:`penalty`
        to rounding, about a third of its cost); ℓq, whose slope at 0 is infinite, falls back to autograd:
        call :meth:`penalty` there (:attr:`has_penalty_grad` says which)."""
        if self._penalty_grad is not None:
            self._penalty_grad()
        elif self._penalty is not None:
            raise UserError(f"the {self.regularizer.label} penalty has no finite closed-form gradient at m = 0, so "
                            "add_penalty_grad_() does not apply: add pruner.penalty() to the loss instead.")

    @property
    def has_penalty_grad(self) -> bool:
        """Whether :meth:`add_penalty_grad_` applies (λ > 0 and r'(0) finite), or there is no penalty."""
        return self._penalty_grad is not None or self._penalty is None

    def after_step(self) -> None:
        """Project every mask onto [0, 1]^d (eq. 1), keeping pruned entries at 0: call after every
        ``optimizer.step()``."""
        masklib.project_masks_(self.model)

    # ------------------------------------------------------------------ the round

    def prune(self) -> int:
        """Algorithm 1, step 4: remove every surviving entry with :math:`m_i < \\alpha` (a_i = 0, m_i = 0).
        Returns the number of entries removed this call. Removed entries never come back."""
        return self.method.prune(self.model)

    def theta(self) -> dict[str, torch.Tensor]:
        """A CPU copy of θ (every parameter and buffer of the network, not the masks), by plain name:
        take it before training for θ_0, or after k steps for θ_k (Frankle et al. 2020)."""
        return theta_state(self.model)

    def rewind(self, theta: Mapping[str, torch.Tensor]) -> None:
        """Algorithm 1, step 2: θ = ``theta`` (from :meth:`theta`, or a ``state_dict`` of the unmasked
        model), in place; the masks (a and m) carry over to the next round. Build a fresh optimizer
        after rewinding, as each round of the library does (its momentum belongs to the old θ)."""
        load_theta_(self.model, theta)

    def ticket(self) -> None:
        """Algorithm 1, step 5: from now on train the ticket, the binary-masked network ``a ⊙ θ`` (m = 1 on
        the survivors, no penalty, no projection), as the library's ticket phase does. Call it after the last
        :meth:`prune` and :meth:`rewind`, then build a fresh optimizer (the masks are no longer trainable)."""
        state = masklib.mask_state(self.model)
        self.masks = masklib.attach_masks(self.model, "binary", layers=self._layers)
        masklib.load_mask_state(self.model, state, scores=False)
        self._penalty = self._penalty_grad = None

    # ------------------------------------------------------------------ reading the masks

    def sparsity(self) -> float:
        """The fraction of prunable weights removed so far (a_i = 0), as on the x axis of Figs 5-9."""
        return masklib.sparsity_report(self.model).sparsity

    def report(self) -> masklib.SparsityReport:
        """Per-layer and total sparsity (``print(pruner.report())`` shows a table)."""
        return masklib.sparsity_report(self.model)

    def binary_masks(self) -> dict[str, torch.Tensor]:
        """The survivor indicator a per weight (bool, on the weight's device): the ticket's mask."""
        return {name: mask.alive.detach().bool().clone() for name, mask in self.masks.items()}

    def mask_values(self) -> dict[str, torch.Tensor]:
        """The effective relaxed mask a ⊙ m per weight (detached)."""
        return masklib.effective_masks(self.model)

    def remove(self) -> nn.Module:
        """Detach the masks and leave the effective weights θ ⊙ a ⊙ m in a plain model (pruned entries 0);
        returns the model. The pruner is not usable afterwards."""
        masklib.detach_masks(self.model, bake=True)
        self.masks = {}
        self._penalty = self._penalty_grad = None
        return self.model

    def __repr__(self) -> str:
        return (f"SoftMaskPruner({self.regularizer.label}, lam={self.lam:g}, alpha={self.alpha:g}, "
                f"{len(self.masks)} masked weights, sparsity {self.sparsity():.2%})")
