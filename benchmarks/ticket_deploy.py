"""Deploying a ticket: bytes on disk and CPU inference latency of recorded tickets in every export format.

For the LeNet-300-100 and ResNet-20 tickets with saved weights (recorded runs, at their recorded sparsities):
bytes on disk (dense, masked = torch-prune, sparse = safetensors CSR, compact) and the median latency of a
forward pass at batch 1 and 128 (dense, masked, torch.sparse matmul where the network is mostly Linear,
compact), on one torch thread, with the hardware. Writes the record the book's "Deploying a ticket" chapter
replays (concave_lottery.export.benchmark). It prints; it never asserts a time.

    python benchmarks/ticket_deploy.py [--out results/deploy/ticket_deploy.json] [--threads 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from concave_lottery.export.benchmark import deploy_table, hardware_line, run_benchmark

ROOT = Path(__file__).resolve().parents[1]
RUNS = [ROOT / "results" / "lenet300-mnist" / "soft-log-lam4e-06-seed0-9804b481",
        ROOT / "results" / "resnet20-cifar10-subset" / "soft-l1-lam5.72e-05-seed0-9f85104f"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "deploy" / "ticket_deploy.json"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, nargs=2, default=(200, 20), metavar=("BATCH1", "BATCH128"),
                        help="forward passes timed at batch 1 and at batch 128")
    args = parser.parse_args()
    record = run_benchmark(RUNS, args.out, threads=args.threads, repeats={1: args.repeats[0], 128: args.repeats[1]})
    print(hardware_line(record))
    print(deploy_table(record).to_string())
    for t in record["tickets"]:
        print(f"{t['run']}: compact keeps {t['parameters']['compact']:,} of {t['parameters']['dense']:,} parameters "
              f"(max |compact - dense| on random inputs {t['compact_max_abs_difference']:.2g})")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
