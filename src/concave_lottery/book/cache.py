"""The execution cache: a chapter's key (its source, resolved parameters, the library and the files it
declares it reads) and whether its executed copy in ``_build/executed/<profile>/`` is current."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .chapters import Chapter, declared_reads, read_source
from .layout import LIBRARY_DIR, NOTEBOOK_DIR, executed_dir, files_below
from .parameters import resolve_parameters

#: Bumped when the way chapters are executed changes, so every cache entry goes stale.
PIPELINE_VERSION = "1"


def _hash_files(h, root: Path, files: Iterable[Path]) -> None:
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())


def cache_key(chapter: Chapter, resolved: dict[str, Any], nb=None) -> str:
    """sha256 over the chapter source, its resolved parameters, the library source and its reads."""
    root = chapter.root
    h = hashlib.sha256()
    h.update(f"pipeline {PIPELINE_VERSION}\0".encode())
    h.update(chapter.source.read_bytes())
    h.update(json.dumps(resolved, sort_keys=True, default=repr).encode() + b"\0")
    _hash_files(h, root, files_below(root / LIBRARY_DIR))
    for pattern in declared_reads(chapter, nb):
        matches = sorted(root.glob(pattern))
        h.update(f"reads {pattern}\0".encode())
        if not matches:
            h.update(b"<missing>\0")
        for match in matches:
            _hash_files(h, root, files_below(match))
    return h.hexdigest()


@dataclass
class ChapterStatus:
    """Whether a chapter's executed copy matches its current cache key."""

    chapter: str
    key: str
    cached_key: str | None
    parameters: dict[str, Any]
    injected: dict[str, Any]

    @property
    def stale(self) -> bool:
        return self.key != self.cached_key


def chapter_status(chapter: Chapter, profile: str = "book", cache_dir: Path | None = None) -> ChapterStatus:
    """The chapter's current cache key and the key of its executed copy (``None`` if there is none)."""
    nb = read_source(chapter)
    injected, resolved = resolve_parameters(chapter, profile, nb=nb)
    key = cache_key(chapter, resolved, nb)
    base = cache_dir if cache_dir is not None else executed_dir(chapter.root, profile)
    record, output = base / f"{chapter.name}.json", base / NOTEBOOK_DIR / f"{chapter.name}.ipynb"
    cached = None
    if record.is_file() and output.is_file():
        cached = json.loads(record.read_text(encoding="utf-8")).get("key")
    return ChapterStatus(chapter.name, key, cached, resolved, injected)
