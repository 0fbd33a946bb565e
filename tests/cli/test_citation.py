"""CITATION.cff parses and carries what the Citation File Format 1.2.0 requires, and the paper it
reproduces is listed with the metadata of book/references.bib; the README and the book's intro say
how to cite."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CFF = ROOT / "CITATION.cff"
PAPER_DOI = "10.1109/TNNLS.2024.3373609"
PAPER_AUTHORS = [("Fracastoro", "Giulia"), ("Fosson", "Sophie M."), ("Migliorati", "Andrea"),
                 ("Calafiore", "Giuseppe C.")]


def _cff() -> dict:
    return yaml.safe_load(CFF.read_text(encoding="utf-8"))


def _is_author(entry: dict) -> bool:
    """A CFF person (family-names) or entity (name), each a non-empty string."""
    return any(isinstance(entry.get(key), str) and entry[key].strip() for key in ("family-names", "name"))


def test_citation_cff_has_the_required_fields():
    cff = _cff()
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title"):
        assert isinstance(cff.get(key), str) and cff[key].strip(), key
    assert isinstance(cff.get("authors"), list) and cff["authors"]
    assert all(_is_author(a) for a in cff["authors"])
    assert cff.get("type", "software") in ("software", "dataset")


def test_citation_version_and_license_match_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    cff = _cff()
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == project["license"]["text"]


def test_the_paper_is_a_reference_with_the_bibliography_metadata():
    papers = [r for r in _cff().get("references", []) if str(r.get("doi", "")).upper() == PAPER_DOI.upper()]
    assert len(papers) == 1, "the reproduced paper must be listed once under references"
    paper = papers[0]
    assert paper["type"] == "article" and all(_is_author(a) for a in paper["authors"])
    assert [(a["family-names"], a["given-names"]) for a in paper["authors"]] == PAPER_AUTHORS
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    entry = re.search(r"@article\{fracastoro2025lottery,(.*?)\n\}", bib, re.S).group(1)
    title = re.search(r"title\s*=\s*\{(.*?)\},", entry).group(1)
    assert paper["title"] == title
    assert str(paper["year"]) == re.search(r"year\s*=\s*\{(\d+)\}", entry).group(1)
    assert PAPER_DOI in entry and paper["journal"] in entry


def test_readme_and_intro_say_how_to_cite():
    for path in (ROOT / "README.md", ROOT / "book" / "intro.md"):
        text = path.read_text(encoding="utf-8")
        assert re.search(r"^##+ How to cite", text, re.M), f"{path.name} has no 'How to cite' section"
        assert "CITATION.cff" in text and PAPER_DOI in text
