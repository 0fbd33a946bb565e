"""Colab and Binder launch buttons (issue 17, item 3): only for a book of a GitHub repository (its origin, or
LOTTERY_BOOK_REPOSITORY); the offline default is unchanged; each staged notebook's first cell fetches the
repository and installs the library; Binder's environment is published with the site."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from conftest import chapter_source

from concave_lottery.book import launch
from concave_lottery.book.build import stage_book
from concave_lottery.book.chapters import sync_pairs
from concave_lottery.book.layout import executed_notebook
from concave_lottery.errors import ParameterError

ROOT = Path(__file__).resolve().parents[2]

MINI = chapter_source("Mini", "# reads: results/mini/ sweeps/mini.toml\nprint(a)")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout.strip()


def _repo(tmp_path: Path, origin: str | None) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    if origin:
        _git(root, "remote", "add", "origin", origin)
    return root


@pytest.mark.parametrize("origin, expected", [
    ("https://github.com/someone/concave-lottery.git", ("someone", "concave-lottery")),
    ("https://github.com/someone/concave-lottery", ("someone", "concave-lottery")),
    ("git@github.com:some-one/book.git", ("some-one", "book")),
    ("ssh://git@github.com/someone/book.git", ("someone", "book")),
    ("https://gitlab.com/someone/book.git", None),
    ("/srv/git/book.git", None),
    (None, None),
])
def test_the_origin_decides_without_a_setting(tmp_path, origin, expected):
    got = launch.decide_launch(_repo(tmp_path, origin), environ={})
    assert (None if got is None else (got.owner, got.name)) == expected
    if got is not None:
        assert got.branch == "gh-pages" and got.url == f"https://github.com/{expected[0]}/{expected[1]}"
        assert got.requirement == f"concave-lottery @ git+https://github.com/{expected[0]}/{expected[1]}"


def test_the_setting_wins_over_the_origin(tmp_path):
    root = _repo(tmp_path, "https://github.com/someone/book.git")
    env = {launch.ENV_REPOSITORY: "other/fork", launch.ENV_BRANCH: "site"}
    assert launch.decide_launch(root, env) == launch.Launch("other", "fork", "site")
    assert launch.decide_launch(root, {launch.ENV_REPOSITORY: "https://github.com/other/fork"}).name == "fork"
    assert launch.decide_launch(root, {launch.ENV_REPOSITORY: "none"}) is None
    assert launch.decide_launch(tmp_path, {launch.ENV_REPOSITORY: "other/fork"}).owner == "other"  # no git at all
    for bad in ("just-a-name", "https://example.org/a/b", "a/b/c"):
        with pytest.raises(ParameterError, match=launch.ENV_REPOSITORY):
            launch.decide_launch(root, {launch.ENV_REPOSITORY: bad})
    with pytest.raises(ParameterError, match=launch.ENV_BRANCH):
        launch.decide_launch(root, {launch.ENV_REPOSITORY: "a/b", launch.ENV_BRANCH: "x;rm"})


def test_the_config_with_and_without_a_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert launch.launch_config(config, None) == config  # the offline default, as committed
    assert not config["launch_buttons"]["colab_url"] and not config["repository"]["url"]
    got = launch.launch_config(config, launch.Launch("someone", "book"))
    assert got["repository"] == {"url": "https://github.com/someone/book", "path_to_book": "_sources",
                                 "branch": "gh-pages"}
    buttons = got["launch_buttons"]
    assert buttons["colab_url"] == "https://colab.research.google.com"
    assert buttons["binderhub_url"] == "https://mybinder.org"
    assert buttons["thebe"] is False and not buttons["jupyterhub_url"]
    assert got["sphinx"]["config"]["extensions"] == config["sphinx"]["config"]["extensions"]  # no sphinx_thebe
    assert got["sphinx"]["config"]["html_extra_path"] == [launch.EXTRA_DIR]
    assert got["html"] == config["html"]  # no repository, issues or edit buttons
    assert config["repository"]["url"] == ""  # the input is not modified


def _mini_book(tmp_path: Path, origin: str | None) -> Path:
    root = _repo(tmp_path, origin)
    for folder in ("book", "notebooks", "binder"):
        (root / folder).mkdir()
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/mini\n")
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    shutil.copy(ROOT / "binder" / "requirements.txt", root / "binder" / "requirements.txt")
    (root / "book" / "intro.md").write_text("# Intro\n")
    (root / "notebooks" / "mini.md").write_text(MINI)
    sync_pairs(root)
    executed = executed_notebook(root, "smoke", "mini")
    executed.parent.mkdir(parents=True)
    shutil.copy(root / "notebooks" / "mini.ipynb", executed)
    return root


def test_the_offline_build_stages_the_book_as_it_is(tmp_path, monkeypatch):
    monkeypatch.delenv(launch.ENV_REPOSITORY, raising=False)
    root = _mini_book(tmp_path, origin=None)
    stage = stage_book(root, "smoke")
    assert (stage / "_config.yml").read_text() == (root / "_config.yml").read_text()
    nb = nbformat.read(stage / "notebooks" / "mini.ipynb", as_version=4)
    assert launch.INSTALL_MARKER not in nb.cells[0].source
    assert not (stage / launch.EXTRA_DIR).exists()


def test_a_github_build_gets_buttons_and_a_first_cell_in_every_notebook(tmp_path, monkeypatch):
    monkeypatch.delenv(launch.ENV_REPOSITORY, raising=False)
    root = _mini_book(tmp_path, origin="git@github.com:someone/book.git")
    stage = stage_book(root, "smoke")
    config = yaml.safe_load((stage / "_config.yml").read_text())
    assert config["repository"]["url"] == "https://github.com/someone/book"
    assert config["launch_buttons"]["colab_url"] and config["launch_buttons"]["thebe"] is False
    assert (stage / launch.EXTRA_DIR / "binder" / "requirements.txt").is_file()
    nb = nbformat.read(stage / "notebooks" / "mini.ipynb", as_version=4)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "code" and first.metadata["tags"] == ["remove-cell"]
    assert "https://github.com/someone/book.git" in first.source
    assert "'results/mini'" in first.source and "'sweeps'" in first.source  # what the chapter declares it reads
    compile(first.source, "first-cell", "exec")
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells[1:])  # papermill finds it by its tag
    launch.configure_stage(root, stage, [], environ={launch.ENV_REPOSITORY: "someone/book"})
    assert launch.add_install_cell(stage / "notebooks" / "mini.ipynb", launch.Launch("someone", "book")) is False


def test_the_first_cell_fetches_the_repository_and_works_from_it(tmp_path):
    """Run the generated cell outside a clone, against a local stand-in for the GitHub repository: it makes a
    sparse clone of the commit the book was built from (the folders the chapter reads) and changes into it.
    The library is importable here, so it does not pip-install."""
    origin = tmp_path / "origin"
    origin.mkdir()
    _git(origin, "init", "-q")
    for path, text in {"pyproject.toml": "[project]\nname = 'x'\n", "src/a.py": "A = 1\n",
                       "results/mini/run.json": "{}\n", "results/other/big.bin": "x" * 1000,
                       "sweeps/mini.toml": "", "notebooks/mini.md": "# Mini\n"}.items():
        (origin / path).parent.mkdir(parents=True, exist_ok=True)
        (origin / path).write_text(text)
    _git(origin, "add", "-A")
    _git(origin, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    built = _git(origin, "rev-parse", "HEAD")
    (origin / "results" / "mini" / "later.json").write_text("{}\n")
    _git(origin, "add", "-A")
    _git(origin, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "later")
    _git(origin, "config", "uploadpack.allowFilter", "true")
    _git(origin, "config", "uploadpack.allowAnySHA1InWant", "true")

    source = launch.install_cell_source(launch.Launch("someone", "book"), ["results/mini/", "sweeps/mini.toml"],
                                        commit=built)
    source = source.replace("https://github.com/someone/book.git", origin.as_uri())
    work = tmp_path / "colab"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-c", source + "\nprint('CWD', os.getcwd())"], cwd=work,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    clone = work / "concave-lottery"
    assert re.search(r"CWD (.*)", proc.stdout).group(1) == str(clone)
    assert (clone / "results" / "mini" / "run.json").is_file() and (clone / "src" / "a.py").is_file()
    assert (clone / "pyproject.toml").is_file()
    assert not (clone / "results" / "other").exists()  # only what the chapter reads
    assert not (clone / "results" / "mini" / "later.json").exists()  # the commit of the book, not a later one
    assert _git(clone, "rev-parse", "HEAD") == built


def test_binder_environment_pins_the_librarys_requirements():
    """binder/requirements.txt (copied to the published site for Binder) pins what requirements.txt pins."""
    def pins(path: Path) -> dict[str, str]:
        found = {}
        for line in path.read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.split("==")
                found[name.strip().lower()] = version.strip()
        return found

    binder, main = pins(ROOT / "binder" / "requirements.txt"), pins(ROOT / "requirements.txt")
    for name in ("torch", "torchvision", "numpy", "pandas", "matplotlib", "seaborn", "tqdm", "safetensors"):
        assert binder[name] == main[name], name
    assert "download.pytorch.org/whl/cpu" in (ROOT / "binder" / "requirements.txt").read_text()
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
