"""The book pipeline: execute every chapter with papermill, then build the HTML with jupyter-book.

This module is the pipeline's public API in one import (``from concave_lottery.book import pipeline``);
the code lives one concern per module:

- :mod:`.layout`: where things are (``notebooks/``, ``profiles/``, ``_build/…``), ``find_root``, ``BookError``;
- :mod:`.chapters`: discovery from ``_toc.yml``, sources, ``# reads:``/``# data:`` lines, the pairs;
- :mod:`.parameters`: defaults, profiles and ``-p`` overrides, resolved and checked;
- :mod:`.cache`: the cache key and whether an executed copy is current;
- :mod:`.execution`: papermill, into the cache or once with other parameters; datasets fetched first;
- :mod:`.build`: staging, ``jupyter-book build``, and ``build`` (the whole pipeline);
- :mod:`.publish`: the ``gh-pages`` branch;
- :mod:`.statistics`: the build's statistics page;
- :mod:`.cli`: ``python -m concave_lottery.book …`` and ``lottery book …``.

The folders (``notebooks/``, ``profiles/``, ``_build/executed|stage|html/``) are drawn in :mod:`.layout`.

``python -m concave_lottery.book build --profile book`` (what ``make book`` runs):

1. checks that every chapter's .md/.ipynb pair is in sync (``sync`` repairs it);
2. resolves each chapter's parameters: the defaults of its first code cell (tagged
   ``parameters``), updated by ``profiles/<profile>/<chapter>.yml`` (a papermill ``-f`` file;
   the ``book`` profile normally adds nothing: the parameters cell *is* the book's defaults);
3. executes each chapter whose cache key changed with papermill (cwd = repository root) into
   ``_build/executed/<profile>/notebooks/<chapter>.ipynb``. The cache key hashes the chapter
   source, its resolved parameters, every file under ``src/concave_lottery/`` and the result
   files the chapter declares it reads with a comment line ``# reads: <glob>`` in any code cell
   (globs relative to the repository root; a directory counts with everything below it);
4. copies ``_config.yml``, ``_toc.yml``, ``book/`` and the executed notebooks into
   ``_build/stage/<profile>/`` and runs ``jupyter-book build`` there with execution off and
   ``-W --keep-going`` (any warning fails the build), writing ``_build/html``;
5. writes ``_build/executed/<profile>/timings.json`` and prints the time of every chapter.

Adding a chapter (see also ``book/contributing.md``):

1. write ``notebooks/<name>.md`` (jupytext MyST notebook; copy the front matter of an existing
   chapter). Its first code cell is tagged ``parameters`` and holds plain assignments
   ``name = literal`` (the book defaults). Plot cells carry the tag ``hide-input``. The last cell
   is a "Rerun this chapter" box with the exact ``papermill`` command;
2. ``python -m concave_lottery.book sync`` creates/updates ``notebooks/<name>.ipynb``;
3. add ``- file: notebooks/<name>`` to ``_toc.yml``;
4. add ``profiles/smoke/<name>.yml`` (seconds on a CPU; used by the tests) and, where the
   paper's protocol differs from the book defaults, ``profiles/paper/<name>.yml``; declare the
   result files it reads with ``# reads: results/<...>``.

Other commands: ``run`` (rerun one chapter with other parameters: ``lottery book run theory -p
lam_max 0.5``), ``status`` (which chapters are stale), ``check`` (pairs and profiles), ``sync``,
``publish`` (push ``_build/html`` to a ``gh-pages`` branch; ``.github/workflows/pages.yml`` is
the GitHub Actions alternative).
"""

from __future__ import annotations

from .build import add_source_downloads, build, build_html, stage_book
from .cache import ChapterStatus, cache_key, chapter_status
from .chapters import (
    Chapter,
    chapters,
    check_pairs,
    declared_data,
    declared_reads,
    get_chapter,
    read_source,
    sync_pairs,
)
from .cli import add_book_parser, main
from .execution import Execution, execute_all, execute_chapter, run_chapter
from .layout import BUILD_INFO, HTML_DIR, BookError, executed_dir, find_root
from .parameters import (
    PROFILES,
    check_profiles,
    declared_parameters,
    profile_file,
    profile_parameters,
    resolve_parameters,
)
from .publish import publish

__all__ = [
    "PROFILES",
    "BUILD_INFO",
    "HTML_DIR",
    "Chapter",
    "ChapterStatus",
    "BookError",
    "Execution",
    "find_root",
    "executed_dir",
    "chapters",
    "get_chapter",
    "read_source",
    "declared_parameters",
    "profile_file",
    "profile_parameters",
    "resolve_parameters",
    "declared_reads",
    "declared_data",
    "cache_key",
    "chapter_status",
    "check_pairs",
    "check_profiles",
    "sync_pairs",
    "execute_chapter",
    "execute_all",
    "stage_book",
    "build_html",
    "add_source_downloads",
    "build",
    "run_chapter",
    "publish",
    "add_book_parser",
    "main",
]

if __name__ == "__main__":
    import sys

    sys.exit(main())
