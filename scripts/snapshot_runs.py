"""Stage a sweep's run folders for a commit, unfinished ones included, and check what was staged.

A long campaign outlives the session or the machine that trains it: before stopping, its finished runs and
the epoch checkpoints of its unfinished ones go into git, so that the next machine resumes each run where it
stopped (README, "In progress: the converged campaign"). The checkpoints are git-ignored (``.gitignore``:
``results/**/checkpoint.pt``, ``theta0.pt``), so they are added with ``--force``. Stop the sweep first: a run
being trained writes its files while they are staged.

    python scripts/snapshot_runs.py SPEC [--out RESULTS]

For every run of SPEC that has a folder under the results root (the spec's ``out``, or ``--out``):

1. every file is staged (``git add --force``) but the run's lock and half-written ``*.tmp`` files;
2. files the run has deleted since the last commit (a finished phase removes its checkpoint) are staged as
   deletions (``git add --update``);
3. the STAGED copies are checked, not the working files: they are written to a temporary folder
   (``git checkout-index``), and each run there must match its ``digests.json``
   (:meth:`~concave_lottery.runs.digests.Digests.verify_all`), and a finished run must pass
   :func:`~concave_lottery.runs.results.check_finished_run`.

A run that fails the check is taken out of the index again (``git reset``) and named; the exit status is then
1. Nothing is committed: the command prints what it staged, and ``git commit`` is yours.
Exit status 2: SPEC or ``--out`` is not usable, or this is not a git checkout.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from concave_lottery.errors import UserError
from concave_lottery.runs.digests import Digests
from concave_lottery.runs.paths import RunDir
from concave_lottery.runs.results import check_finished_run
from concave_lottery.runs.sweep import load_spec


def _git(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], check=check, capture_output=True, text=True)


def run_files(run_dir: Path) -> list[Path]:
    """The files of a run folder that a commit keeps: :meth:`RunDir.files` (all but the lock and half-written
    ``*.tmp`` files) and the digests that vouch for them."""
    run = RunDir(run_dir)
    return [*run.files(), *([run.digests] if run.digests.exists() else [])]


def check_staged(root: Path, run_dirs: list[Path]) -> dict[Path, str]:
    """{run folder: what is wrong} for the STAGED copies of ``run_dirs`` (paths relative to the checkout
    ``root``): each is written out of git's index into a temporary folder and checked there."""
    problems: dict[Path, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        staged = [f for f in _git("-C", str(root), "ls-files", "--cached", "-z", "--", *map(str, run_dirs))
                  .stdout.split("\0") if f]
        if staged:
            subprocess.run(["git", "-C", str(root), "checkout-index", f"--prefix={tmp}/", "-z", "--stdin"],
                           input="\0".join(staged), check=True, capture_output=True, text=True)
        for run_dir in run_dirs:
            copy = Path(tmp) / run_dir
            try:
                if (copy / "result.json").exists():
                    check_finished_run(copy)
                else:
                    Digests(RunDir(copy)).verify_all()
            except UserError as exc:
                problems[run_dir] = str(exc).replace(f"{tmp}/", "")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="the sweep spec whose runs are staged (a .toml)")
    parser.add_argument("--out", default=None, help="the results root (default: the spec's out, else results)")
    args = parser.parse_args(argv)
    if _git("rev-parse", "--show-toplevel", check=False).returncode != 0:
        parser.error("this is not inside a git checkout: run it from the repository that holds the results")
    try:
        tasks = load_spec(args.spec, out=args.out).tasks
    except UserError as exc:
        parser.error(str(exc))
    root = Path(_git("rev-parse", "--show-toplevel").stdout.strip())
    run_dirs = []
    for task in tasks:
        path = Path(task.run_dir).resolve()
        if not path.is_relative_to(root):
            parser.error(f"--out: the run folder {task.run_dir} is outside this git checkout ({root})")
        run_dirs.append(path.relative_to(root))
    present = [d for d in run_dirs if (root / d).is_dir()]
    # the run folders git already tracks (one call): only those can have deletions to stage
    listed = _git("-C", str(root), "ls-files", "-z", "--", *map(str, run_dirs)).stdout.split("\0")
    known = {Path(f) for f in listed if f}
    tracked = [d for d in run_dirs if any(d in f.parents for f in known)]
    files = [str(f.relative_to(root)) for d in present for f in run_files(root / d)]
    if files:
        subprocess.run(["git", "-C", str(root), "add", "--force", "--", *files], check=True)
    if tracked:
        subprocess.run(["git", "-C", str(root), "add", "--update", "--", *map(str, tracked)], check=True)
    if not present:
        print(f"no run of {args.spec} has a folder yet: nothing staged")
        return 0
    problems = check_staged(root, present)
    for run_dir in present:
        finished = (root / run_dir / "result.json").exists()
        state = "BAD, unstaged" if run_dir in problems else ("finished" if finished else "unfinished")
        print(f"{state:<14} {run_dir}")
    for run_dir, why in problems.items():
        subprocess.run(["git", "-C", str(root), "reset", "-q", "--", str(run_dir)], check=True)
        print(f"  {run_dir}: {why}", file=sys.stderr)
    print(f"{len(present) - len(problems)} of {len(present)} run folders staged and checked"
          + (f"; {len(problems)} refused (named above)" if problems else "") + ". Commit with git commit.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
