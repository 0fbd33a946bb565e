"""Evaluate the saved bf16 tickets of a parity spec again, in bf16 and in fp32, and record both.

A bf16 run evaluates its tickets under bf16 autocast too, so their recorded accuracy mixes bf16 training with
bf16 evaluation. This writes the file that separates the two
(:mod:`concave_lottery.evidence.parity_evaluation`); the training-times chapter reads it beside the parity
comparison and never evaluates anything itself.

    python scripts/parity_evaluation.py [SPEC] [--root RESULTS] [--out FILE] [--threads N]

SPEC defaults to sweeps/parity-bf16.toml, --root to results, --out to ROOT/parity-control/fp32-evaluation.json.
Only finished bf16 runs with saved ticket weights are evaluated; their files are verified against their
digests first. Each ticket is evaluated twice on the CPU (about 1 and 3 s for a ResNet-20 ticket on 1,017
test images at one thread). Exit status 2: SPEC, --root or --threads is not usable; 1: a run file is corrupt.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from concave_lottery.errors import CorruptFile, UserError
from concave_lottery.evidence import parity_evaluation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", default="sweeps/parity-bf16.toml", help="the parity spec (a .toml)")
    parser.add_argument("--root", default="results", help="the results root its runs live under (default: results)")
    parser.add_argument("--out", default=None, help=f"the file to write (default: ROOT/{parity_evaluation.FILE})")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads={args.threads} is not allowed: it must be a whole number of at least 1")
    if not Path(args.root).is_dir():
        parser.error(f"--root={args.root!r} is not allowed: it must be an existing results folder")
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else Path(args.root) / parity_evaluation.FILE
    command = "python scripts/parity_evaluation.py " + shlex.join([args.spec, "--root", args.root,
                                                                   "--threads", str(args.threads)]
                                                                  + (["--out", args.out] if args.out else []))
    try:
        content = parity_evaluation.record(args.spec, args.root, out, command=command)
    except CorruptFile as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except UserError as exc:
        parser.error(str(exc))
    tickets = content["tickets"]
    moved = [abs(t["fp32"] - t["bf16"]) for t in tickets]
    print(f"{len(tickets)} bf16 tickets evaluated in bf16 and fp32 → {out}"
          + (f"; fp32 evaluation moved their accuracy by at most {100 * max(moved):.2f} pp" if moved else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
