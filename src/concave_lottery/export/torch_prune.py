"""``torch-prune``: the ticket as the ``state_dict`` of a network pruned with :mod:`torch.nn.utils.prune`.

``prune.custom_from_mask(module, "weight", mask)`` turns ``module.weight`` into ``weight_orig ⊙
weight_mask`` (a parameter and a buffer); the file is the ``state_dict`` of the ticket's network after
that call on every prunable layer with the ticket's mask ``a`` (the survivors the ticket was trained
under): ``<layer>.weight_orig`` (the trained weights, 0 where pruned), ``<layer>.weight_mask`` (``a``
as floats) and every other parameter and buffer as it is. A plain ``torch.load`` reads it
(``weights_only=True``); :func:`load_torch_prune` loads it into any copy of the network.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune

from ..runs.tickets import Ticket
from . import register_format


def torch_prune_state(ticket: Ticket) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of the ticket's network pruned by ``prune.custom_from_mask`` with its mask."""
    model = ticket.model()
    for name, alive in ticket.mask.items():
        module_name, _, param = name.rpartition(".")
        prune.custom_from_mask(model.get_submodule(module_name), param, alive)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@register_format("torch-prune", ".pt", "state_dict with <layer>.weight_orig / <layer>.weight_mask "
                                       "(torch.nn.utils.prune)")
def write_torch_prune(ticket: Ticket, path: Path) -> None:
    torch.save(torch_prune_state(ticket), path)


def load_torch_prune(path: Path | str, model: nn.Module) -> nn.Module:
    """Load a ``torch-prune`` file into ``model`` (a fresh network of the ticket's architecture): every
    ``<layer>.<param>_mask`` is applied with ``prune.custom_from_mask`` first, then the ``state_dict``
    is loaded strictly. Returns ``model`` (its pruned weights are ``weight_orig * weight_mask``)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    pruned = []
    for key, mask in state.items():
        if key.endswith("_mask"):
            module_name, _, param = key[: -len("_mask")].rpartition(".")
            prune.custom_from_mask(model.get_submodule(module_name), param, mask)
            pruned.append((model.get_submodule(module_name), param))
    model.load_state_dict(state)
    with torch.no_grad():  # prune recomputes `weight` in a forward pre-hook; make it current now
        for module, param in pruned:
            setattr(module, param, getattr(module, f"{param}_orig") * getattr(module, f"{param}_mask"))
    return model
