"""How long `lottery` takes to answer its light commands, beside `python -c pass` in the same run.

Prints, for each command, the best and median wall time of N runs in fresh processes, the modules that
matter which it imported (torch, pandas, the book pipeline), and the hardware. Goal (issue 20): `lottery
--help`, `lottery presets` and `lottery results` in at most 0.5 s on a 2-core machine. It prints; it never
asserts a time.

    python benchmarks/cli_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the checkout's library, as in the measured processes

from concave_lottery.runs.results import cpu_model_name  # noqa: E402 - light: imports neither torch nor pandas

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "lottery --help": [sys.executable, "-m", "concave_lottery.cli", "--help"],
    "lottery presets": [sys.executable, "-m", "concave_lottery.cli", "presets"],
    "lottery results": [sys.executable, "-m", "concave_lottery.cli", "results", "results/lenet300-mnist"],
}
PROBE = ("import sys, runpy; sys.argv = ['lottery', *sys.argv[1:]]\n"
         "try:\n    runpy.run_module('concave_lottery.cli', run_name='__main__')\n"
         "except SystemExit:\n    pass\n"
         "print('IMPORTED', sorted(m for m in ('torch', 'pandas', 'yaml', 'papermill', 'concave_lottery.book') "
         "if m in sys.modules), file=sys.stderr)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"hardware: {cpu_model_name()} ({os.cpu_count()} cores); python {platform.python_version()}; "
          f"load average at start {load:.1f}")
    print(f"{'command':<18} {'best':>8} {'median':>8}   imports")
    for label, cmd in COMMANDS.items():
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False)
            times.append(time.perf_counter() - start)
        imported = ""
        if cmd[1] == "-m":
            probe = subprocess.run([sys.executable, "-c", PROBE, *cmd[3:]], cwd=ROOT, env=env, capture_output=True,
                                   text=True, check=False)
            imported = next((line[len("IMPORTED "):] for line in probe.stderr.splitlines()
                             if line.startswith("IMPORTED")), "?")
        print(f"{label:<18} {min(times):7.3f}s {statistics.median(times):7.3f}s   {imported}")


if __name__ == "__main__":
    main()
