"""The book's execution statistics: which chapter ran how long, in which profile, on which hardware,
and whether this build executed it or took it from the cache.

The pipeline keeps one record per chapter in ``_build/executed/<profile>/<chapter>.json`` (written by
:func:`concave_lottery.book.execution.execute_chapter`: seconds, finished, parameters, hardware) and,
for the last ``build``, ``last-build.json`` (each chapter's status in that build: ``executed``,
``cached`` or ``failed``). :func:`statistics_page` turns both into the MyST page
``book/statistics.md`` of the staged book, so the published site says how it was computed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["LAST_BUILD", "STATISTICS_PAGE", "hardware", "write_last_build", "statistics_rows", "statistics_page"]

#: Written next to the chapter records by ``build``: each chapter's status in the last build.
LAST_BUILD = "last-build.json"
#: The page, relative to the book's root (a placeholder is committed; the staged copy is generated).
STATISTICS_PAGE = Path("book") / "statistics.md"

_STATUS_WORDS = {"executed": "executed (cache miss)", "cached": "cache hit", "failed": "failed"}


def hardware() -> str:
    """The machine executing the chapters: CPU model and cores, and the GPU when torch sees one."""
    from ..runs.results import cpu_model_name

    text = f"{cpu_model_name()} ({os.cpu_count()} cores)"
    try:
        import torch

        if torch.cuda.is_available():
            text += f", {torch.cuda.get_device_name(0)}"
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return text


def write_last_build(folder: Path, profile: str, results: Iterable[Any]) -> Path:
    """Record each chapter's status in this build (``Execution`` objects of the pipeline)."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"profile": profile, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "hardware": hardware(),
              "chapters": {r.chapter: {"status": r.status, "seconds": round(r.seconds, 3)} for r in results}}
    path = folder / LAST_BUILD
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def statistics_rows(folder: Path, chapter_names: Iterable[str]) -> list[dict[str, Any]]:
    """One row per chapter from the records in ``folder`` (``_build/executed/<profile>/``)."""
    last = _read(folder / LAST_BUILD).get("chapters", {})
    rows = []
    for name in chapter_names:
        record = _read(folder / f"{name}.json")
        status = last.get(name, {}).get("status")
        rows.append({
            "chapter": name,
            "profile": record.get("profile"),
            "this build": _STATUS_WORDS.get(status, "not in the last build" if record else "never executed"),
            "seconds": record.get("seconds"),
            "executed": record.get("finished"),
            "hardware": record.get("hardware") or "not recorded",
        })
    return rows


def statistics_page(folder: Path, profile: str, chapter_names: Iterable[str]) -> str:
    """The MyST page: one table row per chapter, and the totals."""
    names = list(chapter_names)
    rows = statistics_rows(folder, names)
    last = _read(folder / LAST_BUILD)
    lines = [
        "# Execution statistics",
        "",
        f"How the chapters of this site were computed, written by the book pipeline when the site was built "
        f"(profile **{profile}**). *Seconds* is the wall time of the papermill execution that produced the "
        "chapter's page, *this build* says whether the last `build` executed the chapter (its cache key had "
        "changed: a cache miss) or reused the executed notebook of an earlier build (a cache hit), and "
        "*hardware* is the machine that executed it. The cache key hashes the chapter's source, its "
        "parameters, the library and the result files the chapter reads (see {doc}`rerun`).",
        "",
        "| chapter | profile | this build | seconds | executed | hardware |",
        "|---|---|---|---:|---|---|",
    ]
    for r in rows:
        seconds = f"{r['seconds']:.1f}" if isinstance(r["seconds"], (int, float)) else "-"
        lines.append(f"| {{doc}}`../notebooks/{r['chapter']}` | {r['profile'] or '-'} | {r['this build']} | "
                     f"{seconds} | {r['executed'] or '-'} | {r['hardware']} |")
    total = sum(r["seconds"] for r in rows if isinstance(r["seconds"], (int, float)))
    hits = sum(r["this build"] == "cache hit" for r in rows)
    lines += ["", f"All chapters together: {total:.1f} s of execution; {hits} of {len(rows)} taken from the "
                  "cache in the last build."]
    if last:
        lines.append(f"The last build finished {last.get('finished')} on {last.get('hardware')}.")
    return "\n".join(lines) + "\n"
