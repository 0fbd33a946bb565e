"""The command line: ``python -m concave_lottery.book build|run|status|check|sync|publish|student-copy …`` and
``lottery book …`` (``add_book_parser``, which ``concave_lottery.cli`` imports only for ``lottery book``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import UserError
from .build import build
from .cache import chapter_status
from .chapters import chapters, check_pairs, sync_pairs
from .execution import run_chapter
from .layout import find_root
from .parameters import check_profiles, coerce_cli_value
from .publish import publish


class _ParamAction(argparse.Action):
    """``-p NAME VALUE`` (repeatable), typed like papermill's ``-p``."""

    def __call__(self, parser, namespace, values, option_string=None):
        name, value = values
        params = dict(getattr(namespace, self.dest) or {})
        params[name] = coerce_cli_value(value)
        setattr(namespace, self.dest, params)


def _cmd_build(args) -> int:
    return build(args.root, args.profile, only=args.chapters or None, force=args.force,
                 html=not args.no_html, log_output=args.verbose)


def _cmd_run(args) -> int:
    run_chapter(args.chapter, args.params, profile=args.profile, output=args.output, root=args.root)
    return 0


def _cmd_status(args) -> int:
    root = find_root(args.root)
    width = max([len(c.name) for c in chapters(root)] + [7])
    print(f"{'chapter':<{width}}  state     key           parameters from profiles/{args.profile}/")
    for chapter in chapters(root):
        st = chapter_status(chapter, args.profile)
        state = "stale" if st.stale else "current"
        print(f"{st.chapter:<{width}}  {state:<8}  {st.key[:12]}  {st.injected or '(book defaults)'}")
    return 0


def _cmd_check(args) -> int:
    problems = check_pairs(args.root) + check_profiles(args.root)
    for p in problems:
        print(f"- {p}")
    print("pairs and profiles: " + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


def _cmd_sync(args) -> int:
    for path in sync_pairs(args.root):
        print(f"[book] in sync: {path}")
    return 0


def _cmd_publish(args) -> int:
    publish(args.root, remote=args.remote, branch=args.branch, push=not args.no_push,
            allow_profile=tuple(args.allow_profile or ("book",)))
    return 0


def _cmd_student_copy(args) -> int:
    from .student import student_copy

    print(student_copy(args.chapter, args.output, args.root))
    return 0


def add_book_parser(subparsers, prog: str | None = None) -> argparse.ArgumentParser:
    """Add the ``book`` command (build, run, status, check, sync, publish, student-copy) to an argparse CLI.

    Each leaf parser sets ``func=`` to a handler taking the parsed namespace and returning an exit
    code, so ``lottery book run theory -p lam_max 0.5`` works from ``cli.py`` with::

        args = parser.parse_args(); sys.exit(args.func(args))
    """
    extra = {"prog": prog} if prog else {}
    book = subparsers.add_parser(
        "book", help="execute the chapters and build the book; rerun one chapter with other parameters",
        description="The book pipeline: papermill executes the chapters, jupyter-book builds the HTML.",
        **extra,
    )
    book.set_defaults(func=lambda args: (book.print_help(), 2)[1])
    sub = book.add_subparsers(dest="book_command", metavar="{build,run,status,check,sync,publish,student-copy}")

    def common(p: argparse.ArgumentParser, profile: bool = True) -> None:
        p.add_argument("--root", type=Path, default=None,
                       help="repository root (default: found from the cwd)")
        if profile:
            p.add_argument("--profile", default="book",
                           help="parameter profile: smoke (seconds), book (default, CPU), paper (GPU)")

    p = sub.add_parser("build", help="execute stale chapters and build _build/html (what `make book` runs)")
    common(p)
    p.add_argument("--chapters", nargs="*", metavar="CHAPTER", help="execute only these chapters")
    p.add_argument("--force", action="store_true", help="re-execute even when the cache is current")
    p.add_argument("--no-html", action="store_true", help="execute the chapters only")
    p.add_argument("-v", "--verbose", action="store_true", help="stream the notebooks' output")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("run", help="rerun one chapter with other parameters (papermill)",
                       description="Execute CHAPTER with the profile's parameters updated by -p NAME VALUE; "
                                   "writes an executed notebook (default _build/runs/CHAPTER.ipynb).")
    common(p)
    p.add_argument("chapter", help="chapter name, e.g. theory")
    p.add_argument("-p", "--parameter", nargs=2, metavar=("NAME", "VALUE"), action=_ParamAction,
                   dest="params", default={}, help="set a parameter (repeatable), as papermill -p")
    p.add_argument("-o", "--output", type=Path, default=None, help="executed notebook to write")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("status", help="which chapters are stale in a profile")
    common(p)
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("check", help="check the .md/.ipynb pairs and the profiles")
    common(p, profile=False)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("sync", help="bring every .md/.ipynb pair in sync (jupytext --sync) without outputs")
    common(p, profile=False)
    p.set_defaults(func=_cmd_sync)

    p = sub.add_parser("publish", help="commit _build/html to the gh-pages branch and push it")
    common(p, profile=False)
    p.add_argument("--remote", default="origin")
    p.add_argument("--branch", default="gh-pages")
    p.add_argument("--no-push", action="store_true", help="commit the branch locally only")
    p.add_argument("--allow-profile", action="append", help="profiles allowed to publish (default: book)")
    p.set_defaults(func=_cmd_publish)

    p = sub.add_parser("student-copy", help="write a chapter notebook without its solutions, to hand out",
                       description="Write CHAPTER's notebook without its {solution} blocks and without the cells "
                                   "from each {solution-start} to its {solution-end}, and without outputs (default "
                                   "_build/student/CHAPTER.ipynb); prints the path.")
    common(p, profile=False)
    p.add_argument("chapter", help="chapter name, e.g. regularizers")
    p.add_argument("-o", "--output", type=Path, default=None, help="notebook to write")
    p.set_defaults(func=_cmd_student_copy)
    return book


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m concave_lottery.book build|run|status|check|sync|publish ...``."""
    parser = argparse.ArgumentParser(prog="python -m concave_lottery.book")
    subparsers = parser.add_subparsers(dest="command")
    book = add_book_parser(subparsers, prog="python -m concave_lottery.book")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(["book", *argv])
    if getattr(args, "book_command", None) is None:
        book.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
