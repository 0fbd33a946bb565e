"""Colab and Binder launch buttons, for a book built from a GitHub repository.

The default build is offline and self-contained: no launch buttons, no thebe, nothing fetched from a CDN.
When the book is built from a clone whose ``origin`` is a GitHub repository, or when
``LOTTERY_BOOK_REPOSITORY=owner/name`` (or a github.com URL) names one, the staged book gets:

- sphinx-book-theme's Colab and Binder buttons on every chapter page (``launch_buttons`` and
  ``repository`` of ``_config.yml``). They open the chapter's *executed* notebook as the site publishes it:
  ``_sources/notebooks/<chapter>.ipynb`` on the branch ``lottery book publish`` pushes the site to
  (``gh-pages``; ``LOTTERY_BOOK_LAUNCH_BRANCH`` names another);
- a first cell in each staged chapter notebook, tagged ``remove-cell`` (so the page does not show it):
  outside a clone of the repository (Colab, Binder, a downloaded notebook) it fetches the parts of the
  repository the chapter reads (its ``# reads:`` declarations, plus ``src/``, ``sweeps/``, ``profiles/``;
  a sparse, shallow clone of the commit the book was built from, when it is on GitHub), installs the
  library from it (``pip install .``, the same as ``pip install "concave-lottery @ git+https://github.com/
  OWNER/NAME"``) and works from there; the datasets are found or downloaded by the library itself;
- ``binder/requirements.txt`` and ``binder/runtime.txt`` (copied from the repository's ``binder/``) at the
  site's root, so that Binder, which builds the published branch, has the library's dependencies (torch
  and torchvision as CPU wheels) before the first cell installs the library.

``LOTTERY_BOOK_REPOSITORY=none`` turns the buttons off even in a clone of a GitHub repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ParameterError
from .chapters import declared_reads
from .layout import NOTEBOOK_DIR

ENV_REPOSITORY = "LOTTERY_BOOK_REPOSITORY"
ENV_BRANCH = "LOTTERY_BOOK_LAUNCH_BRANCH"
DEFAULT_BRANCH = "gh-pages"
COLAB_URL = "https://colab.research.google.com"
BINDER_URL = "https://mybinder.org"
#: where the executed notebooks lie in the published site (Sphinx's copy of each page's source)
SITE_SOURCES = "_sources"
#: the folder of the staged book whose contents Sphinx copies to the site's root (``html_extra_path``)
EXTRA_DIR = "_launch_extra"
#: the tag of the first cell (jupyter-book leaves the cell out of the page)
INSTALL_TAG = "remove-cell"
#: a marker in the first cell's source, so that it is added once
INSTALL_MARKER = "# concave-lottery: launch setup"
#: the folders every chapter needs besides what it declares it reads
ALWAYS_CHECKED_OUT = ("src", "sweeps", "profiles")

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_REPO = r"[A-Za-z0-9._-]{1,100}"
_GITHUB_URL = re.compile(
    rf"^(?:https?://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com/|git://github\.com/)"
    rf"(?P<owner>{_NAME})/(?P<name>{_REPO}?)(?:\.git)?/?$")
_OWNER_NAME = re.compile(rf"^(?P<owner>{_NAME})/(?P<name>{_REPO}?)(?:\.git)?$")


@dataclass(frozen=True)
class Launch:
    """The GitHub repository the buttons point at, and the branch its site is published on."""

    owner: str
    name: str
    branch: str = DEFAULT_BRANCH

    @property
    def url(self) -> str:
        return f"https://github.com/{self.owner}/{self.name}"

    @property
    def requirement(self) -> str:
        """The pip requirement of the library from this repository."""
        return f"concave-lottery @ git+{self.url}"


def parse_github(text: str) -> tuple[str, str] | None:
    """``(owner, name)`` from a GitHub remote URL (https, ssh, git@) or ``owner/name``; else ``None``."""
    text = text.strip()
    match = _GITHUB_URL.match(text) or _OWNER_NAME.match(text)
    if not match or match["name"] in (".", ".."):
        return None
    return match["owner"], match["name"]


def origin_url(root: Path) -> str | None:
    """The URL of the ``origin`` remote of the git repository at ``root`` (no network), or ``None``."""
    try:
        proc = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def decide_launch(root: Path | str, environ: Mapping[str, str] | None = None) -> Launch | None:
    """Whether the book built at ``root`` gets launch buttons, and for which repository.

    ``LOTTERY_BOOK_REPOSITORY`` (``owner/name`` or a github.com URL; ``none`` or empty: no buttons) wins;
    without it, the ``origin`` remote of ``root`` decides (a GitHub repository: buttons; anything else or no
    remote: none, the offline default). ``LOTTERY_BOOK_LAUNCH_BRANCH`` names the published branch.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_REPOSITORY)
    if value is not None:
        if value.strip().lower() in ("", "none", "off", "no"):
            return None
        parsed = parse_github(value)
        if parsed is None:
            raise ParameterError(ENV_REPOSITORY, value, "it must name a GitHub repository as owner/name or a "
                                 "https://github.com/owner/name URL (or be none, for a book without launch buttons)")
    else:
        parsed = parse_github(origin_url(Path(root)) or "")
        if parsed is None:
            return None
    branch = environ.get(ENV_BRANCH, "").strip() or DEFAULT_BRANCH
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", branch) or ".." in branch:
        raise ParameterError(ENV_BRANCH, branch, "it must be a git branch name such as gh-pages")
    return Launch(*parsed, branch=branch)


def launch_config(config: Mapping[str, Any], launch: Launch | None) -> dict[str, Any]:
    """``_config.yml`` (as a mapping) for the staged book: unchanged without ``launch``; with it, Colab and
    Binder buttons for ``launch``'s repository, pointing at the executed notebooks of the published site.
    Thebe stays off and the extension list is untouched, so nothing is fetched when a page is read."""
    config = json.loads(json.dumps(dict(config)))  # a deep copy of plain YAML data
    if launch is None:
        return config
    config["repository"] = {"url": launch.url, "path_to_book": SITE_SOURCES, "branch": launch.branch}
    config["launch_buttons"] = {**config.get("launch_buttons", {}), "notebook_interface": "classic",
                                "binderhub_url": BINDER_URL, "colab_url": COLAB_URL, "jupyterhub_url": "",
                                "deepnote_url": "", "thebe": False}
    sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
    extra = list(sphinx.get("html_extra_path", []))
    if EXTRA_DIR not in extra:
        extra.append(EXTRA_DIR)
    sphinx["html_extra_path"] = extra
    return config


def install_cell_source(launch: Launch, reads: Iterable[str] = (), commit: str | None = None) -> str:
    """The first cell of a launched chapter notebook (see the module docstring)."""
    # sparse checkout in cone mode takes folders: a file read brings its folder (root files always come)
    folders = (r.strip("/") if r.endswith("/") else r.rpartition("/")[0] for r in reads)
    paths = list(dict.fromkeys([*ALWAYS_CHECKED_OUT, *(f for f in folders if f)]))
    commit = (commit or "").split("+")[0]
    commit = commit if re.fullmatch(r"[0-9a-f]{40}", commit) else ""  # git fetch wants the full hash
    return "\n".join([
        f"{INSTALL_MARKER} (hidden in the book). Opened outside a clone of {launch.url}",
        "# (Colab, Binder, a downloaded copy): fetch what this chapter reads, install the library from it.",
        "import importlib.util, os, subprocess, sys",
        "from pathlib import Path",
        "",
        "if not (Path('results').is_dir() and importlib.util.find_spec('concave_lottery')):",
        f"    REPOSITORY, COMMIT, CLONE = {launch.url + '.git'!r}, {commit!r}, Path('concave-lottery')",
        f"    PATHS = {paths!r}",
        "    if not CLONE.is_dir():",
        "        git = lambda *args, check=True: subprocess.run(['git', '-C', str(CLONE), *args], check=check)",
        "        subprocess.run(['git', 'clone', '--quiet', '--depth', '1', '--filter=blob:none', '--sparse',",
        "                        REPOSITORY, str(CLONE)], check=True)",
        "        git('sparse-checkout', 'set', *PATHS)",
        "        if COMMIT and git('fetch', '--quiet', '--depth', '1', 'origin', COMMIT, check=False).returncode == 0:",
        "            git('checkout', '--quiet', 'FETCH_HEAD')  # the commit the book was built from",
        "    os.chdir(CLONE)",
        "    if importlib.util.find_spec('concave_lottery') is None:",
        "        extra = [] if importlib.util.find_spec('myst_nb') else ['myst-nb']  # glue() in a chapter",
        "        subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '.', *extra], check=True)",
        "        importlib.invalidate_caches()",
    ])


def add_install_cell(path: Path, launch: Launch, reads: Iterable[str] = (), commit: str | None = None) -> bool:
    """Insert the install cell first in the notebook at ``path`` (once); returns whether it was added."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    if nb.cells and INSTALL_MARKER in "".join(nb.cells[0].get("source", "")):
        return False
    cell = nbformat.v4.new_code_cell(install_cell_source(launch, reads, commit))
    cell.metadata["tags"] = [INSTALL_TAG]
    nb.cells.insert(0, cell)
    nbformat.write(nb, path)
    return True


def configure_stage(root: Path, stage: Path, chapters: Iterable[Any], *, commit: str | None = None,
                    environ: Mapping[str, str] | None = None) -> Launch | None:
    """Apply :func:`decide_launch` to the staged book ``stage`` of ``root``: its ``_config.yml``, the first
    cell of each staged chapter notebook, and the Binder environment at the site's root. Does nothing (and
    returns ``None``) for the offline default."""
    launch = decide_launch(root, environ)
    if launch is None:
        return None
    config_path = stage / "_config.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config_path.write_text(yaml.safe_dump(launch_config(config, launch), sort_keys=False, allow_unicode=True),
                           encoding="utf-8")
    binder = root / "binder"
    if binder.is_dir():
        shutil.copytree(binder, stage / EXTRA_DIR / "binder", dirs_exist_ok=True)
    for chapter in chapters:
        add_install_cell(stage / NOTEBOOK_DIR / f"{chapter.name}.ipynb", launch, declared_reads(chapter), commit)
    return launch
