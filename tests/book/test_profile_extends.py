"""Profiles that extend another (``profiles/<p>/EXTENDS``: the ``rehearse-paper`` profile is ``paper`` plus a
few parameters), the inputs a chapter's parameters name in its cache key, and the second pass of a build
that executes again a chapter whose inputs a later chapter changed (the paper profile's scorecard)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import chapter_source

from concave_lottery.book import cache as book_cache
from concave_lottery.book import pipeline as book
from concave_lottery.book.layout import BookError
from concave_lottery.book.parameters import profile_chain

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = book.chapters(ROOT)


def _yml(profile: str, chapter: str) -> dict:
    path = ROOT / "profiles" / profile / f"{chapter}.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_rehearse_paper_is_the_paper_profile_with_its_own_parameters_on_top(chapter):
    assert profile_chain(ROOT, "rehearse-paper") == ["paper", "rehearse-paper"]
    injected, resolved = book.resolve_parameters(chapter, "rehearse-paper")
    assert injected == {**_yml("paper", chapter.name), **_yml("rehearse-paper", chapter.name)}
    assert set(resolved) == set(book.declared_parameters(chapter))
    # the rehearsal's runs and their results stay out of the committed results/ and never use the paper's spec
    for name, value in injected.items():
        if name.endswith(("_root", "root")) and isinstance(value, str) and value:
            assert value.startswith("_rehearsal/") or name == "live_root", (chapter.name, name, value)
        if "spec" in name:
            assert "sweeps/paper.toml" not in json.dumps(value), (chapter.name, name, value)


RERUN = (":::{{admonition}} Rerun this chapter\n```bash\n"
         "papermill notebooks/{name}.ipynb out.ipynb -p root out\n```\n:::\n")


def make_book(tmp_path: Path) -> Path:
    """Two chapters: ``reader`` (first) counts the files in ``root``, ``writer`` (second) writes one there, as
    the paper profile's scorecard reads the runs that the lottery chapters after it train."""
    root = tmp_path / "repo"
    for folder in ("book", "notebooks", "profiles/smoke", "profiles/base", "profiles/child", "src/concave_lottery"):
        (root / folder).mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/reader\n"
                                   "  - file: notebooks/writer\n")
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    (root / "book" / "intro.md").write_text("# Intro\n")
    (root / "src" / "concave_lottery" / "lib.py").write_text("X = 1\n")
    code = {"reader": "import os\nprint('count', len(os.listdir(root)) if os.path.isdir(root) else 0)",
            "writer": "import os\nos.makedirs(root, exist_ok=True)\n"
                      "open(os.path.join(root, 'run.json'), 'w').write('{}')"}
    for name, body in code.items():
        (root / "notebooks" / f"{name}.md").write_text(
            chapter_source(name, body, parameters='root = "out"', tail=RERUN.format(name=name)))
        (root / "profiles" / "smoke" / f"{name}.yml").write_text("root: _build/smoke-out\n")
    (root / "profiles" / "base" / "reader.yml").write_text("root: base-out\n")
    (root / "profiles" / "child" / "EXTENDS").write_text("base\n")
    (root / "profiles" / "child" / "writer.yml").write_text("root: base-out\n")
    book.sync_pairs(root)
    return root


def test_extends_merges_the_base_profile_and_names_both_files(tmp_path):
    root = make_book(tmp_path)
    reader, writer = book.chapters(root)
    assert book.profile_parameters(root, "child", "reader") == {"root": "base-out"}  # from base
    assert book.profile_parameters(root, "child", "writer") == {"root": "base-out"}  # its own
    (root / "profiles" / "child" / "reader.yml").write_text("root: child-out\n")
    assert book.profile_parameters(root, "child", "reader") == {"root": "child-out"}
    (root / "profiles" / "child" / "reader.yml").write_text("rooot: 1\n")
    with pytest.raises(Exception, match="profiles/base/reader.yml \\+ profiles/child/reader.yml"):
        book.resolve_parameters(reader, "child")


def test_extends_in_a_circle_or_to_an_unknown_profile_is_refused(tmp_path):
    root = make_book(tmp_path)
    (root / "profiles" / "base" / "EXTENDS").write_text("child\n")
    with pytest.raises(BookError, match="in a circle"):
        book.profile_parameters(root, "child", "reader")
    (root / "profiles" / "base" / "EXTENDS").write_text("nosuch\n")
    with pytest.raises(Exception, match="profile must be one of"):
        book.profile_parameters(root, "child", "reader")


def test_parameter_paths_are_inputs_except_under_build(tmp_path):
    root = make_book(tmp_path)
    (root / "base-out").mkdir()
    (root / "_build" / "live").mkdir(parents=True)
    (root / "spec.toml").write_text("")
    resolved = {"a": "base-out", "b": ["spec.toml", "missing.toml"], "c": "_build/live", "d": "auto", "e": 3,
                "f": {"x": "spec.toml"}, "g": "/etc", "h": "../repo"}
    assert book_cache.parameter_paths(root, resolved) == ["base-out", "spec.toml"]
    reader = book.chapters(root)[0]
    before = book_cache.cache_key(reader, {"root": "base-out"})
    (root / "base-out" / "run.json").write_text("{}")
    assert book_cache.cache_key(reader, {"root": "base-out"}) != before
    live = book_cache.cache_key(reader, {"root": "_build/live"})
    (root / "_build" / "live" / "run.json").write_text("{}")
    assert book_cache.cache_key(reader, {"root": "_build/live"}) == live


def test_a_chapter_whose_inputs_a_later_chapter_changed_is_executed_again(tmp_path):
    root = make_book(tmp_path)
    assert book.build(root, "child", html=False, echo=lambda *_: None) == 0
    out = json.loads((root / "_build" / "executed" / "child" / "notebooks" / "reader.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in out["cells"] for o in c.get("outputs", []))
    assert "count 1" in printed  # executed again after the writer, not the first execution's "count 0"
    # and the next build finds every chapter current: the writer's key includes what it wrote itself
    assert [s.stale for s in (book.chapter_status(c, "child") for c in book.chapters(root))] == [False, False]
