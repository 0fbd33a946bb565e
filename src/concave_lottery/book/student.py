"""A chapter notebook without its solutions, to hand out (``lottery book student-copy CHAPTER``).

sphinx-exercise's ``hide_solutions`` does not remove the code-carrying solutions (``{solution-start}`` ...
``{solution-end}``, whose code cells run when the book builds), and a notebook shows every ``{solution}``
block as plain text. :func:`strip_solutions` removes both from a notebook: each fenced ``{solution}``
directive, and everything from a ``{solution-start}`` directive to its ``{solution-end}``, code cells
included, even across cells. The exercises stay, and so does everything else.
"""

from __future__ import annotations

import re
from pathlib import Path

from .chapters import get_chapter, read_source
from .layout import HTML_DIR, NOTEBOOK_DIR, BookError, find_root

_FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\s*\{(?P<kind>solution|solution-start|solution-end)\}")
STUDENT_DIR = "_build/student"


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence opened at ``start`` (a line of ≥ as many fence characters)."""
    for j in range(start + 1, len(lines)):
        text = lines[j].strip()
        if text and set(text) == {fence[0]} and len(text) >= len(fence):
            return j
    raise BookError(f"the {{solution}} block opened by {lines[start]!r} is never closed")


def strip_solutions(nb):
    """A copy of notebook ``nb`` without its solutions (see the module docstring), and without outputs.
    Returns ``(notebook, number of solutions removed)``."""
    import copy

    nb = copy.deepcopy(nb)
    nb.metadata.pop("jupytext", None)  # a handed-out notebook is not paired with a source
    cells, inside, removed = [], False, 0
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            if not inside:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
                cells.append(cell)
            continue
        lines, kept, i = cell.source.splitlines(), [], 0
        while i < len(lines):
            match = _FENCE.match(lines[i])
            if match:
                end = _closing(lines, i, match["fence"])
                kind = match["kind"]
                if kind == "solution-start":
                    if inside:
                        raise BookError(f"a {{solution-start}} inside another solution: {lines[i]!r}")
                    inside = True
                elif kind == "solution-end":
                    if not inside:
                        raise BookError("a {solution-end} without its {solution-start}")
                    inside, removed = False, removed + 1
                elif not inside:
                    removed += 1
                i = end + 1
                continue
            if not inside:
                kept.append(lines[i])
            i += 1
        text = "\n".join(kept).strip("\n")
        if text.strip():
            cell.source = text
            cells.append(cell)
    if inside:
        raise BookError("a {solution-start} without its {solution-end}")
    nb.cells = cells
    return nb, removed


def student_copy(chapter_name: str, output: Path | str | None = None, root: Path | str | None = None) -> Path:
    """Write chapter ``chapter_name``'s notebook without solutions (and without outputs) to ``output``
    (default ``_build/student/<chapter>.ipynb``); returns the path written."""
    import nbformat

    root = find_root(root)
    chapter = get_chapter(chapter_name, root)
    nb, _ = strip_solutions(read_source(chapter))
    path = Path(output) if output is not None else root / STUDENT_DIR / f"{chapter.name}.ipynb"
    if any(path.resolve().is_relative_to((root / d).resolve()) for d in (HTML_DIR, NOTEBOOK_DIR)):
        raise BookError(f"{path} is the book's own file: write the student copy elsewhere (-o)")
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
