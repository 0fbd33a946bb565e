"""Run directories and result files, and loading many runs into a table.

A run lives in ``<out>/<preset>/<run name>/`` (:meth:`RunConfig.run_name`, e.g.
``results/lenet300-mnist/soft-log-lam1e-06-seed0-1a2b3c4d/``); its files are named in
:mod:`concave_lottery.runs.paths` and each is verified against its digest before it is used
(:mod:`concave_lottery.runs.digests`). ``round-<t>/masks.pt`` is committed for the small models and kept
local for VGG-11 and WRN-20 (tens of MB); θ snapshots and checkpoints stay local.

``result.json`` has ``config``, ``rounds`` (one entry per round or IMP level: ``round``,
``sparsity`` = fraction of prunable weights removed, ``remaining_weights``, ``test_accuracy``
(final epoch of the ticket training), ``best_test_accuracy``, ``seconds``, ...) and
``provenance`` (``git_commit``, ``torch``, ``python``, ``device``, ``started``, ``seconds``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CorruptFile
from .digests import Digests, is_run_folder
from .paths import CONFIG_FILE, RESULT_FILE, RunDir

if TYPE_CHECKING:  # torch is imported where it is used: `lottery results` starts without it
    import torch

__all__ = ["CONFIG_FILE", "RESULT_FILE", "check_finished_run", "find_results", "load_result", "load_runs",
           "read_json", "run_directory", "write_json"]


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as indented JSON atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """A JSON file outside the digests (a run's files are read through :class:`Digests`)."""
    try:
        return json.loads(Path(path).read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptFile(f"{path} is not valid JSON ({exc}); delete it to recompute.") from None


def git_commit() -> str:
    """The library's git commit (with ``+dirty`` when the work tree has changes), or ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", str(here)], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_name(device: torch.device) -> str:
    """A human-readable name of the hardware a run used."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model_name()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def cpu_model_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (else the platform's processor or machine name)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model


def cpu_id() -> str:
    """The CPU's vendor, family, model and stepping (``/proc/cpuinfo``), e.g. ``AuthenticAMD 25/17/1``.

    Two CPUs with the same model name (a virtual machine may show only "AMD EPYC") and the same torch
    kernels (``cpu_capability``) can still round differently (their math libraries pick kernels by
    microarchitecture and cache sizes), so a bit-for-bit comparison needs this too."""
    fields = {"vendor_id": "", "cpu family": "", "model": "", "stepping": ""}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in fields and not fields[key]:
                fields[key] = value.strip()
            if all(fields.values()):
                break
    except OSError:
        return platform.processor() or platform.machine()
    return f"{fields['vendor_id']} {fields['cpu family']}/{fields['model']}/{fields['stepping']}"


def provenance(device: torch.device, started: datetime, seconds: float, *, precision: str = "fp32",
               channels_last: bool = False) -> dict[str, Any]:
    """Where and how a run was computed. ``precision`` (``fp32`` or ``bf16``, never ``auto``: see
    :mod:`concave_lottery.runs.precision`) and ``memory_format`` say how the network was evaluated;
    ``native_bf16`` whether this hardware computes bf16 natively (else bf16 was emulated)."""
    import torch

    import concave_lottery

    from .precision import memory_format_name, native_bf16

    return {
        "git_commit": git_commit(),
        "library": concave_lottery.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device_name(device),
        "device_type": device.type,
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_id": cpu_id(),
        "precision": precision,
        "memory_format": memory_format_name(channels_last),
        "native_bf16": native_bf16(device),
        "started": started.astimezone(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
    }


def now() -> datetime:
    return datetime.now(UTC)


def same_run(stored: dict[str, Any], config: Any) -> bool:
    """Whether a stored ``config.json`` describes the same run as ``config`` (a RunConfig): equal in every
    field that determines the result, with fields newer than the stored file at their defaults."""
    from .config import RunConfig

    try:
        return RunConfig.from_dict(stored).identity() == config.identity()
    except (TypeError, ValueError):
        return False


def run_directory(config: Any, out: Path | str) -> Path:
    """Where ``config``'s run lives under ``out``: ``<out>/<preset>/<run name>/``, or an existing run
    directory of the same run whose name was computed by an older library version."""
    default = Path(out) / config.preset / config.run_name()
    if default.exists():
        return default
    for config_path in sorted(default.parent.glob(f"*/{CONFIG_FILE}")):
        if same_run(read_json(config_path), config):
            return config_path.parent
    return default


def find_results(root: Path | str) -> list[Path]:
    """Every ``result.json`` under ``root``, sorted."""
    return sorted(Path(root).rglob(RESULT_FILE))


_ROUND_KEYS = ("round", "sparsity")


def load_result(path: Path | str) -> dict[str, Any]:
    """Load one ``result.json`` (or the one inside a run directory), verified against its digest, and check
    its shape: a config, at least one round record, a provenance."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULT_FILE
    run = RunDir(path.parent)
    data = Digests(run).read_json(path) if is_run_folder(run.path) else read_json(path)
    advice = run.unit_of(path) if is_run_folder(run.path) else "delete it"
    for key, kind in (("config", dict), ("rounds", list), ("provenance", dict)):
        if not isinstance(data, dict) or not isinstance(data.get(key), kind):
            raise CorruptFile(f"{path} has no '{key}' {kind.__name__}: it is not a lottery result file ({advice}).")
    rounds = data["rounds"]
    if not rounds:
        raise CorruptFile(f"{path} holds 0 round records: it is not a finished run ({advice}).")
    for i, record in enumerate(rounds):
        missing = [k for k in _ROUND_KEYS if not isinstance(record, dict) or k not in record]
        if missing:
            raise CorruptFile(f"{path}: round record {i} lacks {', '.join(missing)} ({advice}).")
    return data


def check_finished_run(run_dir: Path | str) -> None:
    """Verify every file of a finished run folder against its digest (none changed, none deleted: in
    particular every round's record and mask state), and its ``result.json``'s shape."""
    run = RunDir(run_dir)
    digests = Digests(run)
    if not digests.exists():
        digests.read_bytes(run.result)  # the error naming the migration command
    digests.verify_all()  # a deleted record.json or masks.pt is caught there: it has a digest
    load_result(run.result)


def load_runs(paths: Iterable[Path | str] | Path | str) -> Any:
    """A pandas DataFrame with one row per (run, round): the config columns, the round record and
    the provenance (prefixed ``prov_``). ``paths`` is a results root or an iterable of result files."""
    import pandas as pd

    if isinstance(paths, str | Path):
        paths = find_results(paths)
    rows = []
    for path in paths:
        result = load_result(path)
        base = {k: (tuple(v) if isinstance(v, list) else v) for k, v in result["config"].items()}
        base.update({f"prov_{k}": v for k, v in result["provenance"].items()})
        base["run_dir"] = str(Path(path).parent if Path(path).name == RESULT_FILE else path)
        for record in result["rounds"]:
            row = dict(base)
            row.update({k: v for k, v in record.items() if not isinstance(v, dict | list)})
            rows.append(row)
    return pd.DataFrame(rows)
