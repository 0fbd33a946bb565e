"""Every chapter of the book executes in the `smoke` profile, and the book builds from the result.

The chapters run with papermill through the pipeline (``concave_lottery.book``) in a temporary
copy of the book, so the tests never touch ``_build/`` of the checkout (CI builds the `book`
profile there first, and the browser test opens that build). The HTML is built from the copy
with jupyter-book, execution off and warnings as errors, exactly as ``make book`` does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from concave_lottery.book import pipeline as book

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = [c.name for c in book.chapters(ROOT)]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_copy(tmp_path_factory):
    """A copy of the book tree with every chapter executed in the smoke profile."""
    root = tmp_path_factory.mktemp("book") / "repo"
    root.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, root / name)
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")
    # examples/: book/own_loop.md includes examples/own_loop.py (literalinclude)
    for name in ("book", "notebooks", "profiles", "src", "results", "sweeps", "examples"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, root / name, ignore=ignore)
    log: list[str] = []
    results = {r.chapter: r for r in book.execute_all(root, "smoke", echo=log.append)}
    return root, results, log


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_executes_in_smoke(smoke_copy, name):
    root, results, log = smoke_copy
    result = results[name]
    assert result.status == "executed", f"{name} failed:\n{result.error}\n" + "\n".join(log)
    print(f"{name}: {result.seconds:.0f} s in the smoke profile")  # a figure, not a limit: no timed tests
    nb = nbformat.read(root / "_build" / "executed" / "smoke" / "notebooks" / f"{name}.ipynb", 4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, "the smoke profile's parameters were not injected"
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    hidden = [c for c in nb.cells if "hide-input" in c.metadata.get("tags", [])]
    if hidden:
        assert figures, f"{name} has plotting cells but produced no figure"


def test_book_builds_from_the_smoke_execution(smoke_copy):
    root, results, _ = smoke_copy
    assert all(r.status == "executed" for r in results.values())
    html = book.build_html(root, "smoke", echo=lambda *a: None)  # -W --keep-going: warnings fail
    assert (html / "index.html").is_file()
    for name in CHAPTERS:
        page = (html / "notebooks" / f"{name}.html").read_text(encoding="utf-8")
        assert "Rerun this chapter" in page
        assert "https://cdn" not in page
        if 'class="math' in page:  # Sphinx loads MathJax only on pages with math
            assert "mathjax/tex-chtml.js" in page
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_report_lists_every_claim(smoke_copy):
    """The reproducibility report shows a row, with a verdict, for every claim the claims module knows."""
    from concave_lottery.evidence import claims

    root, results, _ = smoke_copy
    assert results["report"].status == "executed"
    nb = nbformat.read(root / "_build" / "executed" / "smoke" / "notebooks" / "report.ipynb", 4)
    shown = "\n".join("".join(o.get("data", {}).get("text/markdown", ""))
                      for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    missing = [c["id"] for c in claims.PAPER_CLAIMS if claims.CLAIM_NAMES[c["id"]] not in shown]
    assert missing == [], f"claims missing from the report: {missing}"
    rows = [line for line in shown.splitlines() if line.startswith("| ") and "**" in line]
    assert len(rows) >= len(claims.PAPER_CLAIMS)  # every row carries its verdict in bold
