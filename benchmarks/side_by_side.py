"""Seconds per ResNet-20 training step with several one-thread runs side by side, as a CPU campaign trains.

``lottery sweep SPEC --workers N --threads 1`` trains N runs at once, one thread each. A step measured
alone (``step_speed.py``) may not be what a run gets with its neighbours busy: they share caches, memory
bandwidth and, on SMT machines, the physical core. This script starts ``--copies`` processes at the same
time, each timing the same step in one thread (:func:`step_speed.step_seconds`: the library's own
``train()``, batch 128, ``cifar10-subset``), for each variant and phase in turn, ``--repeats`` times over,
and prints each process's median CPU seconds per step.

Variants: eager channels_last (what ``precision=auto`` and the converged campaign use), compiled
channels_last and compiled contiguous (``torch.compile``, mode default, inductor). Phases: the search
(relaxed mask, log penalty, projection) and the ticket (binary mask, what every IMP level trains).
The ratio column is eager channels_last's median / the variant's (> 1: faster), over all processes and
repeats of one phase.

Run it on an otherwise idle machine: ``python benchmarks/side_by_side.py --copies 2``. It prints; it asserts
nothing about time. (``--worker`` is the internal entry point of one process.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

VARIANTS = {  # name: (channels_last, compile)
    "eager channels_last": (True, False),
    "compiled channels_last": (True, True),
    "compiled contiguous": (False, True),
}
PHASES = {"search": "relaxed", "ticket": "binary"}


def worker(variant: str, phase: str, steps: int) -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    import step_speed

    from concave_lottery.data import load_dataset

    torch.set_num_threads(1)
    channels_last, compile = VARIANTS[variant]
    mask = PHASES[phase]
    full = load_dataset("cifar10-subset", device="cpu", progress=False)
    data = full.subset((step_speed.WARMUP + steps) * 128, 128, seed=0)
    _wall, cpu, _first = step_speed.step_seconds("resnet20", data, "fp32", channels_last, steps, mask=mask,
                                                 penalty=mask == "relaxed", compile=compile)
    print(f"{cpu:.6f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=os.cpu_count() or 1, help="processes side by side")
    parser.add_argument("--steps", type=int, default=24, help="timed steps per process (after 2 warm-up)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds over all variants and phases")
    parser.add_argument("--worker", nargs=2, metavar=("VARIANT", "PHASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.steps)
        return
    for name, value in (("--copies", args.copies), ("--steps", args.steps), ("--repeats", args.repeats)):
        if value < 1:
            parser.error(f"{name} is {value}; it must be at least 1")

    sys.path.insert(0, str(Path(__file__).parent))
    import step_speed

    for line in step_speed.cpu_header([1]):
        print(line)
    print(f"\nResNet-20, fp32, {args.copies} one-thread processes side by side; median CPU seconds per step of "
          f"each process ({args.steps} steps after {step_speed.WARMUP} warm-up), {args.repeats} rounds over the "
          "variants in turn; ratio = eager channels_last / variant over all processes and rounds (> 1: faster)")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    seconds: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for phase in PHASES:
            for variant in VARIANTS:
                procs = [subprocess.Popen([sys.executable, __file__, "--steps", str(args.steps), "--worker",
                                           variant, phase], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          text=True, env=env) for _ in range(args.copies)]
                for proc in procs:
                    out, _ = proc.communicate()
                    if proc.returncode != 0:
                        raise SystemExit(f"a measuring process of {variant} ({phase}) failed "
                                         f"(exit {proc.returncode}); run it alone to see why: {sys.executable} "
                                         f"{__file__} --worker '{variant}' {phase}")
                    seconds.setdefault((phase, variant), []).append(float(out.split()[-1]))
    for phase in PHASES:
        base = float(np.median(seconds[(phase, "eager channels_last")]))
        for variant in VARIANTS:
            got = seconds[(phase, variant)]
            med = float(np.median(got))
            print(f"  {phase:<7} {variant:<23} median {med:6.3f} s  range {min(got):6.3f}-{max(got):6.3f} s  "
                  f"({base / med:4.2f}x)")


if __name__ == "__main__":
    main()
