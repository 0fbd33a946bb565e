"""``make gpu-check``: what a user with a GPU runs first, and pastes into an issue.

On a CUDA machine, in a few minutes, it

1. runs the CUDA tests (``pytest -m cuda``: the tests that skip on a machine without CUDA);
2. trains ResNet-20 for one epoch of Algorithm 1's search (relaxed mask, log penalty, projection after
   every step) through the library's own path (:func:`concave_lottery.runs.config.resolve_config`,
   :func:`concave_lottery.runs.lottery.train_settings`, :func:`concave_lottery.runs.training.train`) on full
   CIFAR-10 when it is in the data root or the mirror (else ``cifar10-subset``), with ``precision=fp32``,
   ``precision=bf16`` and ``precision=auto``, and prints the median step time and samples per second;
3. checks the mask's invariant on the device: after optimizer steps with momentum and weight decay (on θ and
   on the mask), in fp32 and under bf16 autocast, every pruned weight's effective value θ ⊙ a ⊙ m is exactly
   0, ``a`` is unchanged, and the surviving weights did train (:mod:`concave_lottery.method.masks`);
4. prints a summary (hardware, torch / CUDA / cuDNN versions, the results) and, with ``--json PATH``, writes it
   as JSON.

Without CUDA it runs the same steps as a **CPU fallback**, clearly labelled, cut to a few steps on a few
images (``--cpu-steps``, ``--cpu-batch``): it checks that the path works, and its times say nothing about a
GPU. It asserts nothing about time; it exits 1 when a test or a check fails, 0 otherwise.

Run: ``make gpu-check`` or ``python -m concave_lottery.runs.gpu_check [--json PATH]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

#: Steps of each timed epoch before the median is taken (compilation of kernels, cuDNN autotuning).
WARMUP_STEPS = 2
#: Optimizer steps of the mask-invariant check.
INVARIANT_STEPS = 5
CPU_FALLBACK = "no CUDA: CPU fallback"
#: The ``precision`` settings timed: fp32, bf16, and what ``auto`` resolves to here (bf16 + channels_last on a
#: GPU with bf16, see :mod:`concave_lottery.runs.precision`).
PRECISIONS = ("fp32", "bf16", "auto")


def environment(device: torch.device) -> dict[str, Any]:
    """Hardware and versions, for the summary."""
    from .precision import native_bf16
    from .results import cpu_model_name, git_commit

    env: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": str(device), "cpu": cpu_model_name(), "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(), "platform": platform.platform(), "commit": git_commit(),
        "bf16_native": native_bf16(device),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, gpu_count=torch.cuda.device_count(),
                   gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   compute_capability=f"{props.major}.{props.minor}")
    return env


def pytest_counts(summary: str) -> dict[str, int]:
    """``{"passed": 3, "skipped": 1, ...}`` from pytest's last line (``4 skipped, 636 deselected in 11.2s``)."""
    counts: dict[str, int] = {}
    for part in summary.strip("= ").split(","):
        bits = part.split()
        if len(bits) >= 2 and bits[0].isdigit():
            word = {"errors": "error", "warnings": "warning"}.get(bits[1], bits[1])
            counts[word] = int(bits[0])
    return counts


def run_cuda_tests(repo: Path, timeout: float, *, cuda: bool) -> dict[str, Any]:
    """``pytest -m cuda`` in ``repo``: the CUDA tests. On a CUDA machine they must run and pass (a skip there
    means torch does not see the device); without CUDA they skip, which is what the fallback reports."""
    tests = repo / "tests"
    if not tests.is_dir():
        return {"status": "not run", "detail": f"no tests/ folder in {repo}"}
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-rs", "-p", "no:cacheprovider", str(tests)]
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "FAILED", "detail": f"pytest -m cuda ran past {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else (proc.stderr.strip().splitlines() or [""])[-1]
    counts = pytest_counts(summary)
    if proc.returncode != 0:
        status = "FAILED"
    elif cuda:
        status = "ok" if counts.get("passed", 0) > 0 and not counts.get("skipped") else "FAILED (skipped on CUDA)"
    else:
        status = "skipped (no CUDA)"
    return {"status": status, "returncode": proc.returncode, "summary": summary, "counts": counts,
            "seconds": round(time.perf_counter() - started, 1),
            "output_tail": "\n".join(lines[-15:]) if status.startswith("FAILED") else ""}


def choose_dataset(requested: str) -> str:
    """``cifar10`` when it is available locally (data root or mirror), else ``cifar10-subset``."""
    if requested != "auto":
        return requested
    from ..data.registry import dataset_status

    return "cifar10" if dataset_status("cifar10").available else "cifar10-subset"


def timed_epoch(data, precision: str, device: torch.device, *, batch_size: int | None = None,
                max_steps: int | None = None) -> dict[str, Any]:
    """One epoch of Algorithm 1's search on ResNet-20 (``data`` already on ``device``): median seconds per
    step after :data:`WARMUP_STEPS` steps, samples per second, and the epoch's training seconds."""
    from ..method import masks as masklib
    from ..models import get_model
    from .config import resolve_config
    from .lottery import build_method, train_settings
    from .training import Hooks, train

    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return {"requested": precision, "status": "skipped", "detail": "this GPU does not support bf16"}
    config = resolve_config(f"resnet20-{data.name}",
                            {"method": "soft", "regularizer": "log", "precision": precision}, device=device)
    settings = dataclasses.replace(train_settings(config, search=True), epochs=1,
                                   batch_size=batch_size or config.batch_size)
    if max_steps is not None:
        data = data.subset(max_steps * settings.batch_size, settings.batch_size, seed=0)
    torch.manual_seed(0)
    model = get_model("resnet20", num_classes=data.num_classes, in_channels=data.in_channels,
                      image_size=data.image_size).to(device)
    masklib.attach_masks(model, "relaxed")
    method = build_method(config)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    stamps: list[float] = []

    def stamp(_k: int) -> None:
        sync()
        stamps.append(time.perf_counter())

    hooks = Hooks(penalty=method.penalty(model), penalty_grad=method.penalty_grad(model),
                  after_step=lambda: masklib.project_masks_(model), before_epoch=stamp, on_step=stamp)
    result = train(model, data, settings, seed=0, hooks=hooks, progress=False)
    steps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    timed = steps[WARMUP_STEPS:] or steps
    step = statistics.median(timed)
    n = int(data.train_images.shape[0])
    train_s = stamps[-1] - stamps[0]
    return {"precision": config.precision, "requested": precision,
            "memory_format": "channels_last" if settings.channels_last else "contiguous", "status": "ok",
            "dataset": data.name, "train_images": n, "batch_size": settings.batch_size,
            "steps": len(steps), "median_step_s": round(step, 5),
            "samples_per_s": round(settings.batch_size / step, 1),
            "epoch_train_s": round(train_s, 3), "epoch_samples_per_s": round(n / train_s, 1),
            "test_accuracy": round(result.final_test_accuracy, 4)}


def mask_invariants(data, device: torch.device, *, bf16: bool, kind: str = "relaxed",
                    batch_size: int = 32, steps: int = INVARIANT_STEPS) -> dict[str, Any]:
    """Prune half of ResNet-20's prunable weights (by |θ|), train ``steps`` optimizer steps with momentum
    0.9 and weight decay on θ (5e-4) and on the mask (1e-3), and check on ``device`` that every pruned
    effective weight is exactly 0, that ``alive`` did not change, and that the surviving weights moved."""
    from ..method import masks as masklib
    from ..models import get_model
    from .training import Hooks, TrainSettings, train

    torch.manual_seed(0)
    model = get_model("resnet20", num_classes=data.num_classes, in_channels=data.in_channels,
                      image_size=data.image_size).to(device)
    masks = masklib.attach_masks(model, kind)
    scores = {name: mask_module_theta(model, name).abs() for name in masks}
    removed = masklib.prune_by_fraction_(model, scores, 0.5)
    alive_before = {n: m.alive.clone() for n, m in masks.items()}
    weights_before = {n: w.detach().clone() for n, w in effective_weights(model).items()}
    small = data.subset(steps * batch_size, batch_size, seed=1)
    settings = TrainSettings(epochs=1, batch_size=batch_size, lr=0.1, momentum=0.9, weight_decay=5e-4,
                             mask_lr_scale=100.0, mask_weight_decay=1e-3, bf16=bf16, channels_last=True)
    train(model, small, settings, seed=0, hooks=Hooks(after_step=lambda: masklib.project_masks_(model)),
          progress=False)
    weights = effective_weights(model)
    nonzero_pruned = sum(int(torch.count_nonzero(weights[n][~alive_before[n].bool()])) for n in masks)
    alive_changed = sum(int((m.alive != alive_before[n]).sum()) for n, m in masks.items())
    moved = sum(int((weights[n] != weights_before[n])[alive_before[n].bool()].sum()) for n in masks)
    ok = nonzero_pruned == 0 and alive_changed == 0 and moved > 0
    return {"mask": kind, "precision": "bf16" if bf16 else "fp32", "status": "ok" if ok else "FAILED",
            "pruned": removed, "nonzero_pruned_after_steps": nonzero_pruned, "alive_changed": alive_changed,
            "surviving_weights_moved": moved, "steps": steps,
            "device": str(next(iter(weights.values())).device)}


def mask_module_theta(model: torch.nn.Module, name: str) -> torch.Tensor:
    """θ (the raw, unmasked weight) of the prunable weight ``name`` (``"layer1.0.conv1.weight"``)."""
    module = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    return module.parametrizations.weight.original.detach()


def effective_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """θ ⊙ a ⊙ m of every masked weight, as the forward pass sees it (detached)."""
    from ..method import masks as masklib

    with torch.no_grad():
        out = {}
        for name in masklib.get_masks(model):
            module = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            out[name] = module.weight.detach().clone()
        return out


def summary_text(report: dict[str, Any]) -> str:
    """The block a user pastes into an issue."""
    env = report["environment"]
    lines = [f"concave_lottery gpu-check ({report['mode']})", f"date: {env['date']}; commit {env['commit']}"]
    if "gpu" in env:
        lines.append(f"GPU: {env['gpu']} x{env['gpu_count']}, {env['gpu_memory_gib']} GiB, compute capability "
                     f"{env['compute_capability']}, bf16 native: {env['bf16_native']}")
    lines.append(f"CPU: {env['cpu']} ({env['cpu_count']} logical cores)")
    lines.append(f"torch {env['torch']}, CUDA {env['torch_cuda']}, cuDNN {env['cudnn']}, python {env['python']}, "
                 f"{env['platform']}")
    tests = report["cuda_tests"]
    lines.append(f"CUDA tests (pytest -m cuda): {tests['status']}"
                 + (f" — {tests['summary']}" if tests.get("summary") else f" — {tests.get('detail', '')}"))
    for epoch in report["epochs"]:
        if epoch["status"] != "ok":
            lines.append(f"ResNet-20 epoch, precision={epoch['requested']}: {epoch['status']} "
                         f"({epoch.get('detail', '')})")
            continue
        lines.append(f"ResNet-20 epoch, precision={epoch['requested']} ({epoch['precision']} "
                     f"{epoch['memory_format']}): {epoch['dataset']} {epoch['train_images']} images, "
                     f"batch {epoch['batch_size']}, {epoch['steps']} steps: "
                     f"{epoch['median_step_s'] * 1000:.1f} ms/step (median), {epoch['samples_per_s']:,.0f} samples/s; "
                     f"epoch {epoch['epoch_train_s']:.1f} s ({epoch['epoch_samples_per_s']:,.0f} samples/s)")
    for check in report["mask_invariants"]:
        lines.append(f"mask invariant ({check['mask']}, {check['precision']}, on {check['device']}): {check['status']}"
                     f" — {check['pruned']} pruned, {check['nonzero_pruned_after_steps']} nonzero after "
                     f"{check['steps']} steps with momentum + weight decay, {check['surviving_weights_moved']} "
                     "surviving weights moved")
    lines.append(f"overall: {'ok' if report['ok'] else 'FAILED'}; {report['seconds']:.0f} s")
    return "\n".join(lines)


def run_check(*, device: torch.device, dataset: str = "auto", run_tests: bool = True, repo: Path | None = None,
              tests_timeout: float = 180.0, cpu_steps: int = 3, cpu_batch: int = 16) -> dict[str, Any]:
    """The whole check on ``device`` (CUDA: full epochs; CPU: the fallback); returns the report."""
    from ..data import load_dataset

    started = time.perf_counter()
    cuda = device.type == "cuda"
    repo = repo or Path(__file__).resolve().parents[3]
    report: dict[str, Any] = {"mode": "CUDA" if cuda else CPU_FALLBACK, "environment": environment(device)}
    report["cuda_tests"] = (run_cuda_tests(repo, tests_timeout, cuda=cuda) if run_tests
                            else {"status": "not run", "detail": "--no-tests"})
    name = choose_dataset(dataset)
    data = load_dataset(name, device="cpu", progress=False)
    if not cuda:
        data = data.subset(max(cpu_steps, INVARIANT_STEPS) * cpu_batch, cpu_batch, seed=0)
    data = data.to(device)
    report["epochs"] = [timed_epoch(data, p, device, batch_size=None if cuda else cpu_batch,
                                    max_steps=None if cuda else cpu_steps) for p in PRECISIONS]
    report["mask_invariants"] = [mask_invariants(data, device, bf16=bf16, kind=kind,
                                                 batch_size=32 if cuda else min(cpu_batch, 8),
                                                 steps=INVARIANT_STEPS if cuda else max(2, cpu_steps))
                                 for kind in ("relaxed", "binary") for bf16 in (False, True)]
    failed = (report["cuda_tests"]["status"].startswith("FAILED")
              or any(e["status"] not in ("ok", "skipped") for e in report["epochs"])
              or any(c["status"] != "ok" for c in report["mask_invariants"]))
    report["ok"] = not failed
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    from ..errors import ParameterError, UserError

    parser = argparse.ArgumentParser(prog="gpu-check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON to this path")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cuda or cpu")
    parser.add_argument("--dataset", default="auto", choices=["auto", "cifar10", "cifar10-subset"],
                        help="auto: full CIFAR-10 when available locally, else cifar10-subset")
    parser.add_argument("--no-tests", action="store_true", help="skip pytest -m cuda")
    parser.add_argument("--cpu-steps", type=int, default=3, help="CPU fallback: steps of the timed epoch")
    parser.add_argument("--cpu-batch", type=int, default=16, help="CPU fallback: batch size")
    args = parser.parse_args(argv)
    try:
        if args.device not in ("auto", "cuda", "cpu"):
            raise ParameterError("--device", args.device, "--device must be auto, cuda or cpu")
        if args.device == "cuda" and not torch.cuda.is_available():
            raise ParameterError("--device", "cuda", "no CUDA device is visible to torch here "
                                 f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
                                 "use --device auto for the CPU fallback")
        for flag, value in (("--cpu-steps", args.cpu_steps), ("--cpu-batch", args.cpu_batch)):
            if value < 1:
                raise ParameterError(flag, value, f"{flag} must be an integer >= 1")
        device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                              else "cpu")
        if device.type == "cpu":
            print(f"{CPU_FALLBACK}: a few steps on a few images, to check the path; the times say nothing "
                  "about a GPU", flush=True)
        report = run_check(device=device, dataset=args.dataset, run_tests=not args.no_tests,
                           cpu_steps=args.cpu_steps, cpu_batch=args.cpu_batch)
        text = summary_text(report)
        print("\nPaste this into an issue:\n```text\n" + text + "\n```")
        if args.json is not None:
            try:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps({**report, "summary": text}, indent=2) + "\n")
            except OSError as exc:
                raise UserError(f"--json {args.json}: cannot write the report there ({exc.strerror}); "
                                "choose a writable path") from exc
            print(f"report written to {args.json}")
    except UserError as exc:
        print(f"gpu-check: {exc}", file=sys.stderr)
        return 2
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
