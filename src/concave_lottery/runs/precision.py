"""Numerical precision and memory format of a run: what ``precision`` (``fp32`` | ``bf16`` | ``auto``) means.

``fp32``
    Every tensor and every operation in float32: the numerics of every recorded run.
``bf16``
    The forward and backward passes of the network run under bf16 autocast
    (``torch.autocast(device, dtype=torch.bfloat16)``, on the CPU as on CUDA): convolutions and matrix
    products take bf16 inputs and accumulate in float32. Everything Algorithm 1 adds to plain training
    stays float32: θ itself, the mask ``m`` and the survivors ``a`` (the product θ ⊙ a ⊙ m of eq. (2) is
    formed in float32 and only then cast for the convolution, so a pruned weight is an exact 0 in bf16
    too), the penalty λR(m), the projection onto [0, 1]^d (eq. 1), the loss reduction and the optimizer
    state. bf16 changes the numerics, so a bf16 run is a different run: ``precision`` is part of a run's
    identity (its folder name) whenever it is not ``fp32``.
``auto``
    The fastest setting this hardware computes natively, decided where the run starts and *before* its
    identity is computed or recorded (:meth:`RunConfig.resolved`): bf16 autocast only where the hardware
    has native bf16 arithmetic (a CPU with AMX or AVX512-BF16, a CUDA device that supports bf16), else
    fp32; and the channels_last memory format for convolutional networks. A recorded ``config.json``
    therefore never says ``auto``: it says what ran, and an fp32 run started with ``auto`` is the same run
    (same folder) as one started with ``fp32``.

A CPU without native bf16 (for example an AMD EPYC that exposes only AVX2) still runs ``bf16`` when asked,
with the conversions emulated, and slower than fp32 (``benchmarks/step_speed.py`` measures by how much);
``auto`` never chooses it there. The memory format does not change which numbers are computed, only the
order of the summations inside the convolution kernels, so it is a speed switch (like ``compile``) and not
part of a run's identity; the provenance of every run records both its precision and its memory format.
"""

from __future__ import annotations

import contextlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used, so `lottery presets` and the config stay light
    import torch

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "auto")
#: The CPU flags (``/proc/cpuinfo``) that mean native bf16 arithmetic: AMX tiles, or AVX-512 BF16.
NATIVE_BF16_CPU_FLAGS: tuple[str, ...] = ("amx_bf16", "avx512_bf16")
#: Models without convolutions: ``auto`` keeps them contiguous (channels_last means nothing for them).
FULLY_CONNECTED_MODELS: tuple[str, ...] = ("lenet300", "logreg")


@cache
def cpu_flags() -> frozenset[str]:
    """The flags of the first CPU in ``/proc/cpuinfo`` (empty where there is no such file)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_feature_summary() -> dict[str, bool]:
    """Which vector and matrix extensions this CPU exposes (for the provenance and the benchmark)."""
    flags = cpu_flags()
    return {"avx2": "avx2" in flags, "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "amx_bf16": "amx_bf16" in flags, "amx_tile": "amx_tile" in flags}


def _device(device: str | torch.device | None) -> torch.device:
    import torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def native_bf16(device: str | torch.device | None = None) -> bool:
    """Whether ``device`` computes bf16 natively: a CUDA device for which ``torch.cuda.is_bf16_supported()``
    holds, or a CPU whose flags include ``amx_bf16`` or ``avx512_bf16``. Detected, never assumed."""
    import torch

    dev = _device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if dev.type == "cpu":
        return any(flag in cpu_flags() for flag in NATIVE_BF16_CPU_FLAGS)
    return False


def resolve_precision(precision: str, device: str | torch.device | None = None) -> str:
    """``fp32`` or ``bf16``: ``auto`` becomes ``bf16`` exactly where :func:`native_bf16` holds."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def auto_channels_last(model: str) -> bool:
    """Whether ``auto`` uses the channels_last memory format for ``model`` (every convolutional network)."""
    return model not in FULLY_CONNECTED_MODELS


def memory_format_name(channels_last: bool) -> str:
    return "channels_last" if channels_last else "contiguous"


def autocast_context(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` (CPU or CUDA) when ``bf16``; a no-op otherwise."""
    if bf16 and device.type in ("cpu", "cuda"):
        import torch

        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
