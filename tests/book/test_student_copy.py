"""`lottery book student-copy CHAPTER`: a chapter notebook without its solutions, to hand out (issue 17)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from concave_lottery.book.chapters import get_chapter, read_source
from concave_lottery.book.cli import main
from concave_lottery.book.layout import BookError
from concave_lottery.book.student import strip_solutions

ROOT = Path(__file__).resolve().parents[2]


def _nb(*cells: tuple[str, str]):
    nb = nbformat.v4.new_notebook()
    nb.metadata["jupytext"] = {"formats": "ipynb,md:myst"}
    make = {"md": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    nb.cells = [make[kind](text) for kind, text in cells]
    return nb


def test_both_kinds_of_solution_go_and_everything_else_stays():
    nb = _nb(
        ("md", "# Chapter\n\n```{exercise}\n:label: one\n\nDo it.\n```\n\n"
               "````{solution} one\n:class: dropdown\n\nInner code:\n```python\nx = 1\n```\n````\n\nAfter one."),
        ("code", "setup = 1"),
        ("md", "```{exercise}\n:label: two\n\nRun it.\n```\n\n```{solution-start} two\n:class: dropdown\n```\n\n"
               "Solution text."),
        ("code", "answer = 42\nassert answer"),
        ("md", "```{solution-end}\n```\n\n:::{exercise}\n:label: three\nLast.\n:::\n\n:::{solution} three\nNo.\n:::"),
    )
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="out")]
    student, removed = strip_solutions(nb)
    text = "\n".join(c.source for c in student.cells)
    assert removed == 3
    assert "solution" not in text and "Inner code" not in text and "answer = 42" not in text
    assert "No." not in text and "Solution text" not in text
    for kept in ("# Chapter", ":label: one", "After one.", ":label: two", ":label: three", "Last."):
        assert kept in text
    assert [c.cell_type for c in student.cells] == ["markdown", "code", "markdown", "markdown"]
    assert student.cells[1].outputs == [] and "jupytext" not in student.metadata
    assert "answer = 42" in nb.cells[3].source  # the input notebook is untouched


@pytest.mark.parametrize("cells", [
    [("md", "```{solution-start} a\n```\ntext")],
    [("md", "```{solution-end}\n```")],
    [("md", "```{solution} a\nnever closed")],
])
def test_unbalanced_solutions_are_refused(cells):
    with pytest.raises(BookError):
        strip_solutions(_nb(*cells))


def test_the_regularizers_chapter_for_students(tmp_path, capsys):
    """The real chapter: every exercise kept, no solution left, the code of the code-carrying solutions gone
    and every other code cell kept, in order."""
    out = tmp_path / "regularizers-student.ipynb"
    assert main(["student-copy", "regularizers", "--root", str(ROOT), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    student = nbformat.read(out, as_version=4)
    nbformat.validate(student)
    full = read_source(get_chapter("regularizers", ROOT))
    text = "\n".join(c.source for c in student.cells)
    full_text = "\n".join(c.source for c in full.cells)
    assert text.count("{exercise}") == full_text.count("{exercise}") >= 3
    assert "{solution" not in text and "{solution" in full_text
    student_code = [c.source for c in student.cells if c.cell_type == "code"]
    full_code = [c.source for c in full.cells if c.cell_type == "code"]
    assert len(student_code) < len(full_code)
    assert all(code in full_code for code in student_code)
    assert "mask_log_small" not in text  # the code of the ε = 0.01 solution


def test_the_copy_is_never_written_over_the_book(capsys):
    chapter = get_chapter("regularizers", ROOT)
    before = chapter.ipynb.read_bytes()
    assert main(["student-copy", "regularizers", "--root", str(ROOT), "-o", str(chapter.ipynb)]) == 2
    assert "write the student copy elsewhere" in capsys.readouterr().err
    assert chapter.ipynb.read_bytes() == before
