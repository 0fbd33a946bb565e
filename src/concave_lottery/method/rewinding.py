"""Rewinding: the network state θ without the masks, captured and restored by name.

Algorithm 1, step 2 sets ``θ = θ_0`` at the start of every round (or ``θ = θ_k``, the weights after
``k`` training steps, when rewinding to an early iteration as in Frankle et al. 2020). The
state here holds every parameter and buffer of the network (weights, biases, BatchNorm affine
parameters and running statistics) under its *plain* name (``"fc1.weight"``), whether or not a
mask parametrization is attached, and never the mask state (``alive``, ``m``, ``s``): masks are
carried over between rounds, θ is not.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

_ORIGINAL = ".parametrizations.weight.original"
_MASK_STATE = ".parametrizations.weight.0."


def _plain_name(name: str) -> str | None:
    if _MASK_STATE in name or name.startswith("parametrizations.weight.0."):
        return None
    if name.endswith(_ORIGINAL):
        return name[: -len(_ORIGINAL)] + ".weight"
    if name == "parametrizations.weight.original":
        return "weight"
    return name


def _named_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    named: dict[str, torch.Tensor] = {}
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        plain = _plain_name(name)
        if plain is not None:
            named[plain] = tensor
    return named


def theta_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of θ (every parameter and buffer except the masks), by plain name."""
    return {name: t.detach().cpu().clone() for name, t in _named_tensors(model).items()}


@torch.no_grad()
def load_theta_(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Rewind: copy ``state`` into the model's θ in place; the masks are left untouched."""
    named = _named_tensors(model)
    missing, unexpected = set(named) - set(state), set(state) - set(named)
    if missing or unexpected:
        raise ValueError(f"rewind state does not fit the model: missing {sorted(missing)}, "
                         f"unexpected {sorted(unexpected)}")
    for name, tensor in named.items():
        tensor.copy_(state[name].to(tensor.device, tensor.dtype))
