"""``make rehearse-paper``: every chapter built in the ``paper`` profile, on a CPU, before a GPU user does.

The ``paper`` profile (``profiles/paper/``, ``sweeps/paper.toml``: 3 models x 3 datasets x 3 seeds, ResNet-56,
the ablations) needs full CIFAR-10/100, Tiny ImageNet and a GPU, so the first user with them would otherwise be
the first to run it. The rehearsal runs the same code paths with everything small:

1. **Data**: stand-ins of CIFAR-10, CIFAR-100 and Tiny ImageNet in their official on-disk formats
   (:mod:`concave_lottery.data.standins`: ``cifar-10-batches-py/``, ``cifar-100-python/``,
   ``tiny-imagenet-200.zip``) are written into a data root of their own (``_rehearsal/data``,
   ``$LOTTERY_DATA``), and the full-dataset loaders read them. Their checksums are substituted in every process
   of the rehearsal (a ``sitecustomize`` on ``PYTHONPATH`` calls
   :func:`~concave_lottery.data.standins.install_from_environment`), and nowhere else. MNIST and
   ``cifar10-subset`` (which the paper profile also reads) come from ``$LOTTERY_DATA_MIRROR`` or, when it is
   unset, from the usual data root ``data/``, read-only.
2. **Parameters**: the profile ``rehearse-paper`` (``profiles/rehearse-paper/``) *extends* ``paper`` (its file
   ``EXTENDS``): each chapter gets the paper profile's parameters, then the few that the rehearsal changes,
   through the chapters' ordinary parameters: the recorded layer's spec is ``sweeps/paper-rehearsal.toml``
   (``sweeps/paper.toml`` itself, every run set to 1 epoch per round and 1 round), its results root is
   ``_rehearsal/results`` (not under ``_build/``: like the paper's ``results/``, it is an input of the chapters'
   cache keys, see :func:`concave_lottery.book.cache.parameter_paths`), the LeNet runs get 1 epoch on 500
   images, and the CPU-only studies are smaller. Nothing in the chapters or the library knows it is a
   rehearsal.
3. **Build**: ``lottery book build --profile rehearse-paper`` executes every chapter (the paper profile's
   ``compute_recorded`` trains the 102 runs of the spec, then the chapters replay them as the recorded layer;
   the scorecard, which comes first, is executed again once they exist) and jupyter-book renders the HTML
   into ``_build/html``.

Only ``.cuda()`` itself is not exercised (``device: auto`` is the CPU here). The numbers mean nothing.

Run: ``make rehearse-paper`` or ``python -m concave_lottery.book.rehearsal [--only CHAPTER ...] [--no-html]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

PROFILE = "rehearse-paper"
WORK_DIR = Path("_rehearsal")
SITECUSTOMIZE = (
    "# Written by concave_lottery.book.rehearsal: the rehearsal's processes accept its stand-in datasets.\n"
    "from concave_lottery.data.standins import install_from_environment\n\n"
    "install_from_environment()\n"
)


def prepare(root: Path, work: Path | None = None) -> dict[str, str]:
    """Write the stand-ins and the ``sitecustomize`` under ``work`` (default ``root/_rehearsal``) and
    return the environment the rehearsal's processes run with."""
    from ..data.standins import MANIFEST_ENV, write_standins

    work = work or root / WORK_DIR
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    manifest = data / "standins.json"
    write_standins(data)
    site = work / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    mirror = env.get("LOTTERY_DATA_MIRROR") or str((Path(env["LOTTERY_DATA"]) if env.get("LOTTERY_DATA")
                                                   else root / "data").resolve())
    python_path = [str(site), str(Path(__file__).resolve().parents[2])]
    env.update(LOTTERY_DATA=str(data.resolve()), LOTTERY_DATA_MIRROR=mirror, **{MANIFEST_ENV: str(manifest)},
               PYTHONPATH=os.pathsep.join(python_path + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])),
               PYTHONUNBUFFERED="1")  # the build's progress reaches a log file as it happens
    return env


def main(argv: list[str] | None = None) -> int:
    from .pipeline import find_root

    parser = argparse.ArgumentParser(prog="rehearse-paper", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None, help="build only these chapters")
    parser.add_argument("--no-html", action="store_true", help="execute the chapters, do not render the HTML")
    parser.add_argument("--force", action="store_true", help="execute every chapter even if its copy is current")
    args = parser.parse_args(argv)
    root = find_root()
    started = time.perf_counter()
    env = prepare(root)
    print(f"[rehearsal] stand-in data in {env['LOTTERY_DATA']}; MNIST and cifar10-subset from "
          f"{env['LOTTERY_DATA_MIRROR']}; profile {PROFILE} (paper + profiles/{PROFILE}/)", flush=True)
    cmd = [sys.executable, "-m", "concave_lottery.book", "build", "--profile", PROFILE]
    if args.only:
        cmd += ["--chapters", *args.only]
    if args.no_html:
        cmd.append("--no-html")
    if args.force:
        cmd.append("--force")
    code = subprocess.run(cmd, cwd=root, env=env).returncode
    print(f"[rehearsal] {'done' if code == 0 else 'FAILED'} in {time.perf_counter() - started:.0f} s "
          f"(exit {code})", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
