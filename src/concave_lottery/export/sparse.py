"""``sparse``: the ticket in safetensors, every prunable weight in CSR, the rest dense.

safetensors stores dense tensors only, so a prunable weight ``W`` of shape ``(out, ...)`` is written as
the three tensors of its CSR form, with rows = output units (Linear) or filters (Conv2d) and the other
dimensions flattened into columns (``W.reshape(out, -1)``)::

    <layer>.weight.crow_indices   int32, out + 1      row r's survivors are values[crow[r]:crow[r+1]]
    <layer>.weight.col_indices    int32, survivors    their columns
    <layer>.weight.values         fp32,  survivors    their trained values

Every other tensor (biases, BatchNorm parameters and running statistics) is stored as it is. The
metadata header (safetensors' ``__metadata__``) holds one JSON string under ``"concave_lottery"``:
the format and its version, the layout, the shape of each CSR weight, the run's config (to build the
network) and the ticket's round, sparsity and recorded test accuracy.

:func:`read_sparse` gives back the CSR tensors (``torch.sparse_csr_tensor``) and the header,
:func:`load_sparse_state` a dense ``state_dict``, :func:`load_sparse_model` the network, and
:func:`sparse_linear_model` a copy of a network whose ``Linear`` layers multiply with
``torch.sparse.mm`` (convolutions have no CSR kernel in PyTorch, so they stay dense).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import CorruptFile
from ..runs.config import RunConfig
from ..runs.tickets import Ticket, build_model
from . import register_format

FORMAT_NAME = "concave_lottery.sparse"
VERSION = 1
METADATA_KEY = "concave_lottery"
PARTS = ("crow_indices", "col_indices", "values")


def csr_tensor(weight: torch.Tensor) -> torch.Tensor:
    """``weight.reshape(out, -1)`` in CSR (without PyTorch's "beta" warning)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return weight.detach().reshape(weight.shape[0], -1).to_sparse_csr()


def csr_parts(weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """The CSR components of ``weight.reshape(out, -1)`` (indices as int32)."""
    csr = csr_tensor(weight)
    return {"crow_indices": csr.crow_indices().to(torch.int32), "col_indices": csr.col_indices().to(torch.int32),
            "values": csr.values().contiguous()}


def sparse_tensors(ticket: Ticket) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, header) of the ``sparse`` file of ``ticket``."""
    tensors: dict[str, torch.Tensor] = {}
    shapes: dict[str, list[int]] = {}
    for name, tensor in ticket.state.items():
        if name in ticket.mask:
            shapes[name] = list(tensor.shape)
            for part, value in csr_parts(tensor).items():
                tensors[f"{name}.{part}"] = value
        else:
            tensors[name] = tensor.contiguous()
    header = {"format": FORMAT_NAME, "version": VERSION, "layout": "csr", "csr_shapes": shapes,
              "config": ticket.config.to_dict(), "run": ticket.run.name, "round": ticket.round,
              "sparsity": ticket.sparsity, "test_accuracy": ticket.record.get("test_accuracy")}
    return tensors, header


@register_format("sparse", ".safetensors", "safetensors: prunable weights in CSR (crow/col/values), the rest dense")
def write_sparse(ticket: Ticket, path: Path) -> None:
    tensors, header = sparse_tensors(ticket)
    save_file(tensors, str(path), metadata={METADATA_KEY: json.dumps(header)})


def read_sparse(path: Path | str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors of a ``sparse`` file, each CSR weight as a 2-D ``torch.sparse_csr_tensor``, and its header."""
    with safe_open(str(path), framework="pt") as f:
        raw = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (safe_open has no __iter__)
    try:
        header = json.loads(raw[METADATA_KEY])
    except (KeyError, ValueError):
        raise CorruptFile(f"{path} has no '{METADATA_KEY}' metadata: it is not a ticket in the sparse format of "
                          f"this library.") from None
    if header.get("format") != FORMAT_NAME or header.get("version") != VERSION:
        raise CorruptFile(f"{path} is a {header.get('format')} file, version {header.get('version')}; this library "
                          f"reads {FORMAT_NAME} version {VERSION}.")
    parts = {f"{name}.{part}" for name in header["csr_shapes"] for part in PARTS}
    out = {k: v for k, v in tensors.items() if k not in parts}
    for name, shape in header["csr_shapes"].items():
        crow, col, values = (tensors[f"{name}.{part}"] for part in PARTS)
        out[name] = torch.sparse_csr_tensor(crow.to(torch.int64), col.to(torch.int64), values,
                                            size=(shape[0], math.prod(shape[1:])), check_invariants=True)
    return out, header


def load_sparse_state(path: Path | str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A dense ``state_dict`` (every CSR weight densified to its shape) and the header of a ``sparse`` file."""
    tensors, header = read_sparse(path)
    for name, shape in header["csr_shapes"].items():
        tensors[name] = tensors[name].to_dense().reshape(shape)
    return tensors, header


def load_sparse_model(path: Path | str) -> nn.Module:
    """The network of a ``sparse`` file (built from its header's config), with the ticket's weights, in eval mode."""
    state, header = load_sparse_state(path)
    model = build_model(RunConfig.from_dict(header["config"]))
    model.load_state_dict(state)
    return model.eval()


class SparseLinear(nn.Module):
    """``y = x Wᵀ + b`` with ``W`` in CSR: ``torch.sparse.mm(W, xᵀ)ᵀ`` (the survivors only)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.weight = weight if weight.layout == torch.sparse_csr else csr_tensor(weight)
        self.bias = bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.sparse.mm(self.weight, x.t()).t()
        return out + self.bias if self.bias is not None else out


def sparse_linear_model(model: nn.Module) -> nn.Module:
    """``model`` with every ``nn.Linear`` replaced (in place) by a :class:`SparseLinear` of its weight."""
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            bias = module.bias.detach() if module.bias is not None else None
            setattr(parent, child, SparseLinear(csr_tensor(module.weight), bias))
    return model
