"""Tickets you can take away: a recorded run's trained ticket written in a format other tools load.

``lottery export RUN_DIR [--round N] --format F [--out PATH]`` (:func:`export_ticket`) reads the ticket
of a finished run (:func:`concave_lottery.runs.tickets.load_ticket`: every file verified against its
digest, the weights' structure against the network) and writes it with one function per format, in
the registry :data:`FORMATS`:

``torch-prune`` (:mod:`.torch_prune`)
    a ``state_dict`` that :mod:`torch.nn.utils.prune` understands: ``<layer>.weight_orig`` and
    ``<layer>.weight_mask`` for every prunable layer, the rest dense. Load it into your own copy of the
    network after ``prune.custom_from_mask`` (:func:`~.torch_prune.load_torch_prune`).
``sparse`` (:mod:`.sparse`)
    safetensors: every prunable weight in CSR (rows = output units / filters, the rest of its dimensions
    flattened), as three tensors ``crow_indices``, ``col_indices``, ``values``, plus every other tensor
    dense, and a metadata header (JSON) that names the layout, the shapes and the run.
``compact`` (:mod:`.compact`)
    a physically smaller dense network: hidden units and inner-block channels that provably do not
    change the output are removed (with the matching inputs of the next layer).

A format is ``(writer, extension, description)``; adding one is adding an entry.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParameterError, unknown_name
from ..runs.tickets import Ticket, load_ticket


@dataclass(frozen=True)
class ExportFormat:
    name: str
    #: ``write(ticket, path)`` writes the ticket in this format.
    write: Callable[[Ticket, Path], None]
    extension: str
    description: str


FORMATS: dict[str, ExportFormat] = {}


def register_format(name: str, extension: str, description: str) -> Callable[[Callable[[Ticket, Path], None]],
                                                                           Callable[[Ticket, Path], None]]:
    """Decorator: add a writer ``(ticket, path) -> None`` to :data:`FORMATS` under ``name``."""
    def add(write: Callable[[Ticket, Path], None]) -> Callable[[Ticket, Path], None]:
        FORMATS[name] = ExportFormat(name, write, extension, description)
        return write
    return add


def get_format(name: str) -> ExportFormat:
    if name not in FORMATS:
        raise unknown_name("format", name, FORMATS)
    return FORMATS[name]


def default_path(ticket: Ticket, fmt: ExportFormat) -> Path:
    """``<run name>-round<t>-<format><extension>`` in the current folder."""
    return Path(f"{ticket.run.name}-round{ticket.round}-{fmt.name}{fmt.extension}")


def export_ticket(run_dir: Path | str, format: str, *, round: int | None = None,
                  out: Path | str | None = None) -> Path:
    """Write round ``round``'s (default: the last trained) ticket of the run in ``run_dir`` in ``format``
    to ``out`` (default: :func:`default_path`); returns the path written."""
    fmt = get_format(format)
    ticket = load_ticket(run_dir, round)
    path = default_path(ticket, fmt) if out is None else Path(out)
    if path.is_dir():
        raise ParameterError("out", str(path), "it must be a file path, not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fmt.write(ticket, tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # as any new file (safetensors writes its files private)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


from . import compact, sparse, torch_prune  # noqa: E402,F401  (they register their formats)

__all__ = ["FORMATS", "ExportFormat", "export_ticket", "get_format", "register_format"]
