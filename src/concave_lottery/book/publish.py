"""Publishing the built site: ``_build/html`` committed as the single tree of the ``gh-pages`` branch."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .layout import BUILD_INFO, HTML_DIR, BookError, find_root


def publish(
    root: Path | str | None = None,
    *,
    remote: str = "origin",
    branch: str = "gh-pages",
    push: bool = True,
    allow_profile: Sequence[str] = ("book",),
    message: str | None = None,
    echo=print,
) -> str:
    """Commit ``_build/html`` as the single tree of ``branch`` (GitHub Pages) and push it to ``remote``.

    Works like ``ghp-import``: a commit whose tree is exactly the built site (with ``.nojekyll``),
    whose parent is the branch's previous commit, made with a temporary index so the working tree
    and the current branch are untouched. Only a site built with an allowed profile is published.
    Returns the new commit's hash.
    """
    root = find_root(root)
    html = root / HTML_DIR
    info_path = html / BUILD_INFO
    if not (html / "index.html").is_file() or not info_path.is_file():
        raise BookError(f"no built book in {html}: run `make book` first")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    if info.get("profile") not in allow_profile:
        raise BookError(
            f"{html} was built with profile {info.get('profile')!r}; publish only a "
            f"{'/'.join(allow_profile)} build (`make book PROFILE=book`)"
        )
    (html / ".nojekyll").touch()

    def git(*args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              env={**os.environ, **(env or {})})
        if check and proc.returncode != 0:
            raise BookError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": str(html)}
        git("add", "--all", "--force", ".", env=env)
        tree = git("write-tree", env=env)
    parent = ""
    if push:  # the remote's branch is the truth: build on it, so the push is a fast-forward
        tracking = f"refs/remotes/{remote}/{branch}"
        git("fetch", "--quiet", remote, f"+refs/heads/{branch}:{tracking}", check=False)
        parent = git("rev-parse", "--verify", "--quiet", tracking, check=False)
    if not parent:
        parent = git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    source = info.get("commit") or "unknown"
    msg = message or f"Publish the book (profile {info.get('profile')}, source {source})"
    commit_args = ["commit-tree", tree, "-m", msg] + (["-p", parent] if parent else [])
    author = {"GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "concave-lottery book"),
              "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "book@concave-lottery.invalid")}
    author |= {"GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", author["GIT_AUTHOR_NAME"]),
               "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", author["GIT_AUTHOR_EMAIL"])}
    commit = git(*commit_args, env=author)
    git("update-ref", f"refs/heads/{branch}", commit)
    echo(f"[book] {branch} -> {commit[:12]} (tree of {html.relative_to(root)})")
    if push:
        git("push", remote, f"refs/heads/{branch}:refs/heads/{branch}")
        echo(f"[book] pushed {branch} to {remote}; GitHub Pages serves it when the repository's Pages "
             f"source is the {branch} branch (or use .github/workflows/pages.yml)")
    return commit
