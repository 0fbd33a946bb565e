"""``compact``: a physically smaller dense network that computes what the masked ticket computes.

Pruning whole rows of a weight (a hidden unit's incoming weights, a convolution's filter) leaves a unit
whose output no longer depends on the input. Such a unit, and any unit the next layer no longer reads,
can be cut out of the network: its row (filter) in the producing layer, its BatchNorm entries and its
column (input channel) in the consuming layer. This is done for every *link* ``producer → [BatchNorm] →
ReLU → consumer`` whose units are read by that consumer alone (:data:`LINKS`):

- LeNet-300-100: ``fc_layers.0 → fc_layers.1`` and ``fc_layers.1 → fc``;
- the CIFAR ResNets (ResNet-20/56, WRN-20): inside every block, ``conv1 → bn1 → conv2``. The block's
  output channels are left alone: they are summed with the shortcut into the residual stream that every
  later block reads, so a channel there is removable only if it were dead in every block at once.

A unit ``j`` of a link is removed when removing it provably leaves the output unchanged:

1. the consumer does not read it (its column of the consumer's weight is all 0); or
2. its row of the producer's weight is all 0, so it outputs the constant ``c_j = ReLU(BN(b_j))``
   (``b_j`` the producer's bias, 0 without one; BatchNorm in eval mode), and either ``c_j = 0``, or
   the consumer is a ``Linear`` layer with a bias: then ``W_{:, j} c_j`` is added to that bias (exact
   in real arithmetic; equal to float tolerance). A convolution consumer cannot absorb a constant
   channel that way (its zero padding makes the contribution differ at the borders), so there case 2
   needs ``c_j = 0``.

One unit per link is always kept (a layer with no units is not a network PyTorch builds).
The file (``torch.save``, readable with ``weights_only=True``) holds the ``state_dict`` of the smaller
network, the run's config, and what was removed; :func:`load_compact` builds the network back
(every ``Conv2d``, ``Linear`` and ``BatchNorm2d`` sized from the ``state_dict``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CorruptFile, ParameterError
from ..runs.config import RunConfig
from ..runs.tickets import Ticket, build_model
from . import register_format

FORMAT_NAME = "concave_lottery.compact"
VERSION = 1


@dataclass(frozen=True)
class Link:
    """Units that ``producer`` (through ``norm`` and a ReLU) feeds to ``consumer`` and to nothing else."""

    producer: str
    norm: str | None
    consumer: str


def _lenet_links(model: nn.Module) -> list[Link]:
    names = [f"fc_layers.{i}" for i in range(len(model.fc_layers))] + ["fc"]
    return [Link(a, None, b) for a, b in zip(names, names[1:], strict=False)]


def _resnet_links(model: nn.Module) -> list[Link]:
    return [Link(f"blocks.{i}.conv1", f"blocks.{i}.bn1", f"blocks.{i}.conv2") for i in range(len(model.blocks))]


#: The links of each architecture whose units :func:`compact_model` may remove.
LINKS: dict[str, Callable[[nn.Module], list[Link]]] = {
    "lenet300": _lenet_links, "resnet20": _resnet_links, "resnet56": _resnet_links, "wrn20": _resnet_links}


@dataclass(frozen=True)
class LinkReport:
    link: Link
    units: int
    removed: int
    #: Removed units whose constant output was added to the consumer's bias.
    folded: int


@torch.no_grad()
def _constant_output(producer: nn.Module, norm: nn.Module | None) -> torch.Tensor:
    """``ReLU(BN(b))`` per unit: the output of a unit whose incoming weights are all 0."""
    out = producer.weight.shape[0]
    value = producer.bias.detach().clone() if producer.bias is not None else producer.weight.new_zeros(out)
    if norm is not None:
        value = F.batch_norm(value.view(1, -1), norm.running_mean, norm.running_var, norm.weight, norm.bias,
                             training=False, eps=norm.eps).view(-1)
    return F.relu(value)


@torch.no_grad()
def _compact_link(model: nn.Module, link: Link) -> LinkReport:
    producer, consumer = model.get_submodule(link.producer), model.get_submodule(link.consumer)
    norm = model.get_submodule(link.norm) if link.norm else None
    units = producer.weight.shape[0]
    dead = (producer.weight.reshape(units, -1) == 0).all(1)
    unused = (consumer.weight.transpose(0, 1).reshape(units, -1) == 0).all(1)
    constant = _constant_output(producer, norm)
    can_fold = isinstance(consumer, nn.Linear) and consumer.bias is not None
    removable = unused | (dead & ((constant == 0) | can_fold))
    keep = ~removable
    if not keep.any():
        keep[0] = True
    removed = ~keep
    fold = removed & ~unused & (constant != 0)
    if fold.any():
        consumer.bias += consumer.weight[:, fold] @ constant[fold]
    producer.weight = nn.Parameter(producer.weight[keep].clone())
    if producer.bias is not None:
        producer.bias = nn.Parameter(producer.bias[keep].clone())
    _set_width(producer, out=int(keep.sum()))
    if norm is not None:
        norm.weight = nn.Parameter(norm.weight[keep].clone())
        norm.bias = nn.Parameter(norm.bias[keep].clone())
        norm.running_mean = norm.running_mean[keep].clone()
        norm.running_var = norm.running_var[keep].clone()
        norm.num_features = int(keep.sum())
    consumer.weight = nn.Parameter(consumer.weight[:, keep].clone())
    _set_width(consumer, inp=int(keep.sum()))
    return LinkReport(link, units, int(removed.sum()), int(fold.sum()))


def _set_width(module: nn.Module, *, out: int | None = None, inp: int | None = None) -> None:
    if isinstance(module, nn.Linear):
        module.out_features = out if out is not None else module.out_features
        module.in_features = inp if inp is not None else module.in_features
    else:
        module.out_channels = out if out is not None else module.out_channels
        module.in_channels = inp if inp is not None else module.in_channels


def compact_model(model: nn.Module, architecture: str) -> tuple[nn.Module, list[LinkReport]]:
    """Remove, in place, every unit of ``model`` (a plain network of ``architecture``, masks baked in, so
    pruned weights are 0) that provably does not change its output (see the module docstring). Returns the
    model, in eval mode, and one report per link."""
    if architecture not in LINKS:
        raise ParameterError("format", "compact", f"compact knows the links of {', '.join(sorted(LINKS))}, not "
                             f"of {architecture}: use --format sparse or torch-prune for it")
    model.eval()
    return model, [_compact_link(model, link) for link in LINKS[architecture](model)]


@register_format("compact", ".pt", "smaller dense network: dead hidden units / inner-block channels removed")
def write_compact(ticket: Ticket, path: Path) -> None:
    model, reports = compact_model(ticket.model(), ticket.config.model)
    torch.save({"format": FORMAT_NAME, "version": VERSION, "config": ticket.config.to_dict(),
                "run": ticket.run.name, "round": ticket.round, "sparsity": ticket.sparsity,
                "test_accuracy": ticket.record.get("test_accuracy"),
                "removed": {r.link.producer: [r.removed, r.units] for r in reports},
                "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}, path)


def resize_to(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Give every ``Conv2d``, ``Linear`` and ``BatchNorm2d`` of ``model`` the sizes of ``state`` (in place)."""
    for name, module in list(model.named_modules()):
        prefix = f"{name}." if name else ""
        weight = state.get(f"{prefix}weight")
        if weight is None or tuple(weight.shape) == tuple(module.weight.shape):
            continue
        if isinstance(module, nn.Conv2d | nn.Linear):
            module.weight = nn.Parameter(torch.empty_like(weight))
            if module.bias is not None:
                module.bias = nn.Parameter(torch.empty(weight.shape[0]))
            _set_width(module, out=weight.shape[0], inp=weight.shape[1] * getattr(module, "groups", 1))
        elif isinstance(module, nn.BatchNorm2d):
            n = weight.shape[0]
            module.weight, module.bias = nn.Parameter(torch.empty(n)), nn.Parameter(torch.empty(n))
            module.running_mean, module.running_var = torch.empty(n), torch.empty(n)
            module.num_features = n
    return model


def load_compact(path: Path | str) -> tuple[nn.Module, dict[str, Any]]:
    """The smaller network of a ``compact`` file, in eval mode, and the file's header (all but the weights)."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME or data.get("version") != VERSION:
        raise CorruptFile(f"{path} is not a ticket in the compact format (version {VERSION}) of this library.")
    model = resize_to(build_model(RunConfig.from_dict(data["config"])), data["state_dict"])
    model.load_state_dict(data["state_dict"])
    return model.eval(), {k: v for k, v in data.items() if k != "state_dict"}
