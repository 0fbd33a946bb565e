"""Seconds per training step of Algorithm 1, fp32 against channels_last against bf16, in one process run.

For ResNet-20, VGG-11 and WRN-20 on ``cifar10-subset`` images (32x32, batch 128), each step as Algorithm 1
trains it: relaxed mask on every prunable weight (θ ⊙ a ⊙ m recomputed at every forward), log penalty
(ε = 0.1) with its in-place gradient, SGD with momentum 0.9 and weight decay 1e-4, projection onto [0, 1]
after the step. The step goes through the library's own path: the preset's :class:`RunConfig` with
``precision`` and ``channels_last`` set, :func:`concave_lottery.runs.lottery.train_settings` and
:func:`concave_lottery.runs.training.train`; a step's time is the time between two ``on_step`` hooks (batch
gather and augmentation, forward, backward, penalty gradient, optimizer step, projection), the median over
``--steps`` steps (``--big-steps`` for VGG-11 and WRN-20) after two warm-up steps. The variants of one model
are measured in turn, ``--repeats`` times over, and the best median is kept, so that load from other
processes (this machine is shared) falls on every variant alike.

Variants: fp32 contiguous (how every recorded run trained), fp32 channels_last, bf16 autocast + channels_last,
and what ``precision=auto`` resolves to on this hardware. Where bf16 is emulated (no AMX, no AVX512-BF16) it
is many times slower, and is measured for ResNet-20 only unless ``--all-bf16``. Wall-clock and CPU seconds
(of this process, all its threads) are printed: on a shared machine the CPU seconds of a one-thread run are
the steadier figure. The header names the CPU, its flags (AVX2, AVX-512, AVX512-BF16, AMX) and says whether
bf16 is native here or emulated.

``--overheads`` adds, for ResNet-20 in fp32 contiguous, the cost of the mask and the penalty: the plain
network (no mask, no penalty), the binary mask (ticket training), and the relaxed mask without the penalty.
``--compile`` adds ResNet-20 (in fp32; ``--compile-precisions fp32,bf16`` adds bf16 autocast where it is
native) under ``torch.compile`` (mode default, inductor) against the same step
in eager mode, for both phases a long run trains: the search (relaxed mask, log penalty, projection) and the
ticket (binary mask, as every IMP level trains). For each it prints the steady step, the compile's cost in
wall seconds (first in this process, then again after ``torch._dynamo.reset()``, as a later phase of the
same run meets it, with inductor's on-disk cache warm) and the number of steps after which the compile has
paid for itself, beside the steps of one paper-protocol phase (85 epochs of ``cifar10-subset``).
``--compile-formats`` picks the memory formats (default ``channels_last``, what ``precision=auto`` and the
converged campaign use).

Run: ``nice python benchmarks/step_speed.py --threads 1,2`` (``make bench`` runs it with its defaults).
It prints; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import os
import platform
import time
from datetime import UTC, datetime

import numpy as np
import torch

from concave_lottery.data import load_dataset
from concave_lottery.data.batches import num_batches
from concave_lottery.method import masks as masklib
from concave_lottery.models import get_model
from concave_lottery.runs import precision as precisionlib
from concave_lottery.runs.config import resolve_config
from concave_lottery.runs.lottery import build_method, train_settings
from concave_lottery.runs.results import device_name
from concave_lottery.runs.training import Hooks, train

MODELS = {"resnet20": "ResNet-20", "vgg11": "VGG-11", "wrn20": "WRN-20"}
VARIANTS = {  # name: (precision, channels_last)
    "fp32 contiguous": ("fp32", False),
    "fp32 channels_last": ("fp32", True),
    "bf16 + channels_last": ("bf16", True),
}
WARMUP = 2


def step_seconds(model_name: str, data, precision: str, channels_last: bool, steps: int, *, mask: str = "relaxed",
                 penalty: bool = True, compile: bool = False) -> tuple[float, float, float]:
    """Algorithm 1's search phase: (median wall seconds per step after the warm-up, median CPU seconds of this
    process per step, wall seconds of the first step)."""
    config = resolve_config(f"{model_name}-cifar10-subset", {
        "method": "soft", "regularizer": "log", "precision": precision, "channels_last": channels_last,
        "compile": compile}, device="cpu")
    settings = dataclasses.replace(train_settings(config, search=True), epochs=1)
    torch.manual_seed(0)
    model = get_model(model_name, num_classes=data.num_classes, in_channels=data.in_channels,
                      image_size=data.image_size)
    hooks = Hooks()
    if mask != "none":
        masklib.attach_masks(model, mask)
    if mask == "relaxed":
        method = build_method(config)
        if penalty:
            hooks.penalty = method.penalty(model)
            hooks.penalty_grad = method.penalty_grad(model)
        hooks.after_step = lambda: masklib.project_masks_(model)
    stamps: list[tuple[float, float]] = []
    hooks.before_epoch = lambda _e: stamps.append((time.perf_counter(), time.process_time()))
    hooks.on_step = lambda _k: stamps.append((time.perf_counter(), time.process_time()))
    train(model, data, settings, seed=0, hooks=hooks, progress=False)
    wall, cpu = np.diff(np.array(stamps), axis=0).T
    return float(np.median(wall[WARMUP:])), float(np.median(cpu[WARMUP:])), float(wall[0])


PAPER_PHASE_EPOCHS = 85  # Sec. V-D: ResNet-20 is trained 85 epochs per phase


def compile_cost(model_name: str, data, precision: str, channels_last: bool, steps: int, repeats: int,
                 **kw) -> dict[str, float]:
    """Eager against compiled, one phase kind. The first compiled run is the cold compile; then ``repeats``
    times, in turn, an eager run and a compiled one after ``torch._dynamo.reset()`` (warm: inductor's on-disk
    cache holds the kernels, as a run's later phases meet them). Steady steps are the medians over all runs of
    each kind (wall and CPU seconds); ``spread`` is the range of the eager runs' CPU medians (how much the
    load of other processes moves one measurement). Compile costs are extra wall seconds of a whole run."""
    def whole(compile: bool) -> tuple[float, float, float]:
        if compile:
            torch._dynamo.reset()
        started = time.perf_counter()
        wall, cpu, _first = step_seconds(model_name, data, precision, channels_last, steps, compile=compile, **kw)
        return wall, cpu, time.perf_counter() - started

    cold = whole(True)
    eager, warm = [], []
    for _ in range(max(repeats, 1)):
        eager.append(whole(False))
        warm.append(whole(True))
    med = lambda runs, i: float(np.median([r[i] for r in runs]))  # noqa: E731
    compiled = [cold, *warm]
    e_wall, e_cpu, e_total = med(eager, 0), med(eager, 1), med(eager, 2)
    c_wall, c_cpu = med(compiled, 0), med(compiled, 1)
    saved = e_wall - c_wall
    n = WARMUP + steps
    # A run's extra wall time from compiling: the whole compiled run against the whole eager run, with the
    # steady steps' difference added back (they are what the compile buys).
    cold_cost = cold[2] - e_total + n * saved
    warm_cost = med(warm, 2) - e_total + n * saved
    cpus = [r[1] for r in eager]
    return {"eager_wall": e_wall, "eager_cpu": e_cpu, "wall": c_wall, "cpu": c_cpu, "cold": cold_cost,
            "warm": warm_cost, "spread": max(cpus) - min(cpus),
            "pays_after": cold_cost / saved if saved > 0 else float("inf")}


def compile_table(data, threads: list[int], steps: int, repeats: int, formats: str, precisions: list[str],
                  steps_per_epoch: int) -> None:
    chosen = [f.strip() for f in formats.split(",") if f.strip()]
    phase_steps = PAPER_PHASE_EPOCHS * steps_per_epoch
    print(f"\nResNet-20, {' and '.join(precisions)}, torch.compile (mode default, inductor) against eager, the "
          f"same precision and memory format; median wall seconds per step (CPU seconds of this process) over "
          f"{repeats} eager and {repeats + 1} compiled runs taken in turn; eager spread: the range of the eager "
          f"runs' CPU medians (the noise of one measurement); the compile's extra wall seconds, cold (first in "
          f"this process) and warm (after torch._dynamo.reset(), inductor's on-disk cache warm, as a run's later "
          f"phases meet it); one paper-protocol phase on cifar10-subset is {phase_steps:,} steps "
          f"({PAPER_PHASE_EPOCHS} epochs)")
    phases = {"search (relaxed mask, log penalty)": dict(mask="relaxed", penalty=True),
              "ticket (binary mask, IMP levels)": dict(mask="binary", penalty=False)}
    for t in threads:
        torch.set_num_threads(t)
        for precision, fmt, (phase, kw) in itertools.product(precisions, chosen, phases.items()):
            label = f"  {t} thread(s)  {precision} {fmt:<13} {phase:<35}"
            try:
                r = compile_cost("resnet20", data, precision, fmt == "channels_last", steps, repeats, **kw)
            except Exception as exc:  # report, do not hide: compile may not work on every machine
                print(f"{label} torch.compile failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                continue
            if abs(r["eager_cpu"] - r["cpu"]) <= r["spread"]:
                pays = "within the noise: no gain shown"
            elif math.isfinite(r["pays_after"]):
                pays = f"pays after {r['pays_after']:,.0f} steps"
            else:
                pays = "never pays"
            print(f"{label} eager {r['eager_wall']:6.3f} s ({r['eager_cpu']:6.3f})   compiled {r['wall']:6.3f} s "
                  f"({r['cpu']:6.3f}, {r['eager_cpu'] / r['cpu']:4.2f}x CPU)   eager spread {r['spread']:5.3f} s   "
                  f"compile cold {r['cold']:6.1f} s, warm {r['warm']:6.1f} s   {pays}", flush=True)


def cpu_header(threads: list[int]) -> list[str]:
    flags = precisionlib.cpu_feature_summary()
    shown = ", ".join(f"{name} {'yes' if on else 'no'}" for name, on in flags.items())
    native = precisionlib.native_bf16("cpu")
    auto = {m: resolve_config(f"{m}-cifar10-subset", {"precision": "auto"}, device="cpu") for m in MODELS}
    auto_text = "; ".join(f"{MODELS[m]}: {c.precision} {precisionlib.memory_format_name(c.channels_last)}"
                          for m, c in auto.items())
    cpu = device_name(torch.device("cpu")).split(" (")[0]
    return [
        f"date: {datetime.now(UTC).isoformat(timespec='minutes')}",
        f"CPU: {cpu}, {os.cpu_count()} logical cores; torch threads measured: {', '.join(map(str, threads))}",
        f"flags: {shown}; torch cpu capability {torch.backends.cpu.get_cpu_capability()}",
        "bf16: native on this CPU" if native else "bf16: not native on this CPU (emulated)",
        f"precision=auto here: {auto_text}",
        f"torch {torch.__version__}; python {platform.python_version()}; "
        f"load average at start {os.getloadavg()[0]:.1f} (other processes share these cores)",
    ]


def measure(model_name: str, data, steps: int, repeats: int, variants: dict[str, tuple[str, bool]]) -> dict:
    """{variant: (best wall seconds, best CPU seconds)} per step."""
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeats):
        for name, (precision, channels_last) in variants.items():
            wall, cpu, _first = step_seconds(model_name, data, precision, channels_last, steps)
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], wall), min(old[1], cpu))
    return best


def cells(best: dict[str, tuple[float, float]], names: list[str], which: int) -> str:
    base = best["fp32 contiguous"][which]
    return "  ".join((f"{best[n][which]:8.3f} s ({base / best[n][which]:4.2f}x)" if n in best
                      else "not measured").rjust(22) for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default=str(torch.get_num_threads()),
                        help="comma-separated torch thread counts to measure (default: torch's)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: resnet20,vgg11,wrn20")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per measurement (after 2 warm-up)")
    parser.add_argument("--big-steps", type=int, default=3, help="timed steps for VGG-11 and WRN-20 (slower)")
    parser.add_argument("--repeats", type=int, default=2, help="measurements per variant; the best is kept")
    parser.add_argument("--overheads", action="store_true", help="also: ResNet-20 without mask / penalty")
    parser.add_argument("--compile", action="store_true",
                        help="also: ResNet-20 under torch.compile, its compile cost and when it pays back")
    parser.add_argument("--compile-formats", default="channels_last",
                        help="memory formats for --compile, comma-separated: contiguous,channels_last")
    parser.add_argument("--compile-precisions", default="fp32",
                        help="precisions for --compile, comma-separated: fp32,bf16 (bf16: only where native, "
                             "unless --all-bf16)")
    parser.add_argument("--all-bf16", action="store_true",
                        help="measure bf16 for every model even where it is emulated (slow)")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    models = [m.strip() for m in args.models.split(",") if m.strip()]  # --models "": the extras only
    for m in models:
        if m not in MODELS:
            parser.error(f"--models: {m!r} is not one of {', '.join(MODELS)}")
    for f in (f.strip() for f in args.compile_formats.split(",")):
        if f not in ("contiguous", "channels_last"):
            parser.error(f"--compile-formats: {f!r} is not one of contiguous, channels_last (comma-separated)")
    compile_precisions = [p.strip() for p in args.compile_precisions.split(",") if p.strip()]
    for p in compile_precisions:
        if p not in ("fp32", "bf16"):
            parser.error(f"--compile-precisions: {p!r} is not one of fp32, bf16 (comma-separated)")

    for line in cpu_header(threads):
        print(line)
    native = precisionlib.native_bf16("cpu")
    full = load_dataset("cifar10-subset", device="cpu", progress=False)
    data = full.subset((WARMUP + args.steps) * 128, 128, seed=0)
    print(f"\nseconds per training step of Algorithm 1 (relaxed mask, log penalty, projection), batch 128, "
          f"cifar10-subset; median of {args.steps} steps (VGG-11, WRN-20: {min(args.steps, args.big_steps)}) after "
          f"{WARMUP} warm-up steps, best of {args.repeats}; "
          "ratio = fp32 contiguous / variant (> 1: faster)")
    if not native and not args.all_bf16:
        print("(bf16 is emulated here and many times slower: measured for ResNet-20 only; --all-bf16 for all)")
    names = list(VARIANTS)
    head = f"{'model':<10} {'threads':>7}  " + "  ".join(f"{n:>22}" for n in names) + "  auto is"
    rows: list[tuple[str, int, dict]] = []
    for model_name in models:
        auto = resolve_config(f"{model_name}-cifar10-subset", {"precision": "auto"}, device="cpu")
        auto_name = next(n for n, v in VARIANTS.items() if v == (auto.precision, auto.channels_last))
        variants = dict(VARIANTS)
        if not native and not args.all_bf16 and model_name != "resnet20":
            variants.pop("bf16 + channels_last")
        for t in threads:
            torch.set_num_threads(t)
            steps = args.steps if model_name == "resnet20" else min(args.steps, args.big_steps)
            rows.append((model_name, t, measure(model_name, data, steps, args.repeats, variants), auto_name))
            print(f"  measured {MODELS[model_name]}, {t} thread(s)", flush=True)
    tables = [("wall-clock seconds per step", 0),
              ("CPU seconds of this process per step (all its threads; less sensitive to the load of other "
               "processes)", 1)] if rows else []
    for title, which in tables:
        print(f"\n{title}\n{head}")
        for model_name, t, best, auto_name in rows:
            print(f"{MODELS[model_name]:<10} {t:>7}  {cells(best, names, which)}  {auto_name}")

    if args.overheads:
        print("\nResNet-20, fp32 contiguous: what the mask and the penalty cost (wall / CPU seconds per step)")
        for t in threads:
            torch.set_num_threads(t)
            kinds = {"plain network (no mask)": dict(mask="none", penalty=False),
                     "binary mask (ticket training)": dict(mask="binary", penalty=False),
                     "relaxed mask + projection, no penalty": dict(mask="relaxed", penalty=False),
                     "relaxed mask + log penalty + projection": dict(mask="relaxed", penalty=True)}
            best: dict[str, tuple[float, float]] = {}
            for _ in range(args.repeats):
                for name, kw in kinds.items():
                    wall, cpu, _ = step_seconds("resnet20", data, "fp32", False, args.steps, **kw)
                    old = best.get(name, (float("inf"), float("inf")))
                    best[name] = (min(old[0], wall), min(old[1], cpu))
            plain = best["plain network (no mask)"]
            for name in kinds:
                print(f"  {t} thread(s)  {name:<42} {best[name][0]:7.3f} s / {best[name][1]:7.3f} s  "
                      f"({best[name][1] / plain[1]:4.2f}x the plain network's CPU time)")

    if args.compile:
        if "bf16" in compile_precisions and not native and not args.all_bf16:
            print("\n(--compile-precisions bf16 left out: bf16 is emulated here; --all-bf16 to measure it anyway)")
            compile_precisions = [p for p in compile_precisions if p != "bf16"]
        if compile_precisions:
            compile_table(data, threads, args.steps, args.repeats, args.compile_formats, compile_precisions,
                          num_batches(full, 128, train=True))


if __name__ == "__main__":
    main()
