"""Building the site: the staging tree (``_build/stage/<profile>/``), ``jupyter-book build`` into
``_build/html``, and ``build``, the whole pipeline that ``make book`` runs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import launch, statistics
from .cache import chapter_status
from .chapters import chapters, check_pairs, get_chapter
from .execution import Execution, execute_all, fetch_data
from .layout import (
    BOOK_TREE,
    BUILD_INFO,
    HTML_DIR,
    NOTEBOOK_DIR,
    SOURCE_SUFFIXES,
    STAGE_DIR,
    BookError,
    executed_dir,
    executed_notebook,
    files_below,
    find_root,
)
from .parameters import check_profile_name, check_profiles


def stage_book(root: Path | str | None = None, profile: str = "book") -> Path:
    """Assemble ``_build/stage/<profile>/``: the book tree with the executed chapter notebooks."""
    root = find_root(root)
    stage = root / STAGE_DIR / profile
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name in BOOK_TREE:
        src = root / name
        if src.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
            shutil.copytree(src, stage / name, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, stage / name)
    # Non-notebook assets of the chapters (images, small data files) travel along.
    notebooks = root / NOTEBOOK_DIR
    if notebooks.is_dir():
        for path in files_below(notebooks):
            if path.suffix in (*SOURCE_SUFFIXES, ".ipynb"):
                continue
            target = stage / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    missing = []
    for chapter in chapters(root):
        executed = executed_notebook(root, profile, chapter.name)
        if not executed.is_file():
            missing.append(chapter.name)
            continue
        target = stage / NOTEBOOK_DIR / f"{chapter.name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(executed, target)
    if missing:
        raise BookError(
            f"no executed notebook for {', '.join(missing)} in profile {profile}: "
            f"run `python -m concave_lottery.book build --profile {profile}`"
        )
    # Colab and Binder buttons and each notebook's install cell, for a book of a GitHub repository only
    launch.configure_stage(root, stage, chapters(root), commit=_library_commit())
    page = stage / statistics.STATISTICS_PAGE
    if page.is_file():  # the book lists the page: replace its placeholder with this build's numbers
        page.write_text(statistics.statistics_page(executed_dir(root, profile), profile,
                                                   [c.name for c in chapters(root)]), encoding="utf-8")
    return stage


def _jupyter_book_command() -> list[str]:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    return [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]


def build_html(root: Path | str | None = None, profile: str = "book", *, echo=print) -> Path:
    """Stage the book and build ``_build/html`` with jupyter-book (execution off, ``-W --keep-going``)."""
    root = find_root(root)
    stage = stage_book(root, profile)
    html = root / HTML_DIR
    if html.exists():
        shutil.rmtree(html)
    cmd = [*_jupyter_book_command(), "build", str(stage), "--path-output", str(root),
           "--builder", "html", "-W", "--keep-going", "--all"]
    echo("[book] " + " ".join(cmd[-8:]))
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    log = root / "_build" / f"jupyter-book-{profile}.log"
    log.write_text(proc.stdout, encoding="utf-8")
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-40:])
        raise BookError(f"jupyter-book build failed (exit {proc.returncode}); full log in {log}:\n{tail}")
    if not (html / "index.html").is_file():
        raise BookError(f"jupyter-book exited 0 but wrote no {html / 'index.html'}; log in {log}")
    add_source_downloads(root, html)
    return html


def add_source_downloads(root: Path | str | None = None, html: Path | str | None = None) -> list[Path]:
    """Put every chapter's jupytext source beside its executed notebook in the built site.

    Sphinx copies the executed notebook to ``_sources/notebooks/<chapter>.ipynb`` (the page's
    ``.ipynb`` download); this adds ``_sources/notebooks/<chapter>.md``, the ``.md`` download that
    ``book/_static/downloads.js`` lists next to it. Returns the files written.
    """
    root = find_root(root)
    html = Path(html) if html is not None else root / HTML_DIR
    written = []
    for chapter in chapters(root):
        target = html / "_sources" / NOTEBOOK_DIR / f"{chapter.name}{chapter.source.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(chapter.source, target)
        written.append(target)
    return written


def _library_commit() -> str:
    """The commit the book is built from: the one git lookup of the library (the run provenance's)."""
    from ..runs.results import git_commit

    return git_commit()


def _timings_table(results: list[Execution], html_seconds: float | None, total: float) -> str:
    width = max([len(r.chapter) for r in results] + [len("chapter")])
    lines = [f"{'chapter':<{width}}  {'status':<8}  {'this run':>9}  {'last exec':>9}"]
    for r in results:
        last = f"{r.last_seconds:8.1f}s" if r.last_seconds is not None else "        -"
        lines.append(f"{r.chapter:<{width}}  {r.status:<8}  {r.seconds:8.1f}s  {last}")
    execs = sum(r.last_seconds or 0.0 for r in results)
    this_run = sum(r.seconds for r in results)
    lines.append(f"{'(all chapters)':<{width}}  {'':<8}  {this_run:8.1f}s  {execs:8.1f}s")
    if html_seconds is not None:
        lines.append(f"{'(jupyter-book)':<{width}}  {'':<8}  {html_seconds:8.1f}s")
    lines.append(f"{'(total)':<{width}}  {'':<8}  {total:8.1f}s")
    return "\n".join(lines)


def _execute_again_what_went_stale(root: Path, profile: str, results: list[Execution], *, log_output: bool,
                                   echo=print) -> list[Execution]:
    """Once more, every chapter executed in this build whose inputs a later chapter changed: the scorecard comes
    first in the book but reads the runs that the lottery chapters train when they ``compute_recorded`` (the
    paper profile), so in the first paper build it would otherwise show them all as missing."""
    if any(r.status == "failed" for r in results):
        return results
    stale = [r.chapter for r in results if r.status == "executed"
             and chapter_status(get_chapter(r.chapter, root), profile).stale]
    if not stale:
        return results
    echo(f"[book] {', '.join(stale)}: inputs changed by later chapters in this build; executing again")
    again = {e.chapter: e for e in execute_all(root, profile, only=stale, force=True, log_output=log_output,
                                               echo=echo)}
    return [dataclasses.replace(again[r.chapter], seconds=r.seconds + again[r.chapter].seconds)
            if r.chapter in again else r for r in results]


def build(
    root: Path | str | None = None,
    profile: str = "book",
    *,
    only: Sequence[str] | None = None,
    force: bool = False,
    html: bool = True,
    log_output: bool = False,
    echo=print,
) -> int:
    """The whole pipeline (what ``make book`` runs); returns an exit code (0 on success)."""
    root = find_root(root)
    check_profile_name(root, profile)
    start = time.perf_counter()
    problems = check_pairs(root) + check_profiles(root)
    if problems:
        raise BookError(
            "the chapters are not ready to build:\n  - " + "\n  - ".join(problems)
            + "\nfix the pairs with `python -m concave_lottery.book sync`"
        )
    fetch_data(root, echo=echo)
    results = execute_all(root, profile, only=only, force=force, log_output=log_output, echo=echo)
    results = _execute_again_what_went_stale(root, profile, results, log_output=log_output, echo=echo)
    failed = [r for r in results if r.status == "failed"]
    statistics.write_last_build(executed_dir(root, profile), profile, results)
    html_seconds, html_error = None, None
    if html and not failed:
        t0 = time.perf_counter()
        try:
            out = build_html(root, profile, echo=echo)
        except BookError as exc:
            html_error = exc
        html_seconds = time.perf_counter() - t0
    total = time.perf_counter() - start
    timings = {
        "profile": profile,
        "chapters": {r.chapter: {"status": r.status, "seconds": round(r.seconds, 3),
                                 "last_execution_seconds": r.last_seconds} for r in results},
        "execution_seconds": round(sum(r.last_seconds or 0.0 for r in results), 3),
        "jupyter_book_seconds": round(html_seconds, 3) if html_seconds is not None else None,
        "total_seconds": round(total, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    exdir = executed_dir(root, profile)
    exdir.mkdir(parents=True, exist_ok=True)
    (exdir / "timings.json").write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
    echo(_timings_table(results, html_seconds, total))
    if html_error is not None:
        raise html_error
    if failed:
        echo(f"[book] {len(failed)} chapter(s) failed: {', '.join(r.chapter for r in failed)}")
        return 1
    if html:
        info = {"profile": profile, "commit": _library_commit(), "timings": timings}
        (out / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        (out / ".nojekyll").touch()
        echo(f"[book] built {out / 'index.html'} (profile {profile})")
    return 0
