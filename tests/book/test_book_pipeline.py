"""The book pipeline: chapter conventions, the pair check, parameters and profiles, the cache key,
execution with papermill, the command line, and publishing to a gh-pages branch."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from conftest import chapter_source

from concave_lottery.book import cli as book_cli
from concave_lottery.book import parameters as book_parameters
from concave_lottery.book import pipeline as book
from concave_lottery.errors import ParameterError

ROOT = Path(__file__).resolve().parents[2]

MINI = chapter_source("Mini", '# reads: results/mini/\nprint("product", a * b, name)',
                      parameters='a = 1\nb = 0.5\nname = "x"',
                      tail=":::{admonition} Rerun this chapter\n```bash\n"
                           "papermill notebooks/mini.ipynb out.ipynb -p a 3\n```\n:::\n")


def make_book(tmp_path: Path, source: str = MINI) -> Path:
    """A minimal repository: one chapter `mini`, a smoke profile, a library, a result file."""
    root = tmp_path / "repo"
    (root / "book").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "profiles" / "smoke").mkdir(parents=True)
    (root / "src" / "concave_lottery").mkdir(parents=True)
    (root / "results" / "mini").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/mini\n")
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    (root / "book" / "intro.md").write_text("# Intro\n")
    (root / "notebooks" / "mini.md").write_text(source)
    (root / "profiles" / "smoke" / "mini.yml").write_text("a: 2\n")
    (root / "src" / "concave_lottery" / "lib.py").write_text("X = 1\n")
    (root / "results" / "mini" / "run.csv").write_text("acc\n0.9\n")
    book.sync_pairs(root)
    return root


# ------------------------------------------------------------------------------------------------
# The real book: conventions every chapter must follow
# ------------------------------------------------------------------------------------------------


REAL_CHAPTERS = book.chapters(ROOT)


def test_the_book_has_its_chapters():
    names = [c.name for c in REAL_CHAPTERS]
    assert names[:3] == ["scorecard", "regularizers", "theory"]  # the claims scorecard comes first


def test_pairs_are_in_sync_and_profiles_are_valid():
    assert book.check_pairs(ROOT) == []
    assert book.check_profiles(ROOT) == []


@pytest.mark.parametrize("chapter", REAL_CHAPTERS, ids=lambda c: c.name)
def test_chapter_conventions(chapter):
    nb = jupytext.read(chapter.source)
    params = book.declared_parameters(chapter, nb)  # first code cell tagged `parameters`
    assert params, f"{chapter.name}: empty parameters cell"
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and "Rerun this chapter" in last.source, (
        f"{chapter.name} must end with a 'Rerun this chapter' box")
    assert f"papermill notebooks/{chapter.name}.ipynb" in last.source
    # The rerun command only uses parameters the chapter declares.
    for name in re.findall(r"-p ([a-z_][a-z0-9_]*) ", last.source):
        assert name in params, f"{chapter.name}: rerun box sets unknown parameter {name}"
    drawing = re.compile(r"\bplt\.|plotting\.plot_|\bsns\.\w+plot|\bax\.(plot|bar|step|scatter)\(")
    for cell in nb.cells:
        if cell.cell_type == "code" and drawing.search(cell.source):
            assert "hide-input" in cell.metadata.get("tags", []), (
                f"{chapter.name}: a plotting cell is not tagged hide-input:\n{cell.source[:200]}")


def test_every_chapter_runs_in_every_profile_it_names():
    for profile_dir in (ROOT / "profiles").iterdir():
        for chapter in REAL_CHAPTERS:
            injected, resolved = book.resolve_parameters(chapter, profile_dir.name)
            # the profile's file is injected as written, and the chapter runs with exactly its declared names
            assert injected == book.profile_parameters(ROOT, profile_dir.name, chapter.name)
            assert set(resolved) == set(book.declared_parameters(chapter))


def test_config_is_offline_and_strict():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    extensions = cfg["sphinx"]["config"]["extensions"]
    assert "sphinx.ext.intersphinx" not in extensions and "sphinx_thebe" not in extensions
    for needed in ("sphinx_proof", "sphinx_exercise", "sphinxcontrib.bibtex", "sphinx-mathjax-offline"):
        assert needed in extensions
    assert cfg["execute"]["execute_notebooks"] == "off"
    assert cfg["launch_buttons"]["thebe"] is False and not cfg["launch_buttons"]["binderhub_url"]
    assert "intersphinx_mapping" not in cfg["sphinx"]["config"]


def test_citations_exist_in_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    used = set()
    for path in [*ROOT.glob("book/*.md"), *ROOT.glob("notebooks/*.md")]:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", path.read_text()):
            used.update(k.strip() for k in group.split(","))
    assert used, "no citation found"
    assert used <= keys, f"unknown citation keys: {sorted(used - keys)}"
    for key in ("fracastoro2025lottery", "frankle2019lottery", "frankle2020linear", "savarese2020winning",
                "openlth"):
        assert key in used


# ------------------------------------------------------------------------------------------------
# Pair check
# ------------------------------------------------------------------------------------------------


def test_pair_check_detects_an_edited_source(tmp_path):
    root = make_book(tmp_path)
    assert book.check_pairs(root) == []
    src = root / "notebooks" / "mini.md"
    src.write_text(src.read_text().replace('print("product"', 'print("changed"'))
    problems = book.check_pairs(root)
    assert len(problems) == 1 and "out of sync" in problems[0]
    book.sync_pairs(root)  # the newer file (the edited source) wins
    assert book.check_pairs(root) == []
    assert "changed" in nbformat.read(root / "notebooks" / "mini.ipynb", 4).cells[2].source


def test_pair_check_detects_a_missing_notebook_and_outputs(tmp_path):
    root = make_book(tmp_path)
    ipynb = root / "notebooks" / "mini.ipynb"
    nb = nbformat.read(ipynb, 4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="x\n")]
    nbformat.write(nb, ipynb)
    assert any("outputs" in p for p in book.check_pairs(root))
    ipynb.unlink()
    assert any("missing" in p for p in book.check_pairs(root))


def test_build_refuses_an_out_of_sync_pair(tmp_path):
    root = make_book(tmp_path)
    src = root / "notebooks" / "mini.md"
    src.write_text(src.read_text() + "\nMore text.\n")
    with pytest.raises(book.BookError, match="out of sync"):
        book.build(root, "smoke", echo=lambda *a: None)


def test_parameters_cell_is_required(tmp_path):
    root = make_book(tmp_path, MINI.replace(":tags: [parameters]\n", ""))
    with pytest.raises(book.BookError, match="tagged `parameters`"):
        book.declared_parameters(book.get_chapter("mini", root))


# ------------------------------------------------------------------------------------------------
# Parameters and profiles
# ------------------------------------------------------------------------------------------------


def test_resolve_parameters(tmp_path):
    root = make_book(tmp_path)
    chapter = book.get_chapter("mini", root)
    assert book.resolve_parameters(chapter, "book") == ({}, {"a": 1, "b": 0.5, "name": "x"})
    injected, resolved = book.resolve_parameters(chapter, "smoke", {"b": 0.25})
    assert injected == {"a": 2, "b": 0.25} and resolved == {"a": 2, "b": 0.25, "name": "x"}
    with pytest.raises(ParameterError, match="has no such parameter"):
        book.resolve_parameters(chapter, "smoke", {"c": 1})
    with pytest.raises(ParameterError, match="with a dot"):
        book.resolve_parameters(chapter, "smoke", {"b": "1e-6"})
    with pytest.raises(ParameterError, match="profile must be one of"):
        book.resolve_parameters(chapter, "nonsense")


def test_profile_with_unknown_parameter_is_reported(tmp_path):
    root = make_book(tmp_path)
    (root / "profiles" / "smoke" / "mini.yml").write_text("a: 2\ntypo: 3\n")
    (root / "profiles" / "smoke" / "gone.yml").write_text("a: 2\n")
    problems = book.check_profiles(root)
    assert any("typo" in p for p in problems) and any("gone.yml names no chapter" in p for p in problems)


def test_cli_values_are_typed_like_papermill():
    coerce = book_parameters.coerce_cli_value
    assert coerce("3") == 3 and coerce("1e-6") == 1e-6 and coerce("0.1") == 0.1
    assert coerce("True") is True and coerce("none") is None and coerce("log") == "log"
    assert coerce("[1.0, 2]") == [1.0, 2]


# ------------------------------------------------------------------------------------------------
# Cache key
# ------------------------------------------------------------------------------------------------


def _key(root: Path, profile: str = "smoke") -> str:
    return book.chapter_status(book.get_chapter("mini", root), profile).key


def test_cache_key_tracks_source_parameters_library_and_reads(tmp_path):
    root = make_book(tmp_path)
    k0 = _key(root)
    assert _key(root) == k0, "the key must be deterministic"

    (root / "book" / "intro.md").write_text("# Intro, edited\n")
    assert _key(root) == k0, "a narrative page is not part of a chapter's key"

    lib = root / "src" / "concave_lottery" / "lib.py"
    lib.write_text("X = 2\n")
    k_lib = _key(root)
    assert k_lib != k0, "editing the library source must mark the chapter stale"
    (root / "src" / "concave_lottery" / "new_module.py").write_text("Y = 1\n")
    assert _key(root) != k_lib, "a new library file must mark the chapter stale"
    (root / "src" / "concave_lottery" / "new_module.py").unlink()
    lib.write_text("X = 1\n")
    assert _key(root) == k0, "reverting the library restores the key"

    (root / "src" / "concave_lottery" / "__pycache__").mkdir()
    (root / "src" / "concave_lottery" / "__pycache__" / "lib.cpython-311.pyc").write_bytes(b"\0")
    assert _key(root) == k0, "bytecode caches are not source"

    (root / "results" / "mini" / "run.csv").write_text("acc\n0.8\n")
    assert _key(root) != k0, "a result file the chapter reads is part of its key"
    (root / "results" / "mini" / "run.csv").write_text("acc\n0.9\n")

    (root / "profiles" / "smoke" / "mini.yml").write_text("a: 3\n")
    assert _key(root) != k0, "the resolved parameters are part of the key"
    assert _key(root, "book") != _key(root, "smoke")


def test_declared_reads_and_data(tmp_path):
    lines = "# reads: results/a.csv, results/b/  # two of them\n# data: mnist"
    root = make_book(tmp_path, MINI.replace("# reads: results/mini/", lines))
    chapter = book.get_chapter("mini", root)
    assert book.declared_reads(chapter) == ["results/a.csv", "results/b/"]
    assert book.declared_data(chapter) == ["mnist"]


def test_declared_datasets_are_checked_before_executing(tmp_path):
    root = make_book(tmp_path, MINI.replace("# reads: results/mini/", "# data: no-such-dataset"))
    with pytest.raises(ParameterError, match="must name one of"):
        book.build(root, "smoke", html=False, echo=lambda *a: None)


# ------------------------------------------------------------------------------------------------
# Execution (a real kernel; the chapter is tiny)
# ------------------------------------------------------------------------------------------------


def _outputs(path: Path) -> str:
    nb = nbformat.read(path, 4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_execute_caches_and_reexecutes_when_the_library_changes(tmp_path):
    root = make_book(tmp_path)
    chapter = book.get_chapter("mini", root)
    quiet = dict(echo=lambda *a: None)
    first = book.execute_chapter(chapter, "smoke", **quiet)
    assert first.status == "executed" and first.seconds > 0
    out = root / "_build" / "executed" / "smoke" / "notebooks" / "mini.ipynb"
    assert "product 1.0 x" in _outputs(out)  # a = 2 from profiles/smoke/mini.yml
    record = json.loads((root / "_build" / "executed" / "smoke" / "mini.json").read_text())
    assert record["parameters"] == {"a": 2, "b": 0.5, "name": "x"} and record["key"] == _key(root)

    assert book.execute_chapter(chapter, "smoke", **quiet).status == "cached"
    assert not book.chapter_status(chapter, "smoke").stale

    (root / "src" / "concave_lottery" / "lib.py").write_text("X = 2\n")
    assert book.chapter_status(chapter, "smoke").stale
    assert book.execute_chapter(chapter, "smoke", **quiet).status == "executed"
    assert book.execute_chapter(chapter, "smoke", force=True, **quiet).status == "executed"


def test_a_failing_chapter_is_reported_with_its_notebook(tmp_path):
    root = make_book(tmp_path, MINI.replace('print("product", a * b, name)', 'raise RuntimeError("boom")'))
    chapter = book.get_chapter("mini", root)
    result = book.execute_chapter(chapter, "smoke", echo=lambda *a: None)
    assert result.status == "failed" and "boom" in result.error
    assert (root / "_build" / "executed" / "smoke" / "notebooks" / "mini.failed.ipynb").is_file()
    assert not (root / "_build" / "executed" / "smoke" / "notebooks" / "mini.ipynb").exists()
    assert book.build(root, "smoke", html=False, echo=lambda *a: None) == 1


def test_run_chapter_with_overrides(tmp_path):
    root = make_book(tmp_path)
    lines: list[str] = []
    out = book.run_chapter("mini", {"b": 2.0}, profile="smoke", output=tmp_path / "out.ipynb", root=root,
                           progress_bar=False, echo=lines.append)
    assert "product 4.0 x" in _outputs(out)
    assert "papermill notebooks/mini.ipynb" in lines[0] and "-f profiles/smoke/mini.yml -p b 2.0" in lines[0]


def test_timings_are_recorded(tmp_path):
    root = make_book(tmp_path)
    assert book.build(root, "smoke", html=False, echo=lambda *a: None) == 0
    timings = json.loads((root / "_build" / "executed" / "smoke" / "timings.json").read_text())
    assert timings["profile"] == "smoke" and timings["chapters"]["mini"]["status"] == "executed"
    assert timings["chapters"]["mini"]["last_execution_seconds"] > 0


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------


def test_add_book_parser_plugs_into_an_argparse_cli():
    parser = argparse.ArgumentParser(prog="lottery")
    book.add_book_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["book", "run", "theory", "-p", "eps", "0.01", "-p", "n_instances", "3",
                              "--profile", "smoke"])
    assert args.func is book_cli._cmd_run
    assert args.params == {"eps": 0.01, "n_instances": 3} and args.profile == "smoke"
    for command in ("build", "status", "check", "sync", "publish"):
        assert callable(parser.parse_args(["book", command]).func)


def test_module_cli_check_and_status(tmp_path, capsys):
    root = make_book(tmp_path)
    assert book.main(["check", "--root", str(root)]) == 0
    assert book.main(["status", "--root", str(root), "--profile", "smoke"]) == 0
    assert "mini" in capsys.readouterr().out
    assert book.main(["run", "nope", "--root", str(root)]) == 2  # a UserError: message, exit 2
    assert "chapter must be one of mini" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "concave_lottery.book", "--help"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and "build" in proc.stdout and "publish" in proc.stdout


# ------------------------------------------------------------------------------------------------
# Publishing
# ------------------------------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def _fake_site(root: Path, profile: str) -> None:
    html = root / "_build" / "html"
    (html / "notebooks").mkdir(parents=True, exist_ok=True)
    (html / "index.html").write_text("<html>book</html>")
    (html / "notebooks" / "theory.html").write_text("<html>theory</html>")
    (html / "_static").mkdir(exist_ok=True)
    (html / "_static" / "x.js").write_text("1")
    (html / book.BUILD_INFO).write_text(json.dumps({"profile": profile, "commit": None}))


def test_publish_pushes_the_site_to_gh_pages(tmp_path):
    remote = tmp_path / "remote.git"
    _git(tmp_path, "init", "--bare", "-q", str(remote))
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    _git(root, "remote", "add", "origin", str(remote))
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")

    _fake_site(root, "smoke")
    with pytest.raises(book.BookError, match="profile 'smoke'"):
        book.publish(root, echo=lambda *a: None)

    _fake_site(root, "book")
    first = book.publish(root, echo=lambda *a: None)
    files = _git(remote, "ls-tree", "-r", "--name-only", "gh-pages").splitlines()
    expected = {"index.html", ".nojekyll", "notebooks/theory.html", "_static/x.js", "build-info.json"}
    assert expected <= set(files)
    assert _git(remote, "rev-parse", "gh-pages") == first

    (root / "_build" / "html" / "index.html").write_text("<html>book v2</html>")
    second = book.publish(root, echo=lambda *a: None)
    assert _git(remote, "rev-parse", "gh-pages^") == first
    assert _git(remote, "show", f"{second}:index.html") == "<html>book v2</html>"
    # Published from another clone meanwhile: the next publish builds on the remote's branch.
    other = tmp_path / "other"
    _git(tmp_path, "clone", "-q", str(remote), str(other))
    _git(other, "checkout", "-q", "gh-pages")
    (other / "CNAME").write_text("book.example.org\n")
    _git(other, "add", "CNAME")
    _git(other, "-c", "user.name=x", "-c", "user.email=x@y", "commit", "-q", "-m", "cname")
    _git(other, "push", "-q", "origin", "gh-pages")
    remote_head = _git(remote, "rev-parse", "gh-pages")
    third = book.publish(root, echo=lambda *a: None)
    assert _git(remote, "rev-parse", "gh-pages") == third
    assert _git(remote, "rev-parse", "gh-pages^") == remote_head
    # The current branch and the working tree are untouched (the branch is still unborn here).
    head = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=root, capture_output=True)
    assert head.returncode != 0


def test_source_downloads_sit_beside_the_executed_notebooks(tmp_path):
    """Every chapter page offers .ipynb (Sphinx's copy of the executed notebook) and .md (its jupytext
    source, copied by the pipeline next to it; book/_static/downloads.js lists it)."""
    root = make_book(tmp_path)
    html = tmp_path / "site"
    written = book.add_source_downloads(root, html)
    target = html / "_sources" / "notebooks" / "mini.md"
    assert written == [target]
    assert target.read_text() == (root / "notebooks" / "mini.md").read_text()
    assert jupytext.reads(target.read_text(), fmt="md:myst").cells  # opens as a notebook
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "downloads.js" in cfg["sphinx"]["config"]["html_js_files"]
    script = (ROOT / "book" / "_static" / "downloads.js").read_text()
    assert "btn-download-source-button" in script and 'setAttribute("download"' in script
    assert "http" not in script  # nothing fetched


def test_statistics_page_reports_each_chapter(tmp_path):
    """book/statistics.md of the staged book is generated from the chapter records and the last build:
    seconds, profile, cache hit or miss, hardware."""
    from concave_lottery.book import statistics

    root = make_book(tmp_path)
    (root / "book" / "statistics.md").write_text("# Execution statistics\n\nplaceholder\n")
    exdir = book.executed_dir(root, "smoke")
    (exdir / "notebooks").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), exdir / "notebooks" / "mini.ipynb")
    (exdir / "mini.json").write_text(json.dumps({"chapter": "mini", "profile": "smoke", "seconds": 12.25,
                                                 "finished": "2026-01-01T00:00:00+0000",
                                                 "hardware": "Test CPU (2 cores)"}))
    statistics.write_last_build(exdir, "smoke", [book.Execution("mini", "cached", 0.0, 12.25)])
    page = (book.stage_book(root, "smoke") / "book" / "statistics.md").read_text()
    assert "placeholder" not in page
    row = next(line for line in page.splitlines() if "notebooks/mini" in line)
    assert "| smoke |" in row and "cache hit" in row and "12.2" in row and "Test CPU (2 cores)" in row
    statistics.write_last_build(exdir, "smoke", [book.Execution("mini", "executed", 12.25, 12.25)])
    assert "executed (cache miss)" in statistics.statistics_page(exdir, "smoke", ["mini"])
    assert "never executed" in statistics.statistics_page(exdir, "smoke", ["other"])
    assert statistics.hardware() and "cores" in statistics.hardware()
