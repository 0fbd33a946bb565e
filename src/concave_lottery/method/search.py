"""The search strategies, as one interface over :mod:`concave_lottery.masks`.

Every method answers the same four questions for the lottery loop (:mod:`concave_lottery.lottery`):
which mask kind the search trains, which penalty it adds to the loss, what it does at the start of
an epoch, and how it prunes when a round's training ends.

``soft``     Algorithm 1: relaxed mask ``m ∈ [0,1]^d`` (eq. 1), loss + ``λ R(m)`` (eq. 2) with a
             concave ``r`` of Assumption 1, projection after every step, then prune ``m_i < α``
             (step 4).
``hard``     The fixed-percentage ablation of Fig. 8: as ``soft``, but each round prunes the fraction
             ``prune_fraction`` of the surviving entries with the smallest ``m``.
``sigmoid``  The reparameterization ablation of Fig. 9 (continuous sparsification, Savarese et al.
             2020): ``m = σ(β s)``, ``s_0 = 0``, penalty ``λ Σ m``, ``β`` raised per epoch as
             ``β_t = β_T^{t/(T-1)}`` (epochs ``t = 0..T-1``, so the last epoch trains at ``β_T``), reset
             each round; prune ``m_i < α`` at ``β_T``.
``imp``      Iterative magnitude pruning (Frankle & Carbin 2019): train the binary-masked network,
             then prune the fraction ``prune_fraction`` of the surviving weights with the smallest
             magnitude ``|θ_i|``, globally over all prunable layers.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ParameterError, unknown_name
from . import masks as masklib
from .regularizers import Regularizer


class SearchMethod(ABC):
    """What a method does inside one lottery round."""

    name: str
    mask_kind: masklib.MaskKind
    #: IMP trains only the binary-masked network: its "search" training *is* the ticket training.
    search_is_ticket: bool = False

    def penalty(self, model: nn.Module) -> Callable[[], torch.Tensor] | None:
        """The loss term λR(m) for the mask of ``model`` (``None``: no penalty)."""
        return None

    def penalty_grad(self, model: nn.Module) -> Callable[[], None] | None:
        """An in-place alternative to back-propagating :meth:`penalty`: adds ∂(λR)/∂(mask parameter)
        to the gradients after ``backward()``. ``None``: the penalty goes through autograd."""
        return None

    def before_epoch(self, model: nn.Module, epoch: int, epochs: int) -> None:
        """Called at the start of every training epoch of the search (default: nothing)."""
        return None

    @abstractmethod
    def prune(self, model: nn.Module) -> int:
        """Prune the trained model's masks in place; returns the number of entries removed."""

    def pruning_threshold(self) -> float | None:
        """The mask value below which an entry counts as pruned during the search (the sparsity shown
        per epoch); ``None``: the method does not prune by a threshold on the mask."""
        return None

    def search_hooks(self, model: nn.Module, epochs: int) -> dict[str, Callable | None]:
        """The hooks of the search training of ``model`` (keyword arguments of
        :class:`concave_lottery.runs.training.Hooks`): the penalty (eq. 2), the projection onto
        [0, 1] after every step, and :meth:`before_epoch`."""
        return {"penalty": self.penalty(model), "penalty_grad": self.penalty_grad(model),
                "after_step": lambda: masklib.project_masks_(model),
                "before_epoch": lambda epoch: self.before_epoch(model, epoch, epochs)}


def _penalty(model: nn.Module, regularizer: Regularizer, lam: float) -> Callable[[], torch.Tensor]:
    masks = list(masklib.get_masks(model).values())

    def penalty() -> torch.Tensor:
        # λ Σ_i r(a_i m_i): r(0) = 0, so pruned entries (a_i = 0) add nothing and get no gradient.
        return lam * sum(regularizer(mask.mask()) for mask in masks)

    return penalty


def _relaxed_penalty_grad(model: nn.Module, regularizer: Regularizer, lam: float) -> Callable[[], None] | None:
    """∂/∂m_i of λ Σ_j r(a_j m_j) is λ r'(m_i) a_i: added to ``m.grad`` in place, without building an
    autograd graph for the penalty (the same gradient, about a third of the cost per step).
    Only for regularizers with a finite slope at 0 (ℓq goes through autograd instead)."""
    if not torch.isfinite(regularizer.derivative(torch.zeros(1))).all():
        return None
    masks = list(masklib.get_masks(model).values())

    @torch.no_grad()
    def add_grad() -> None:
        for mask in masks:
            grad = regularizer.derivative(mask.score).mul_(mask.alive).mul_(lam)
            if mask.score.grad is None:
                mask.score.grad = grad
            else:
                mask.score.grad.add_(grad)

    return add_grad


def _check_range(name: str, value: float, ok: bool, allowed: str) -> None:
    """The one place each method parameter's range is checked (RunConfig.validate builds the methods)."""
    if not (math.isfinite(value) and ok):
        raise ParameterError(name, value, allowed)


def _check_lam(lam: float) -> None:
    _check_range("lam", lam, lam >= 0, "λ must be a finite number >= 0")


def _check_alpha(alpha: float) -> None:
    _check_range("alpha", alpha, 0 < alpha < 1, "alpha must lie in the open interval (0, 1)")


def _check_fraction(prune_fraction: float) -> None:
    _check_range("prune_fraction", prune_fraction, 0 < prune_fraction < 1, "the fraction must lie in (0, 1)")


@dataclass
class SoftMask(SearchMethod):
    """Algorithm 1 with threshold ``alpha``."""

    regularizer: Regularizer
    lam: float
    alpha: float
    name: str = "soft"
    mask_kind: masklib.MaskKind = "relaxed"

    def __post_init__(self) -> None:
        _check_lam(self.lam)
        _check_alpha(self.alpha)

    def penalty(self, model: nn.Module) -> Callable[[], torch.Tensor] | None:
        return _penalty(model, self.regularizer, self.lam) if self.lam > 0 else None

    def penalty_grad(self, model: nn.Module) -> Callable[[], None] | None:
        return _relaxed_penalty_grad(model, self.regularizer, self.lam) if self.lam > 0 else None

    def prune(self, model: nn.Module) -> int:
        return masklib.prune_by_threshold_(model, self.alpha)

    def pruning_threshold(self) -> float | None:
        return self.alpha


@dataclass
class HardMask(SoftMask):
    """Algorithm 1 with a fixed pruning fraction per round instead of the threshold (Fig. 8)."""

    prune_fraction: float = 0.2
    name: str = "hard"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_fraction(self.prune_fraction)

    def prune(self, model: nn.Module) -> int:
        scores = masklib.effective_masks(model)
        return masklib.prune_by_fraction_(model, scores, self.prune_fraction)


@dataclass
class SigmoidMask(SearchMethod):
    """Continuous-sparsification baseline: m = σ(βs), penalty λΣm, threshold ``alpha`` (Fig. 9)."""

    lam: float
    alpha: float
    beta_final: float = 200.0
    name: str = "sigmoid"
    mask_kind: masklib.MaskKind = "sigmoid"

    def __post_init__(self) -> None:
        _check_lam(self.lam)
        _check_alpha(self.alpha)
        _check_range("beta_final", self.beta_final, self.beta_final >= 1, "β_T must be a finite number >= 1")

    def penalty(self, model: nn.Module) -> Callable[[], torch.Tensor] | None:
        from .regularizers import get_regularizer

        return _penalty(model, get_regularizer("l1"), self.lam) if self.lam > 0 else None

    def beta(self, epoch: int, epochs: int) -> float:
        """β_t = β_T^{t/(T-1)}: 1 in the first epoch, β_T in the last."""
        return float(self.beta_final ** (epoch / max(epochs - 1, 1)))

    def before_epoch(self, model: nn.Module, epoch: int, epochs: int) -> None:
        masklib.set_beta(model, self.beta(epoch, epochs))

    def prune(self, model: nn.Module) -> int:
        masklib.set_beta(model, self.beta_final)
        return masklib.prune_by_threshold_(model, self.alpha)

    def pruning_threshold(self) -> float | None:
        return self.alpha


@dataclass
class MagnitudePruning(SearchMethod):
    """IMP: prune ``prune_fraction`` of the surviving weights with the smallest |θ|, globally."""

    prune_fraction: float = 0.2
    name: str = "imp"
    mask_kind: masklib.MaskKind = "binary"
    search_is_ticket: bool = True

    def __post_init__(self) -> None:
        _check_fraction(self.prune_fraction)

    def prune(self, model: nn.Module) -> int:
        magnitudes = {name: module.parametrizations.weight.original.detach().abs()
                      for name, module in _masked_modules(model).items()}
        return masklib.prune_by_fraction_(model, magnitudes, self.prune_fraction)


def imp_levels_to_pass(sparsity: float, prune_fraction: float = 0.2) -> int:
    """The fewest IMP levels ``n`` whose sparsity, 1 − (1 − p)^n after pruning the fraction ``p`` of the
    survivors ``n`` times, exceeds ``sparsity``: how long an IMP run must be for its curve to pass a soft
    run's sparsity, so that the two are compared at matched sparsity (Figs. 5-7). Each level removes
    ``round(p · survivors)`` entries (:func:`concave_lottery.method.masks.prune_by_fraction_`), which can
    move the sparsity reached by a fraction of an entry per level."""
    _check_fraction(prune_fraction)
    if not 0.0 <= sparsity < 1.0:
        raise ParameterError("sparsity", sparsity, "a sparsity in [0, 1)")
    n = max(0, math.ceil(math.log1p(-sparsity) / math.log1p(-prune_fraction)))
    while 1.0 - (1.0 - prune_fraction) ** n <= sparsity:
        n += 1
    return n


def _masked_modules(model: nn.Module) -> dict[str, nn.Module]:
    modules = dict(model.named_modules())
    return {name: modules[name.removesuffix(".weight")] for name in masklib.get_masks(model)}


METHODS: tuple[str, ...] = ("soft", "imp", "sigmoid", "hard")


def make_method(name: str, *, regularizer: Regularizer, lam: float, alpha: float,
                prune_fraction: float, beta_final: float) -> SearchMethod:
    """Build the method called ``name`` (one of :data:`METHODS`)."""
    if name == "soft":
        return SoftMask(regularizer, lam, alpha)
    if name == "hard":
        return HardMask(regularizer, lam, alpha, prune_fraction=prune_fraction)
    if name == "sigmoid":
        return SigmoidMask(lam, alpha, beta_final)
    if name == "imp":
        return MagnitudePruning(prune_fraction)
    raise unknown_name("method", name, METHODS)
