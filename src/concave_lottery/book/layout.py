"""Where the book lives in the repository, and the error every book command raises.

All paths relative to the repository root (the nearest folder holding ``_toc.yml``)::

    _config.yml, _toc.yml          the Jupyter Book (jupyter-book >=1.0.4,<2)
    book/                          narrative pages (MyST markdown) and references.bib
    notebooks/<chapter>.md         chapter SOURCE: a jupytext MyST-markdown notebook ...
    notebooks/<chapter>.ipynb      ... paired with this .ipynb (kept in sync, no outputs)
    profiles/<profile>/<chapter>.yml
                                   papermill parameter files; profiles: smoke, book, paper
    _build/executed/<profile>/     executed notebooks, cache records, timings.json
    _build/stage/<profile>/        the book tree that jupyter-book actually builds
    _build/html/                   the built site
    _build/runs/<chapter>.ipynb    a chapter rerun with other parameters (``lottery book run``)
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError

SOURCE_SUFFIXES = (".md", ".py")
NOTEBOOK_DIR = "notebooks"
LIBRARY_DIR = Path("src") / "concave_lottery"
EXECUTED_DIR = Path("_build") / "executed"
STAGE_DIR = Path("_build") / "stage"
HTML_DIR = Path("_build") / "html"
RUNS_DIR = Path("_build") / "runs"
BUILD_INFO = "build-info.json"
#: Copied from the repository root into the staging tree (besides the executed notebooks).
BOOK_TREE = ("_config.yml", "_toc.yml", "book", "_static", "examples")
_IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints"}
_IGNORED_SUFFIXES = {".pyc", ".pyo"}


class BookError(UserError):
    """The book cannot be built as asked; the message says what is wrong and how to fix it."""


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


def files_below(path: Path) -> list[Path]:
    """``path`` itself if it is a file, else every file below it (sorted; no caches or bytecode)."""
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.rglob("*")
        if p.is_file() and not (_IGNORED_PARTS & set(p.parts)) and p.suffix not in _IGNORED_SUFFIXES
    )


def executed_dir(root: Path, profile: str) -> Path:
    """``_build/executed/<profile>/``: the executed notebooks of a profile and their cache records."""
    return root / EXECUTED_DIR / profile


def executed_notebook(root: Path, profile: str, name: str) -> Path:
    """The executed copy of chapter ``name`` in ``profile``."""
    return executed_dir(root, profile) / NOTEBOOK_DIR / f"{name}.ipynb"
