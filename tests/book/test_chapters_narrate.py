"""Chapters narrate (issue 20 item 5): the logic lives in the library, the chapters call it.

A chapter's code cells (``notebooks/*.md``) define no function outside its "## Exercises" section,
and all chapters together hold at most :data:`MAX_CODE_LINES` non-blank code lines outside their
exercises (cell options such as ``:tags:`` or a ``---`` YAML options block not counted). The same count from the shell::

    awk 'FNR==1{ex=0} /^## /{ex=($0 ~ /^## Exercises/)} /^```\\{code-cell\\}/{c=1;next} c&&/^```/{c=0;next}
         c&&!ex&&!/^:tags:/&&!/^[[:space:]]*$/{n++} END{print n}' notebooks/*.md
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_CODE_LINES = 800


def chapter_code(path: Path) -> list[str]:
    """The non-blank code lines of a chapter's code cells outside its "## Exercises" section."""
    lines, in_cell, in_exercises, in_options, first = [], False, False, False, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not in_cell and line.startswith("## "):
            in_exercises = line.startswith("## Exercises")
        if line.startswith("```{code-cell}"):
            in_cell, first = True, True
            continue
        if in_cell and line.startswith("```"):
            in_cell = False
            continue
        if in_cell and line.strip() == "---" and (first or in_options):  # a cell's YAML options block
            in_options, first = not in_options, False
            continue
        first = False
        if in_cell and not in_exercises and not in_options and line.strip() and not line.startswith(":tags:"):
            lines.append(line)
    return lines


def test_the_counter_skips_exercises_and_cell_options(tmp_path):
    page = tmp_path / "x.md"
    page.write_text("# t\n```{code-cell} ipython3\n:tags: [hide-input]\n\na = 1\n```\n## Exercises\n"
                    "```{code-cell} ipython3\ndef f():\n    pass\n```\n## After\n```{code-cell} ipython3\nb = 2\n```\n"
                    "```{code-cell} ipython3\n---\nmystnb:\n  markdown_format: gfm\n---\nc = 3\n```\n")
    assert chapter_code(page) == ["a = 1", "b = 2", "c = 3"]


def test_no_function_definitions_outside_exercises():
    defs = [f"{path.name}: {line.strip()}" for path in sorted((ROOT / "notebooks").glob("*.md"))
            for line in chapter_code(path) if re.match(r"\s*(async\s+)?def |\s*class ", line)]
    assert not defs, "move these into the library (evidence/narrate.py, evidence/plotting.py, ...):\n" + "\n".join(defs)


def test_chapters_stay_short():
    counts = {path.name: len(chapter_code(path)) for path in sorted((ROOT / "notebooks").glob("*.md"))}
    print(counts, sum(counts.values()))  # a figure for the log
    assert sum(counts.values()) <= MAX_CODE_LINES, counts
