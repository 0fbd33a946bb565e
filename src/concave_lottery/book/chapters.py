"""The chapters: discovery from ``_toc.yml``, their jupytext sources, the ``# reads:`` and ``# data:``
declarations of their code cells, and the ``.md``/``.ipynb`` pairs (check and sync)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ParameterError
from .layout import NOTEBOOK_DIR, SOURCE_SUFFIXES, BookError, find_root


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


def comment_declarations(nb, key: str) -> list[str]:
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


def declared_reads(chapter: Chapter, nb=None) -> list[str]:
    """The globs of the ``# reads: <glob> [<glob> ...]`` comment lines in the chapter's code cells."""
    return comment_declarations(nb if nb is not None else read_source(chapter), "reads")


def declared_data(chapter: Chapter, nb=None) -> list[str]:
    """The dataset names of the ``# data: <name> [<name> ...]`` comment lines in the chapter's code."""
    return comment_declarations(nb if nb is not None else read_source(chapter), "data")


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
