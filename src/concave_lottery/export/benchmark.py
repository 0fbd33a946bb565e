"""What a ticket costs to keep and to run: bytes on disk and CPU inference latency per format.

:func:`measure_ticket` takes a recorded run's trained ticket (:func:`~concave_lottery.runs.tickets.load_ticket`)
and measures

- bytes on disk: ``dense`` (the plain ``state_dict``, every weight stored, pruned ones as zeros),
  ``masked`` (the ``torch-prune`` file: ``weight_orig`` and a float ``weight_mask`` per layer), ``sparse``
  (safetensors with CSR weights) and ``compact`` (the smaller dense network);
- CPU inference latency (median of repeated forward passes, ``torch.inference_mode``, after warm-up) at
  batch 1 and batch 128 of: the dense network (the ticket's weights, pruned ones stored as zeros), the
  ``torch.nn.utils.prune`` network loaded from the ``torch-prune`` file (it multiplies ``weight_orig`` by
  ``weight_mask`` before every forward pass), the network whose ``Linear`` layers multiply with
  ``torch.sparse.mm`` (:func:`~concave_lottery.export.sparse.sparse_linear_model`; only where the
  network's weights are mostly ``Linear``: PyTorch has no sparse convolution, so for a CNN this row is
  not measured), and the compact network.

:func:`run_benchmark` measures several runs in one process and writes one JSON record with its
provenance (CPU model and instruction-set flags, torch version and threads, commit, load average);
:func:`deploy_table` renders such a record as the table of the book's "Deploying a ticket" chapter.
``benchmarks/ticket_deploy.py`` is the command line. Nothing here asserts a time.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..runs.results import cpu_model_name, git_commit
from ..runs.tickets import INPUT_SHAPES, build_model, load_ticket
from . import FORMATS
from .compact import load_compact
from .sparse import sparse_linear_model
from .torch_prune import load_torch_prune

FORMAT_VERSION = 1
#: Instruction-set flags of /proc/cpuinfo that decide which kernels PyTorch runs.
RELEVANT_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


def cpu_flags() -> list[str]:
    """The :data:`RELEVANT_FLAGS` this CPU has (empty where /proc/cpuinfo is not readable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in RELEVANT_FLAGS if f in have]
    except OSError:
        pass
    return []


def hardware() -> dict[str, Any]:
    return {"cpu": cpu_model_name(), "cores": os.cpu_count(), "cpu_flags": cpu_flags(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


@torch.inference_mode()
def latency(model: nn.Module, x: torch.Tensor, repeats: int, warmup: int = 3) -> float:
    """Median seconds of one forward pass of ``model`` on ``x``."""
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _linear_share(model: nn.Module) -> float:
    weights = [m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    linear = [m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear)]
    return sum(linear) / sum(weights)


def measure_ticket(run_dir: Path | str, *, repeats: dict[int, int] | None = None, seed: int = 0) -> dict[str, Any]:
    """Bytes on disk and latency of the last ticket of the run in ``run_dir`` (see the module docstring).
    ``repeats``: forward passes per batch size (default ``{1: 200, 128: 20}``)."""
    repeats = repeats or {1: 200, 128: 20}
    ticket = load_ticket(run_dir)
    dense = ticket.model()
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dense.pt"
        torch.save(ticket.state, path)
        sizes["dense"] = path.stat().st_size
        files = {}
        for name, label in (("torch-prune", "masked"), ("sparse", "sparse"), ("compact", "compact")):
            files[label] = Path(tmp) / f"{label}{FORMATS[name].extension}"
            FORMATS[name].write(ticket, files[label])
            sizes[label] = files[label].stat().st_size
        compact, header = load_compact(files["compact"])
        masked = load_torch_prune(files["masked"], build_model(ticket.config)).eval()
    models: dict[str, nn.Module | None] = {"dense": dense, "masked": masked, "compact": compact}
    models["sparse"] = sparse_linear_model(ticket.model()) if _linear_share(dense) > 0.5 else None
    channels, side = INPUT_SHAPES[ticket.config.dataset]
    times: dict[str, dict[str, float | None]] = {}
    generator = torch.Generator().manual_seed(seed)
    for batch, n in repeats.items():
        x = torch.rand(batch, channels, side, side, generator=generator)
        times[str(batch)] = {k: (latency(m, x, n) if m is not None else None) for k, m in models.items()}
    with torch.inference_mode():
        x = torch.rand(16, channels, side, side, generator=generator)
        max_diff = float((compact(x) - dense(x)).abs().max())
    parameters = {"dense": sum(v.numel() for v in ticket.state.values() if v.is_floating_point()),
                  "compact": sum(p.numel() for p in compact.parameters())}
    return {"run": f"{ticket.run.path.parent.name}/{ticket.run.name}", "model": ticket.config.model,
            "dataset": ticket.config.dataset, "round": ticket.round, "sparsity": ticket.sparsity,
            "test_accuracy": ticket.record["test_accuracy"], "bytes": sizes, "parameters": parameters,
            "removed_units": header["removed"], "compact_max_abs_difference": max_diff,
            "latency_seconds": times, "repeats": {str(k): v for k, v in repeats.items()}}


def run_benchmark(runs: Sequence[Path | str], out: Path | str | None = None, *, threads: int = 1,
                  repeats: dict[int, int] | None = None) -> dict[str, Any]:
    """Measure every run in ``runs`` with ``threads`` torch threads; write the record to ``out`` (JSON)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        started = datetime.now(UTC)
        tickets = [measure_ticket(run, repeats=repeats) for run in runs]
        record = {"format": FORMAT_VERSION, "tickets": tickets,
                  "provenance": {**hardware(), "git_commit": git_commit(),
                                 "started": started.isoformat(timespec="seconds"),
                                 "seconds": (datetime.now(UTC) - started).total_seconds(),
                                 "command": "python benchmarks/ticket_deploy.py"}}
    finally:
        torch.set_num_threads(before)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(record, indent=2) + "\n")
    return record


def load_record(path: Path | str) -> dict[str, Any]:
    """A benchmark record written by :func:`run_benchmark`, with its format checked."""
    from ..errors import CorruptFile

    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CorruptFile(f"{path} cannot be read as a ticket benchmark record ({exc}); write one with "
                          f"`python benchmarks/ticket_deploy.py --out {path}`.") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT_VERSION or "tickets" not in record:
        raise CorruptFile(f"{path} is not a ticket benchmark record (format {FORMAT_VERSION}); write one with "
                          f"`python benchmarks/ticket_deploy.py --out {path}`.")
    return record


def _kb(n: int) -> str:
    return f"{n / 1024:,.0f} KB"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.3g} ms"


def deploy_table(record: dict[str, Any] | Path | str, *, caption: bool = False) -> Any:
    """The benchmark record as a table (pandas DataFrame): one row per ticket and format, with bytes on disk
    and latency at each batch size (``n/a``: not applicable, see :func:`measure_ticket`). ``caption``: a
    pandas Styler captioned with the hardware and provenance (:func:`hardware_line`), for the book."""
    import pandas as pd

    if not isinstance(record, dict):
        record = load_record(record)
    rows = []
    for t in record["tickets"]:
        name = f"{t['model']} ({t['sparsity']:.1%} sparse)"
        for fmt in ("dense", "masked", "sparse", "compact"):
            row = {"ticket": name, "format": fmt, "on disk": _kb(t["bytes"][fmt]),
                   "vs dense": f"{t['bytes'][fmt] / t['bytes']['dense']:.2f}x"}
            for batch, times in t["latency_seconds"].items():
                row[f"latency, batch {batch}"] = _ms(times.get(fmt))
            rows.append(row)
    table = pd.DataFrame(rows).set_index(["ticket", "format"])
    return table.style.set_caption(hardware_line(record)) if caption else table


def hardware_line(record: dict[str, Any]) -> str:
    p = record["provenance"]
    return (f"{p['cpu']} ({p['cores']} cores; {', '.join(p['cpu_flags']) or 'no flags read'}; PyTorch "
            f"{p['torch']} kernels: {p['cpu_capability']}), {p['torch_threads']} torch thread(s), load average "
            f"{p['load_average']:.1f} at the start, commit {p['git_commit'][:10]}, {p['started']}")
