"""The launch and download buttons of a book built for a GitHub repository, in headless Chromium (issue 17).

The CI-built book comes from a clone without a GitHub origin, so it has no launch buttons (the offline default,
which tests/book/test_browser.py opens). Here a one-chapter book is built with ``jupyter-book`` and
``LOTTERY_BOOK_REPOSITORY=owner/name``, served over HTTP on 127.0.0.1, and opened with every other request
aborted: the chapter page has Colab and Binder links to the published notebook of that repository, its
download menu hands out the notebook as ``mini.ipynb`` (whose first cell is the hidden setup cell), and no
page loads a script from outside the book (no CDN, no thebe).

Skipped, with the reason, only when Chromium is absent (``make browser-deps``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from concave_lottery.book import launch
from concave_lottery.book.build import build_html
from concave_lottery.book.chapters import sync_pairs
from concave_lottery.book.layout import executed_notebook

ROOT = Path(__file__).resolve().parents[2]
OWNER, NAME, BRANCH = "owner", "name", "gh-pages"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory, jupytext_chapter) -> Path:
    """A one-chapter book (the chapter's notebook stands in for its executed copy: nothing to execute), built
    to HTML as ``make book`` builds it, for the GitHub repository owner/name."""
    root = tmp_path_factory.mktemp("launch-book") / "repo"
    for folder in ("book", "notebooks", "binder"):
        (root / folder).mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/mini\n")
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    shutil.copytree(ROOT / "book" / "_static", root / "book" / "_static")
    shutil.copy(ROOT / "book" / "references.bib", root / "book" / "references.bib")
    shutil.copy(ROOT / "binder" / "requirements.txt", root / "binder" / "requirements.txt")
    (root / "book" / "intro.md").write_text("# Intro\n\nA one-chapter book.\n")
    (root / "notebooks" / "mini.md").write_text(jupytext_chapter("Mini", "# reads: results/mini/\nprint(a)"))
    sync_pairs(root)
    executed = executed_notebook(root, "smoke", "mini")
    executed.parent.mkdir(parents=True)
    shutil.copy(root / "notebooks" / "mini.ipynb", executed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(launch.ENV_REPOSITORY, f"{OWNER}/{NAME}")
        mp.delenv(launch.ENV_BRANCH, raising=False)
        return build_html(root, "smoke", echo=lambda *a: None)


@pytest.fixture(scope="module")
def server(site):
    """The site over HTTP on 127.0.0.1 (a browser honours the download attribute only for http(s) links)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_launch_and_download_buttons_of_a_github_book(chromium, server, site, tmp_path):
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    blocked: list[str] = []
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(server)
                  else (blocked.append(r.request.url), r.abort()))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    scripts: dict[str, list[str]] = {}
    try:
        for name in ("book/intro", "notebooks/mini"):
            page.goto(f"{server}/{name}.html", wait_until="load")
            scripts[name] = page.evaluate("() => Array.from(document.scripts).map(s => s.src).filter(Boolean)")
        links = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        page.click(".dropdown-download-buttons > button")
        item = page.locator(".dropdown-download-buttons a.btn-download-source-button")
        assert item.count() == 1, "no .ipynb item in the download menu"
        with page.expect_download(timeout=10_000) as info:
            item.click()
        download = tmp_path / info.value.suggested_filename
        info.value.save_as(download)
    finally:
        context.close()

    assert not errors, errors
    assert not blocked, f"the pages requested something outside the book: {blocked}"
    for name, srcs in scripts.items():
        assert srcs and all(s.startswith(server + "/") for s in srcs), (name, srcs)
        assert not [s for s in srcs if "thebe" in s.lower()], (name, srcs)

    notebook = "_sources/notebooks/mini.ipynb"
    colab = [u for u in links if u.startswith("https://colab.research.google.com/")]
    binder = [u for u in links if u.startswith("https://mybinder.org/")]
    assert colab == [f"https://colab.research.google.com/github/{OWNER}/{NAME}/blob/{BRANCH}/{notebook}"], links
    assert len(binder) == 1 and binder[0].startswith(f"https://mybinder.org/v2/gh/{OWNER}/{NAME}/{BRANCH}?"), links
    assert binder[0].endswith(notebook), binder
    assert (site / notebook).is_file()  # what the buttons open, as the site publishes it
    assert (site / "binder" / "requirements.txt").is_file()  # Binder's environment at the site's root

    assert download.name == "mini.ipynb"
    nb = nbformat.read(download, as_version=4)
    assert launch.INSTALL_MARKER in nb.cells[0].source and nb.cells[0].metadata["tags"] == [launch.INSTALL_TAG]
    assert f"https://github.com/{OWNER}/{NAME}.git" in nb.cells[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[1].metadata.get("tags", [])  # the chapter's parameters cell follows it
