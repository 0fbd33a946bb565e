"""The mask: one reparameterization of every prunable weight, for every method.

Each prunable weight θ (the ``weight`` of every ``Conv2d`` and ``Linear``; contributor guide §3, "Method
decisions") is replaced, through :mod:`torch.nn.utils.parametrize`, by the effective weight

.. math::  w = \\theta \\odot a \\odot m, \\qquad a \\in \\{0, 1\\}^d,

where ``a`` (the buffer ``alive``) records which entries survive pruning and ``m`` depends on
the mask's *kind*:

``relaxed``  (Algorithm 1)
    ``m`` is a trainable tensor constrained to ``[0, 1]^d`` (eq. 1), initialised at
    ``m_0 = 1/2`` and projected back onto ``[0, 1]`` after every optimizer step
    (:func:`project_masks_`).
``sigmoid``  (the continuous-sparsification baseline of Fig. 9)
    ``m = σ(β s)`` with a trainable score ``s`` (``s_0 = 0``, so ``m_0 = 1/2``) and a
    temperature ``β`` set by the training schedule.
``binary``   (IMP and ticket training)
    ``m = 1``: the effective weight is ``θ ⊙ a``.

Pruning only ever turns entries of ``a`` from 1 to 0 and sets the relaxed ``m`` to 0 there, so
a pruned weight's effective value is exactly 0 whatever θ, momentum or weight decay do, and
stays 0 across rewinding (θ is rewound, ``a`` is not). Nothing here turns a 0 back into a 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..errors import ParameterError

MaskKind = Literal["relaxed", "sigmoid", "binary"]
MASK_KINDS: tuple[str, ...] = ("relaxed", "sigmoid", "binary")
PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)


class WeightMask(nn.Module):
    """Parametrization ``θ ↦ θ ⊙ a ⊙ m`` of one weight tensor (see the module docstring)."""

    def __init__(self, shape: torch.Size, kind: MaskKind, init: float = 0.5,
                 device: torch.device | None = None) -> None:
        super().__init__()
        if kind not in MASK_KINDS:
            raise ParameterError("mask kind", kind, f"one of {', '.join(MASK_KINDS)}")
        self.kind: MaskKind = kind
        self.beta = 1.0
        self.register_buffer("alive", torch.ones(shape, device=device))
        if kind == "relaxed":
            self.score = nn.Parameter(torch.full(shape, float(init), device=device))
        elif kind == "sigmoid":
            self.score = nn.Parameter(torch.zeros(shape, device=device))
        else:
            self.score = None

    def mask(self) -> torch.Tensor:
        """The effective mask ``a ⊙ m`` in ``[0, 1]``."""
        if self.kind == "relaxed":
            return self.score * self.alive
        if self.kind == "sigmoid":
            return torch.sigmoid(self.beta * self.score) * self.alive
        return self.alive

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return theta * self.mask().to(theta.dtype)

    @torch.no_grad()
    def project_(self) -> None:
        """Projection of a relaxed mask onto ``[0, 1]`` (eq. 1), keeping pruned entries at 0."""
        if self.kind == "relaxed":
            self.score.clamp_(0.0, 1.0).mul_(self.alive)

    @torch.no_grad()
    def prune_(self, remove: torch.Tensor) -> int:
        """Remove the entries where ``remove`` is true; returns how many survivors were removed."""
        remove = remove.to(torch.bool) & self.alive.bool()
        self.alive[remove] = 0.0
        if self.kind == "relaxed":
            self.score[remove] = 0.0
        return int(remove.sum())


# --------------------------------------------------------------------------- attaching


def prunable_layers(model: nn.Module, types: tuple[type[nn.Module], ...] = PRUNABLE_TYPES,
                    exclude: Iterable[str] = ()) -> dict[str, nn.Module]:
    """Modules whose ``weight`` is prunable, by qualified name (``"layer1.0.conv1"``)."""
    skip = set(exclude)
    return {name: module for name, module in model.named_modules()
            if isinstance(module, types) and name not in skip and f"{name}.weight" not in skip}


def attach_masks(model: nn.Module, kind: MaskKind, *, init: float = 0.5,
                 layers: Mapping[str, nn.Module] | None = None) -> dict[str, WeightMask]:
    """Register a :class:`WeightMask` on the ``weight`` of every prunable layer.

    Returns the masks keyed by the weight's qualified name (``"fc1.weight"``). A model that already
    carries masks gets them replaced (their ``alive`` state is *not* carried over: use
    :func:`load_mask_state` for that).
    """
    layers = prunable_layers(model) if layers is None else layers
    detach_masks(model)
    masks: dict[str, WeightMask] = {}
    for name, module in layers.items():
        weight = module.weight
        mask = WeightMask(weight.shape, kind, init, device=weight.device)
        parametrize.register_parametrization(module, "weight", mask, unsafe=True)
        masks[f"{name}.weight" if name else "weight"] = mask
    return masks


def get_masks(model: nn.Module) -> dict[str, WeightMask]:
    """The masks attached to ``model``, keyed by the weight's qualified name."""
    found: dict[str, WeightMask] = {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            for p in module.parametrizations.weight:
                if isinstance(p, WeightMask):
                    found[f"{name}.weight" if name else "weight"] = p
    return found


def detach_masks(model: nn.Module, *, bake: bool = False) -> None:
    """Remove every mask; ``bake=True`` leaves the effective weights ``θ ⊙ a ⊙ m`` in place."""
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=bake)


# --------------------------------------------------------------------------- state


def mask_state(model: nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    """``{weight name: {"alive": bool tensor, "score": float tensor (relaxed/sigmoid only)}}`` on CPU."""
    state: dict[str, dict[str, torch.Tensor]] = {}
    for name, mask in get_masks(model).items():
        entry = {"alive": mask.alive.detach().bool().cpu().clone()}
        if mask.score is not None:
            entry["score"] = mask.score.detach().float().cpu().clone()
        state[name] = entry
    return state


@torch.no_grad()
def load_mask_state(model: nn.Module, state: Mapping[str, Mapping[str, torch.Tensor]],
                    *, scores: bool = True) -> None:
    """Load ``alive`` (and, when ``scores`` and present, the scores) into the attached masks."""
    masks = get_masks(model)
    if set(masks) != set(state):
        raise ValueError(f"mask state names {sorted(state)} do not match the model's {sorted(masks)}")
    for name, mask in masks.items():
        mask.alive.copy_(state[name]["alive"].to(mask.alive))
        if scores and mask.score is not None and "score" in state[name]:
            mask.score.copy_(state[name]["score"].to(mask.score))
        mask.project_()


def mask_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable mask parameters (``m`` or ``s``), for their own optimizer group."""
    return [m.score for m in get_masks(model).values() if m.score is not None]


def weight_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Every trainable parameter that is not a mask parameter (θ, biases, BatchNorm)."""
    ids = {id(p) for p in mask_parameters(model)}
    return [p for p in model.parameters() if id(p) not in ids]


def param_groups(model: nn.Module, *, lr: float, weight_decay: float, mask_lr_scale: float,
                 mask_weight_decay: float) -> list[dict[str, object]]:
    """The optimizer's parameter groups of every method: θ (:func:`weight_parameters`) with ``lr`` and
    ``weight_decay``, then, when the masks are trainable, the mask parameters with ``lr · mask_lr_scale``
    and ``mask_weight_decay``."""
    groups: list[dict[str, object]] = [
        {"params": weight_parameters(model), "lr": lr, "weight_decay": weight_decay}]
    masks = mask_parameters(model)
    if masks:
        groups.append({"params": masks, "lr": lr * mask_lr_scale, "weight_decay": mask_weight_decay})
    return groups


def project_masks_(model: nn.Module) -> None:
    """Project every relaxed mask onto ``[0, 1]`` (call after every optimizer step)."""
    for mask in get_masks(model).values():
        mask.project_()


def set_beta(model: nn.Module, beta: float) -> None:
    """Set the temperature β of every sigmoid mask."""
    for mask in get_masks(model).values():
        mask.beta = float(beta)


def effective_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """``a ⊙ m`` per weight (detached)."""
    with torch.no_grad():
        return {name: mask.mask().detach() for name, mask in get_masks(model).items()}


# --------------------------------------------------------------------------- pruning


def prune_by_threshold_(model: nn.Module, alpha: float) -> int:
    """Algorithm 1, step 4: prune every surviving entry whose mask value is below ``alpha``.

    Returns the number of entries removed.
    """
    if not 0.0 < alpha < 1.0:
        raise ParameterError("alpha", alpha, "alpha must lie in the open interval (0, 1)")
    removed = 0
    for mask in get_masks(model).values():
        with torch.no_grad():
            removed += mask.prune_(mask.mask() < alpha)
    return removed


def prune_by_fraction_(model: nn.Module, scores: Mapping[str, torch.Tensor], fraction: float) -> int:
    """Prune, globally over all layers, ``round(fraction · survivors)`` surviving entries with the
    smallest ``scores`` (|θ| for IMP, ``m`` for the hard variant).

    Ties are broken by position: all entries are laid out in the order of ``scores`` (layer order,
    then row-major inside a layer) and a stable sort removes the earlier of two equal scores first.
    Returns the number removed.
    """
    if not 0.0 < fraction < 1.0:
        raise ParameterError("prune_fraction", fraction, "the pruning fraction must lie in (0, 1)")
    masks = get_masks(model)
    names = list(scores)
    alive = torch.cat([masks[n].alive.detach().flatten().bool().cpu() for n in names])
    flat = torch.cat([scores[n].detach().flatten().float().cpu() for n in names])
    survivors = torch.nonzero(alive).flatten()
    k = int(round(fraction * survivors.numel()))
    if k == 0:
        return 0
    order = torch.sort(flat[survivors], stable=True).indices[:k]
    remove = torch.zeros_like(alive)
    remove[survivors[order]] = True
    offset, removed = 0, 0
    for n in names:
        size = masks[n].alive.numel()
        removed += masks[n].prune_(remove[offset:offset + size].view_as(masks[n].alive))
        offset += size
    return removed


# --------------------------------------------------------------------------- reporting


@dataclass(frozen=True)
class LayerSparsity:
    name: str
    total: int
    remaining: int

    @property
    def sparsity(self) -> float:
        return 1.0 - self.remaining / self.total if self.total else 0.0


@dataclass(frozen=True)
class SparsityReport:
    """Fraction of weights removed, per prunable layer and in total.

    ``sparsity`` is the fraction of *prunable* weights removed (the x axis of Figs 5-9);
    ``parameter_sparsity`` is the fraction of *all* parameters removed (biases and BatchNorm count
    as kept).
    """

    layers: tuple[LayerSparsity, ...]
    total_parameters: int

    @property
    def prunable(self) -> int:
        return sum(layer.total for layer in self.layers)

    @property
    def remaining(self) -> int:
        return sum(layer.remaining for layer in self.layers)

    @property
    def sparsity(self) -> float:
        return 1.0 - self.remaining / self.prunable if self.prunable else 0.0

    @property
    def parameter_sparsity(self) -> float:
        return (self.prunable - self.remaining) / self.total_parameters

    def as_dict(self) -> dict[str, object]:
        return {
            "sparsity": self.sparsity,
            "remaining_weights": self.remaining,
            "prunable_weights": self.prunable,
            "parameter_sparsity": self.parameter_sparsity,
            "total_parameters": self.total_parameters,
            "layers": {l.name: {"total": l.total, "remaining": l.remaining, "sparsity": l.sparsity}
                       for l in self.layers},
        }

    def __str__(self) -> str:
        width = max([len(layer.name) for layer in self.layers] + [5])
        lines = [f"{'layer':<{width}}  {'remaining':>10} / {'total':>10}  sparsity"]
        lines += [f"{l.name:<{width}}  {l.remaining:>10,} / {l.total:>10,}  {l.sparsity:8.2%}"
                  for l in self.layers]
        lines.append(f"{'total':<{width}}  {self.remaining:>10,} / {self.prunable:>10,}  {self.sparsity:8.2%}"
                     f"  ({self.parameter_sparsity:.2%} of all {self.total_parameters:,} parameters)")
        return "\n".join(lines)


def sparsity_report(model: nn.Module) -> SparsityReport:
    """Per-layer and total sparsity of the masks attached to ``model`` (``a`` only: a relaxed
    entry that is small but not yet pruned counts as remaining)."""
    layers = tuple(LayerSparsity(name, mask.alive.numel(), int(mask.alive.sum()))
                   for name, mask in get_masks(model).items())
    return SparsityReport(layers, count_all_parameters(model))


def count_all_parameters(model: nn.Module) -> int:
    """Number of network parameters (θ, biases, BatchNorm), not counting mask parameters."""
    return sum(p.numel() for p in weight_parameters(model))
