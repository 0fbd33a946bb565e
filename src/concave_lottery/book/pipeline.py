"""The book pipeline: execute every chapter with papermill, then build the HTML with jupyter-book.

Layout (all paths relative to the repository root)::

    _config.yml, _toc.yml          the Jupyter Book (jupyter-book >=1.0.4,<2)
    book/                          narrative pages (MyST markdown) and references.bib
    notebooks/<chapter>.md         chapter SOURCE: a jupytext MyST-markdown notebook ...
    notebooks/<chapter>.ipynb      ... paired with this .ipynb (kept in sync, no outputs)
    profiles/<profile>/<chapter>.yml
                                   papermill parameter files; profiles: smoke, book, paper
    _build/executed/<profile>/     executed notebooks, cache records, timings.json
    _build/stage/<profile>/        the book tree that jupyter-book actually builds
    _build/html/                   the built site

``python -m concave_lottery.book build --profile book`` (what ``make book`` runs):

1. checks that every chapter's .md/.ipynb pair is in sync (``sync`` repairs it);
2. resolves each chapter's parameters: the defaults of its first code cell (tagged
   ``parameters``), updated by ``profiles/<profile>/<chapter>.yml`` (a papermill ``-f`` file;
   the ``book`` profile normally adds nothing: the parameters cell *is* the book's defaults);
3. executes each chapter whose cache key changed with papermill (cwd = repository root) into
   ``_build/executed/<profile>/notebooks/<chapter>.ipynb``. The cache key hashes the chapter
   source, its resolved parameters, every file under ``src/concave_lottery/`` and the result
   files the chapter declares it reads with a comment line ``# reads: <glob>`` in any code cell
   (globs relative to the repository root; a directory counts with everything below it);
4. copies ``_config.yml``, ``_toc.yml``, ``book/`` and the executed notebooks into
   ``_build/stage/<profile>/`` and runs ``jupyter-book build`` there with execution off and
   ``-W --keep-going`` (any warning fails the build), writing ``_build/html``;
5. writes ``_build/executed/<profile>/timings.json`` and prints the time of every chapter.

Adding a chapter (see also ``book/contributing.md``):

1. write ``notebooks/<name>.md`` (jupytext MyST notebook; copy the front matter of an existing
   chapter). Its first code cell is tagged ``parameters`` and holds plain assignments
   ``name = literal`` (the book defaults). Plot cells carry the tag ``hide-input``. The last cell
   is a "Rerun this chapter" box with the exact ``papermill`` command;
2. ``python -m concave_lottery.book sync`` creates/updates ``notebooks/<name>.ipynb``;
3. add ``- file: notebooks/<name>`` to ``_toc.yml``;
4. add ``profiles/smoke/<name>.yml`` (seconds on a CPU; used by the tests) and, where the
   paper's protocol differs from the book defaults, ``profiles/paper/<name>.yml``; declare the
   result files it reads with ``# reads: results/<...>``.

Other commands: ``run`` (rerun one chapter with other parameters: ``lottery book run theory -p
lam_max 0.5``), ``status`` (which chapters are stale), ``check`` (pairs and profiles), ``sync``,
``publish`` (push ``_build/html`` to a ``gh-pages`` branch; ``.github/workflows/pages.yml`` is
the GitHub Actions alternative).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ParameterError, UserError
from . import statistics

__all__ = [
    "PROFILES",
    "Chapter",
    "BookError",
    "find_root",
    "chapters",
    "declared_parameters",
    "profile_parameters",
    "resolve_parameters",
    "declared_reads",
    "declared_data",
    "cache_key",
    "chapter_status",
    "check_pairs",
    "check_profiles",
    "sync_pairs",
    "execute_chapter",
    "execute_all",
    "stage_book",
    "build_html",
    "add_source_downloads",
    "build",
    "run_chapter",
    "publish",
    "add_book_parser",
    "main",
]

PROFILES = ("smoke", "book", "paper")
"""The parameter profiles: ``smoke`` (seconds per chapter, used by the tests), ``book`` (the
default, CPU-friendly, what CI builds and publishes), ``paper`` (the paper's protocol, GPU)."""

#: Bumped when the way chapters are executed changes, so every cache entry goes stale.
PIPELINE_VERSION = "1"
SOURCE_SUFFIXES = (".md", ".py")
NOTEBOOK_DIR = "notebooks"
LIBRARY_DIR = Path("src") / "concave_lottery"
EXECUTED_DIR = Path("_build") / "executed"
STAGE_DIR = Path("_build") / "stage"
HTML_DIR = Path("_build") / "html"
RUNS_DIR = Path("_build") / "runs"
BUILD_INFO = "build-info.json"
#: Copied from the repository root into the staging tree (besides the executed notebooks).
BOOK_TREE = ("_config.yml", "_toc.yml", "book", "_static")
_IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints"}
_IGNORED_SUFFIXES = {".pyc", ".pyo"}


class BookError(UserError):
    """The book cannot be built as asked; the message says what is wrong and how to fix it."""


# ------------------------------------------------------------------------------------------------
# Chapters and their sources
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chapter:
    """One executable chapter: a jupytext source in ``notebooks/`` listed in ``_toc.yml``."""

    name: str
    source: Path
    root: Path

    @property
    def ipynb(self) -> Path:
        """The paired notebook (what ``papermill`` and Jupyter open)."""
        return self.source.with_suffix(".ipynb")

    @property
    def rel_source(self) -> str:
        return self.source.relative_to(self.root).as_posix()

    @property
    def rel_ipynb(self) -> str:
        return self.ipynb.relative_to(self.root).as_posix()


def find_root(start: Path | str | None = None) -> Path:
    """The repository root: the nearest folder holding ``_toc.yml``, from ``start`` (or the current
    directory) upwards, else the checkout this module lives in."""
    env = os.environ.get("LOTTERY_BOOK_ROOT")
    if start is None and env:
        start = env
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file():
            return folder
    package_root = Path(__file__).resolve().parents[3]
    if (package_root / "_toc.yml").is_file():
        return package_root
    raise BookError(
        f"no _toc.yml found in {here} or above it: run the book commands from the repository root "
        "(or set LOTTERY_BOOK_ROOT)"
    )


def _toc_files(node: Any) -> Iterable[str]:
    """Every ``file:`` (and ``root:``) entry of a jupyter-book ``_toc.yml``, in order."""
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                yield node[key]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key) or []:
                yield from _toc_files(child)
    elif isinstance(node, list):
        for child in node:
            yield from _toc_files(child)


def chapters(root: Path | str | None = None) -> list[Chapter]:
    """The executable chapters: ``_toc.yml`` entries under ``notebooks/``, in book order."""
    root = find_root(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8")) or {}
    found: list[Chapter] = []
    for entry in _toc_files(toc):
        path = Path(entry)
        if path.parts[:1] != (NOTEBOOK_DIR,):
            continue
        stem = path.with_suffix("") if path.suffix in (*SOURCE_SUFFIXES, ".ipynb") else path
        candidates = [root / stem.with_suffix(s) for s in SOURCE_SUFFIXES]
        sources = [p for p in candidates if p.is_file()]
        if not sources:
            raise BookError(
                f"_toc.yml lists {entry} but there is no jupytext source {stem}.md (or .py): chapters are "
                "jupytext text files paired with .ipynb (run `python -m concave_lottery.book sync`)"
            )
        if len(sources) > 1:
            raise BookError(f"chapter {entry} has two sources ({', '.join(map(str, sources))}): keep one")
        found.append(Chapter(name=stem.name, source=sources[0], root=root))
    names = [c.name for c in found]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise BookError(f"chapter names must be unique in notebooks/: {', '.join(sorted(dupes))}")
    return found


def get_chapter(name: str, root: Path | str | None = None) -> Chapter:
    """The chapter called ``name`` (its file stem, e.g. ``theory``)."""
    all_chapters = chapters(root)
    key = Path(name).with_suffix("").name if name.endswith((".md", ".py", ".ipynb")) else Path(name).name
    for chapter in all_chapters:
        if chapter.name == key:
            return chapter
    raise ParameterError("chapter", name, "chapter must be one of " + ", ".join(c.name for c in all_chapters))


def read_source(chapter: Chapter):
    """The chapter as an nbformat notebook, read from its jupytext source (the source of truth)."""
    import jupytext

    return jupytext.read(chapter.source)


# ------------------------------------------------------------------------------------------------
# Parameters and profiles
# ------------------------------------------------------------------------------------------------


def _parameters_cell(nb, chapter_name: str):
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or "parameters" not in code[0].get("metadata", {}).get("tags", []):
        raise BookError(
            f"chapter {chapter_name}: its first code cell must be tagged `parameters` and hold the book "
            "defaults (in MyST: ```{code-cell} ipython3 followed by :tags: [parameters])"
        )
    return code[0]


def declared_parameters(chapter: Chapter, nb=None) -> dict[str, Any]:
    """The book defaults: ``name = literal`` assignments of the chapter's ``parameters`` cell."""
    nb = nb if nb is not None else read_source(chapter)
    cell = _parameters_cell(nb, chapter.name)
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as exc:
        raise BookError(f"chapter {chapter.name}: the parameters cell is not valid Python: {exc}") from None
    params: dict[str, Any] = {}
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(
            stmt, ast.AnnAssign) else None
        if targets is None or len(targets) != 1 or not isinstance(targets[0], ast.Name) or stmt.value is None:
            raise BookError(
                f"chapter {chapter.name}: the parameters cell may only hold `name = literal` lines, "
                f"found {ast.unparse(stmt)!r}"
            )
        try:
            params[targets[0].id] = ast.literal_eval(stmt.value)
        except ValueError:
            raise BookError(
                f"chapter {chapter.name}: parameter {targets[0].id} must be a literal (number, string, "
                f"bool, None, list, dict), found {ast.unparse(stmt.value)!r}"
            ) from None
    return params


def profile_file(root: Path, profile: str, chapter_name: str) -> Path:
    return root / "profiles" / profile / f"{chapter_name}.yml"


def _check_profile_name(root: Path, profile: str) -> None:
    known = sorted({*PROFILES, *(p.name for p in (root / "profiles").glob("*") if p.is_dir())})
    if profile not in known:
        raise ParameterError("profile", profile, "profile must be one of " + ", ".join(known))


def profile_parameters(root: Path, profile: str, chapter_name: str) -> dict[str, Any]:
    """The parameters ``profiles/<profile>/<chapter>.yml`` sets (empty when the file is absent)."""
    _check_profile_name(root, profile)
    path = profile_file(root, profile, chapter_name)
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BookError(f"{path.relative_to(root)} must be a mapping `name: value` (a papermill -f file)")
    return data


def _coerce_cli_value(text: str) -> Any:
    """A ``-p name value`` value, typed the way papermill's command line types it."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if text.strip().startswith(("[", "{")):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            pass
    return text


def _check_value(chapter: str, name: str, value: Any, default: Any, where: str) -> None:
    numeric = (int, float)
    if isinstance(default, numeric) and not isinstance(default, bool) and isinstance(value, str):
        hint = ""
        try:
            float(value)
            hint = f" (YAML reads {value} as a string: write it with a dot, e.g. {float(value)!r})"
        except ValueError:
            pass
        raise ParameterError(
            name, value, f"{where}: chapter {chapter} expects a number like its default {default!r}{hint}"
        )


def resolve_parameters(
    chapter: Chapter, profile: str = "book", overrides: dict[str, Any] | None = None, nb=None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(injected, resolved)`` parameters of ``chapter`` in ``profile``.

    ``injected`` is what papermill injects (the profile file, then ``overrides``); ``resolved`` is
    the complete set the chapter runs with (the defaults updated by ``injected``). A name the
    chapter does not declare is an error, so a typo in a profile cannot go unnoticed.
    """
    defaults = declared_parameters(chapter, nb)
    injected: dict[str, Any] = {}
    from_profile = profile_parameters(chapter.root, profile, chapter.name)
    sources = [(f"profiles/{profile}/{chapter.name}.yml", from_profile), ("-p", overrides or {})]
    for where, values in sources:
        for name, value in values.items():
            if name not in defaults:
                raise ParameterError(
                    name, value,
                    f"{where}: chapter {chapter.name} has no such parameter; its parameters are "
                    + ", ".join(sorted(defaults)),
                )
            _check_value(chapter.name, name, value, defaults[name], where)
            injected[name] = value
    return injected, {**defaults, **injected}


# ------------------------------------------------------------------------------------------------
# Cache key
# ------------------------------------------------------------------------------------------------


def declared_reads(chapter: Chapter, nb=None) -> list[str]:
    """The globs of the ``# reads: <glob> [<glob> ...]`` comment lines in the chapter's code cells."""
    return _comment_declarations(nb if nb is not None else read_source(chapter), "reads")


def _comment_declarations(nb, key: str) -> list[str]:
    """The items of every ``# <key>: a, b  # trailing comment`` line in the notebook's code cells."""
    items: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith("#") and stripped[1:].lstrip().startswith(f"{key}:"):
                value = stripped[1:].lstrip()[len(key) + 1:].split("#", 1)[0]
                items.extend(value.replace(",", " ").split())
    return items


def _files_below(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.rglob("*")
        if p.is_file() and not (_IGNORED_PARTS & set(p.parts)) and p.suffix not in _IGNORED_SUFFIXES
    )


def _hash_files(h, root: Path, files: Iterable[Path]) -> None:
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())


def cache_key(chapter: Chapter, resolved: dict[str, Any], nb=None) -> str:
    """sha256 over the chapter source, its resolved parameters, the library source and its reads."""
    root = chapter.root
    h = hashlib.sha256()
    h.update(f"pipeline {PIPELINE_VERSION}\0".encode())
    h.update(chapter.source.read_bytes())
    h.update(json.dumps(resolved, sort_keys=True, default=repr).encode() + b"\0")
    _hash_files(h, root, _files_below(root / LIBRARY_DIR))
    for pattern in declared_reads(chapter, nb):
        matches = sorted(root.glob(pattern))
        h.update(f"reads {pattern}\0".encode())
        if not matches:
            h.update(b"<missing>\0")
        for match in matches:
            _hash_files(h, root, _files_below(match))
    return h.hexdigest()


def executed_dir(root: Path, profile: str) -> Path:
    return root / EXECUTED_DIR / profile


def _output_path(root: Path, profile: str, name: str) -> Path:
    return executed_dir(root, profile) / NOTEBOOK_DIR / f"{name}.ipynb"


@dataclass
class ChapterStatus:
    """Whether a chapter's executed copy matches its current cache key."""

    chapter: str
    key: str
    cached_key: str | None
    parameters: dict[str, Any]
    injected: dict[str, Any]

    @property
    def stale(self) -> bool:
        return self.key != self.cached_key


def chapter_status(chapter: Chapter, profile: str = "book", cache_dir: Path | None = None) -> ChapterStatus:
    """The chapter's current cache key and the key of its executed copy (``None`` if there is none)."""
    nb = read_source(chapter)
    injected, resolved = resolve_parameters(chapter, profile, nb=nb)
    key = cache_key(chapter, resolved, nb)
    base = cache_dir if cache_dir is not None else executed_dir(chapter.root, profile)
    record, output = base / f"{chapter.name}.json", base / NOTEBOOK_DIR / f"{chapter.name}.ipynb"
    cached = None
    if record.is_file() and output.is_file():
        cached = json.loads(record.read_text(encoding="utf-8")).get("key")
    return ChapterStatus(chapter.name, key, cached, resolved, injected)


# ------------------------------------------------------------------------------------------------
# Pairs and profiles: checks
# ------------------------------------------------------------------------------------------------


def check_pairs(root: Path | str | None = None) -> list[str]:
    """Problems with the .md/.ipynb pairs (empty when every pair is in sync and output-free)."""
    import jupytext
    import nbformat
    from jupytext.compare import NotebookDifference, compare_notebooks

    problems: list[str] = []
    for chapter in chapters(root):
        if not chapter.ipynb.is_file():
            problems.append(f"{chapter.rel_ipynb} is missing (pair of {chapter.rel_source})")
            continue
        text_nb = jupytext.read(chapter.source)
        ipynb = nbformat.read(chapter.ipynb, as_version=4)
        try:
            compare_notebooks(ipynb, text_nb, fmt=None, compare_outputs=False)
        except NotebookDifference as exc:
            first = str(exc).strip().splitlines()
            problems.append(
                f"{chapter.rel_ipynb} is out of sync with {chapter.rel_source}: "
                + (first[0] if first else "cells differ")
            )
            continue
        if any(c.get("outputs") for c in ipynb.cells if c.cell_type == "code"):
            problems.append(f"{chapter.rel_ipynb} holds outputs: commit paired notebooks without outputs")
        formats = ipynb.metadata.get("jupytext", {}).get("formats", "")
        if "ipynb" not in formats:
            problems.append(f"{chapter.rel_ipynb} is not paired: its jupytext formats are {formats!r}")
    return problems


def check_profiles(root: Path | str | None = None) -> list[str]:
    """Problems with ``profiles/``: unknown chapters or parameters, chapters without a smoke file."""
    root = find_root(root)
    problems: list[str] = []
    by_name = {c.name: c for c in chapters(root)}
    for profile_dir in sorted(p for p in (root / "profiles").glob("*") if p.is_dir()):
        for path in sorted(profile_dir.glob("*.yml")):
            if path.stem not in by_name:
                problems.append(f"{path.relative_to(root)} names no chapter of _toc.yml")
                continue
            try:
                resolve_parameters(by_name[path.stem], profile_dir.name)
            except UserError as exc:
                problems.append(str(exc))
    for name in by_name:
        if not profile_file(root, "smoke", name).is_file():
            problems.append(
                f"chapter {name} has no profiles/smoke/{name}.yml (the tests run every chapter in smoke)")
    return problems


def sync_pairs(root: Path | str | None = None) -> list[Path]:
    """Bring every pair in sync (``jupytext --sync``: the newer file wins) and strip ipynb outputs."""
    import jupytext
    import nbformat
    from jupytext.cli import jupytext as jupytext_cli

    written: list[Path] = []
    for chapter in chapters(root):
        if not chapter.ipynb.is_file():
            nb = jupytext.read(chapter.source)
            fmt = "md:myst" if chapter.source.suffix == ".md" else "py:percent"
            nb.metadata.setdefault("jupytext", {})["formats"] = f"ipynb,{fmt}"
            jupytext.write(nb, chapter.source, fmt=fmt)
            jupytext.write(nb, chapter.ipynb)
        else:
            jupytext_cli(["--sync", "--quiet", str(chapter.source)])
        nb = nbformat.read(chapter.ipynb, as_version=4)
        dirty = False
        for cell in nb.cells:
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
                cell.outputs, cell.execution_count, dirty = [], None, True
        if dirty:
            nbformat.write(nb, chapter.ipynb)
            os.utime(chapter.source)  # keep the text source the newer file of the pair
        written.append(chapter.ipynb)
    return written


# ------------------------------------------------------------------------------------------------
# Execution
# ------------------------------------------------------------------------------------------------


@dataclass
class Execution:
    """What happened to one chapter in an ``execute_all`` call."""

    chapter: str
    status: str  # "executed", "cached" or "failed"
    seconds: float  # wall time of this call (0 when cached)
    last_seconds: float | None  # wall time of the execution that produced the notebook
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _papermill_execute(nb, output: Path, parameters: dict[str, Any], cwd: Path, log_output: bool,
                       progress_bar: bool = False) -> None:
    import papermill

    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    papermill.execute_notebook(
        nb, str(output), parameters=parameters, kernel_name=kernel, cwd=str(cwd),
        progress_bar=progress_bar, log_output=log_output, request_save_on_cell_execute=True,
        # Quiet the kernel's own start-up log (ipykernel warns that a local kernel talks over TCP).
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )


def execute_chapter(
    chapter: Chapter,
    profile: str = "book",
    *,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    cache_dir: Path | None = None,
    log_output: bool = False,
    echo=print,
) -> Execution:
    """Execute one chapter into the cache unless its executed copy is current (see :func:`cache_key`)."""
    root = chapter.root
    nb = read_source(chapter)
    injected, resolved = resolve_parameters(chapter, profile, overrides, nb=nb)
    key = cache_key(chapter, resolved, nb)
    base = cache_dir if cache_dir is not None else executed_dir(root, profile)
    record_path, output = base / f"{chapter.name}.json", base / NOTEBOOK_DIR / f"{chapter.name}.ipynb"
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    if not force and output.is_file() and record.get("key") == key:
        return Execution(chapter.name, "cached", 0.0, record.get("seconds"), resolved)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial.ipynb")
    failed = output.with_suffix(".failed.ipynb")
    shown = " ".join(f"{k}={v!r}" for k, v in injected.items()) or "(book defaults)"
    echo(f"[book] executing {chapter.rel_source} with profile {profile}: {shown}")
    start = time.perf_counter()
    try:
        _papermill_execute(nb, partial, injected, root, log_output)
    except Exception as exc:  # papermill's PapermillExecutionError, kernel death, ...
        seconds = time.perf_counter() - start
        if partial.is_file():
            partial.replace(failed)
        message = str(exc).strip().splitlines()
        summary = message[-1] if message else type(exc).__name__
        shown_path = failed.relative_to(root) if failed.is_relative_to(root) else failed
        echo(f"[book] FAILED {chapter.name} after {seconds:.1f} s: {summary}\n"
             f"[book]   the failed notebook is {shown_path}")
        return Execution(chapter.name, "failed", seconds, None, resolved, error=str(exc))
    seconds = time.perf_counter() - start
    partial.replace(output)
    failed.unlink(missing_ok=True)
    record = {
        "chapter": chapter.name, "source": chapter.rel_source, "profile": profile, "key": key,
        "parameters": resolved, "injected": injected, "seconds": round(seconds, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "hardware": statistics.hardware(),
    }
    record_path.write_text(json.dumps(record, indent=2, default=repr) + "\n", encoding="utf-8")
    echo(f"[book] {chapter.name}: {seconds:.1f} s")
    return Execution(chapter.name, "executed", seconds, seconds, resolved)


def execute_all(
    root: Path | str | None = None,
    profile: str = "book",
    *,
    only: Sequence[str] | None = None,
    force: bool = False,
    cache_dir: Path | None = None,
    log_output: bool = False,
    echo=print,
) -> list[Execution]:
    """Execute every chapter (or those named in ``only``) that is stale, in book order."""
    root = find_root(root)
    selected = chapters(root)
    if only:
        wanted = {get_chapter(n, root).name for n in only}
        selected = [c for c in selected if c.name in wanted]
    return [
        execute_chapter(c, profile, force=force, cache_dir=cache_dir, log_output=log_output, echo=echo)
        for c in selected
    ]


# ------------------------------------------------------------------------------------------------
# Staging and HTML
# ------------------------------------------------------------------------------------------------


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
        for path in _files_below(notebooks):
            if path.suffix in (*SOURCE_SUFFIXES, ".ipynb"):
                continue
            target = stage / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    missing = []
    for chapter in chapters(root):
        executed = _output_path(root, profile, chapter.name)
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
    _check_profile_name(root, profile)
    start = time.perf_counter()
    problems = check_pairs(root) + check_profiles(root)
    if problems:
        raise BookError(
            "the chapters are not ready to build:\n  - " + "\n  - ".join(problems)
            + "\nfix the pairs with `python -m concave_lottery.book sync`"
        )
    _fetch_data(root, echo=echo)
    results = execute_all(root, profile, only=only, force=force, log_output=log_output, echo=echo)
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


def declared_data(chapter: Chapter, nb=None) -> list[str]:
    """The dataset names of the ``# data: <name> [<name> ...]`` comment lines in the chapter's code."""
    return _comment_declarations(nb if nb is not None else read_source(chapter), "data")


def _fetch_data(root: Path, *, echo=print) -> None:
    """Make the datasets the chapters declare (``# data: <name>``) available before executing them.

    Each comes from :func:`concave_lottery.data.load_dataset` (data root, offline mirror, official
    download; md5-checked) and is decoded into its tensor cache once, so a chapter's execution time
    does not include the download. Runs with the repository root as the current directory, like
    the chapters, so the default data root ``data/`` is the same for both.
    """
    names = list(dict.fromkeys(n for c in chapters(root) for n in declared_data(c)))
    if not names:
        return
    from ..data import DATASETS, dataset_status, load_dataset

    with contextlib.chdir(root):
        for name in names:
            if name not in DATASETS:
                raise ParameterError("data", name, "a `# data:` line must name one of " + ", ".join(DATASETS))
            status = dataset_status(name)
            if status.available and status.cached is not False:
                echo(f"[book] dataset {name}: {status.source or 'available'}")
                continue
            echo(f"[book] dataset {name}: fetching and decoding")
            load_dataset(name, device="cpu", progress=False)


# ------------------------------------------------------------------------------------------------
# Rerunning one chapter
# ------------------------------------------------------------------------------------------------


def run_chapter(
    name: str,
    overrides: dict[str, Any] | None = None,
    *,
    profile: str = "book",
    output: Path | str | None = None,
    root: Path | str | None = None,
    log_output: bool = False,
    progress_bar: bool = True,
    echo=print,
) -> Path:
    """Execute one chapter with a profile and extra parameters into ``output`` (no cache involved).

    The equivalent papermill command is printed; the default output is ``_build/runs/<chapter>.ipynb``.
    """
    root = find_root(root)
    chapter = get_chapter(name, root)
    nb = read_source(chapter)
    injected, _ = resolve_parameters(chapter, profile, overrides, nb=nb)
    out = Path(output) if output is not None else root / RUNS_DIR / f"{chapter.name}.ipynb"
    out = out if out.is_absolute() else Path.cwd() / out
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["papermill", chapter.rel_ipynb, str(out)]
    if profile_file(root, profile, chapter.name).is_file():
        cmd += ["-f", f"profiles/{profile}/{chapter.name}.yml"]
    for k, v in (overrides or {}).items():
        cmd += ["-p", k, str(v)]
    echo("[book] " + " ".join(cmd))
    start = time.perf_counter()
    _papermill_execute(nb, out, injected, root, log_output, progress_bar)
    echo(f"[book] {chapter.name} finished in {time.perf_counter() - start:.1f} s: {out}")
    return out


# ------------------------------------------------------------------------------------------------
# Publishing
# ------------------------------------------------------------------------------------------------


def publish(
    root: Path | str | None = None,
    *,
    remote: str = "origin",
    branch: str = "gh-pages",
    push: bool = True,
    allow_profile: Sequence[str] = ("book",),
    message: str | None = None,
    echo=print,
) -> str:
    """Commit ``_build/html`` as the single tree of ``branch`` (GitHub Pages) and push it to ``remote``.

    Works like ``ghp-import``: a commit whose tree is exactly the built site (with ``.nojekyll``),
    whose parent is the branch's previous commit, made with a temporary index so the working tree
    and the current branch are untouched. Only a site built with an allowed profile is published.
    Returns the new commit's hash.
    """
    root = find_root(root)
    html = root / HTML_DIR
    info_path = html / BUILD_INFO
    if not (html / "index.html").is_file() or not info_path.is_file():
        raise BookError(f"no built book in {html}: run `make book` first")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    if info.get("profile") not in allow_profile:
        raise BookError(
            f"{html} was built with profile {info.get('profile')!r}; publish only a "
            f"{'/'.join(allow_profile)} build (`make book PROFILE=book`)"
        )
    (html / ".nojekyll").touch()

    def git(*args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              env={**os.environ, **(env or {})})
        if check and proc.returncode != 0:
            raise BookError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": str(html)}
        git("add", "--all", "--force", ".", env=env)
        tree = git("write-tree", env=env)
    parent = ""
    if push:  # the remote's branch is the truth: build on it, so the push is a fast-forward
        tracking = f"refs/remotes/{remote}/{branch}"
        git("fetch", "--quiet", remote, f"+refs/heads/{branch}:{tracking}", check=False)
        parent = git("rev-parse", "--verify", "--quiet", tracking, check=False)
    if not parent:
        parent = git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    source = info.get("commit") or "unknown"
    msg = message or f"Publish the book (profile {info.get('profile')}, source {source})"
    commit_args = ["commit-tree", tree, "-m", msg] + (["-p", parent] if parent else [])
    author = {"GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "concave-lottery book"),
              "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "book@concave-lottery.invalid")}
    author |= {"GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", author["GIT_AUTHOR_NAME"]),
               "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", author["GIT_AUTHOR_EMAIL"])}
    commit = git(*commit_args, env=author)
    git("update-ref", f"refs/heads/{branch}", commit)
    echo(f"[book] {branch} -> {commit[:12]} (tree of {html.relative_to(root)})")
    if push:
        git("push", remote, f"refs/heads/{branch}:refs/heads/{branch}")
        echo(f"[book] pushed {branch} to {remote}; GitHub Pages serves it when the repository's Pages "
             f"source is the {branch} branch (or use .github/workflows/pages.yml)")
    return commit


# ------------------------------------------------------------------------------------------------
# Command line: `python -m concave_lottery.book ...` and `lottery book ...`
# ------------------------------------------------------------------------------------------------


class _ParamAction(argparse.Action):
    """``-p NAME VALUE`` (repeatable), typed like papermill's ``-p``."""

    def __call__(self, parser, namespace, values, option_string=None):
        name, value = values
        params = dict(getattr(namespace, self.dest) or {})
        params[name] = _coerce_cli_value(value)
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


def add_book_parser(subparsers, prog: str | None = None) -> argparse.ArgumentParser:
    """Add the ``book`` command (build, run, status, check, sync, publish) to an argparse CLI.

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
    sub = book.add_subparsers(dest="book_command", metavar="{build,run,status,check,sync,publish}")

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


if __name__ == "__main__":
    sys.exit(main())
