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
from .layout import EXECUTED_DIR, LIBRARY_DIR, NOTEBOOK_DIR, executed_dir, files_below
from .parameters import resolve_parameters

#: The build folder (``_build``): paths below it are outputs, never inputs of a chapter's key.
BUILD_ROOT = EXECUTED_DIR.parts[0]
#: Bumped when the way chapters are executed changes, so every cache entry goes stale.
PIPELINE_VERSION = "1"


def _hash_files(h, root: Path, files: Iterable[Path]) -> None:
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())


def parameter_paths(root: Path, resolved: dict[str, Any]) -> list[str]:
    """The paths that the chapter's parameters name (a string value, or an item of a list value, that is a
    relative path existing under ``root``: a sweep spec, a results root), sorted. They are inputs as much as
    its ``# reads:`` lines, whatever profile points the chapter at them (``recorded_root``,
    ``recorded_spec``, ``lottery_specs`` ...). Paths under ``_build/`` are not: what is there (the live
    layer's runs) is the chapters' own output, computed again when missing."""
    found: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, list | tuple):
            for item in value:
                visit(item)
        elif isinstance(value, str) and value.strip() not in ("", ".") and "\n" not in value:
            path = Path(value)
            if (not path.is_absolute() and ".." not in path.parts and path.parts[0] != BUILD_ROOT
                    and (root / path).exists()):
                found.add(path.as_posix())

    for value in resolved.values():
        visit(value)
    return sorted(found)


def _hash_listing(h, root: Path, folder: Path) -> None:
    """A folder named by a parameter (a results root, possibly gigabytes of checkpoints): the names and sizes
    of its files, which change whenever a run is added or finishes."""
    for path in files_below(folder):
        h.update(f"{path.relative_to(root).as_posix()} {path.stat().st_size}\0".encode())


def cache_key(chapter: Chapter, resolved: dict[str, Any], nb=None) -> str:
    """sha256 over the chapter source, its resolved parameters, the library source, its reads and the files
    its parameters name (:func:`parameter_paths`)."""
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
    for name in parameter_paths(root, resolved):
        h.update(f"parameter path {name}\0".encode())
        target = root / name
        if target.is_dir():
            _hash_listing(h, root, target)
        else:
            _hash_files(h, root, [target])
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
