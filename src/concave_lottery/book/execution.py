"""Executing chapters with papermill: into the cache (``execute_chapter``, ``execute_all``), or once with
other parameters (``run_chapter``); the datasets the chapters declare are fetched first (``fetch_data``)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ParameterError
from . import statistics
from .cache import cache_key
from .chapters import Chapter, chapters, declared_data, get_chapter, read_source
from .layout import NOTEBOOK_DIR, RUNS_DIR, executed_dir, find_root
from .parameters import profile_chain, profile_file, resolve_parameters


@dataclass
class Execution:
    """What happened to one chapter in an ``execute_all`` call."""

    chapter: str
    status: str  # "executed", "cached" or "failed"
    seconds: float  # wall time of this call (0 when cached)
    last_seconds: float | None  # wall time of the execution that produced the notebook
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _papermill_execute(nb, output: Path, parameters: dict[str, Any], cwd: Path, log_output: bool,
                       progress_bar: bool = False) -> None:
    import papermill

    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    papermill.execute_notebook(
        nb, str(output), parameters=parameters, kernel_name=kernel, cwd=str(cwd),
        progress_bar=progress_bar, log_output=log_output, request_save_on_cell_execute=True,
        # Quiet the kernel's own start-up log (ipykernel warns that a local kernel talks over TCP).
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )


def execute_chapter(
    chapter: Chapter,
    profile: str = "book",
    *,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    cache_dir: Path | None = None,
    log_output: bool = False,
    echo=print,
) -> Execution:
    """Execute one chapter into the cache unless its executed copy is current (see :func:`cache_key`)."""
    root = chapter.root
    nb = read_source(chapter)
    injected, resolved = resolve_parameters(chapter, profile, overrides, nb=nb)
    key = cache_key(chapter, resolved, nb)
    base = cache_dir if cache_dir is not None else executed_dir(root, profile)
    record_path, output = base / f"{chapter.name}.json", base / NOTEBOOK_DIR / f"{chapter.name}.ipynb"
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    if not force and output.is_file() and record.get("key") == key:
        return Execution(chapter.name, "cached", 0.0, record.get("seconds"), resolved)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial.ipynb")
    failed = output.with_suffix(".failed.ipynb")
    shown = " ".join(f"{k}={v!r}" for k, v in injected.items()) or "(book defaults)"
    echo(f"[book] executing {chapter.rel_source} with profile {profile}: {shown}")
    start = time.perf_counter()
    try:
        _papermill_execute(nb, partial, injected, root, log_output)
    except Exception as exc:  # papermill's PapermillExecutionError, kernel death, ...
        seconds = time.perf_counter() - start
        if partial.is_file():
            partial.replace(failed)
        message = str(exc).strip().splitlines()
        summary = message[-1] if message else type(exc).__name__
        shown_path = failed.relative_to(root) if failed.is_relative_to(root) else failed
        echo(f"[book] FAILED {chapter.name} after {seconds:.1f} s: {summary}\n"
             f"[book]   the failed notebook is {shown_path}")
        return Execution(chapter.name, "failed", seconds, None, resolved, error=str(exc))
    seconds = time.perf_counter() - start
    partial.replace(output)
    failed.unlink(missing_ok=True)
    # The key of what the chapter has now seen: a chapter that trains the runs it then shows (compute_recorded)
    # has changed its own inputs, and must not look stale for that at the next build.
    key = cache_key(chapter, resolved, nb)
    record = {
        "chapter": chapter.name, "source": chapter.rel_source, "profile": profile, "key": key,
        "parameters": resolved, "injected": injected, "seconds": round(seconds, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "hardware": statistics.hardware(),
    }
    record_path.write_text(json.dumps(record, indent=2, default=repr) + "\n", encoding="utf-8")
    echo(f"[book] {chapter.name}: {seconds:.1f} s")
    return Execution(chapter.name, "executed", seconds, seconds, resolved)


def execute_all(
    root: Path | str | None = None,
    profile: str = "book",
    *,
    only: Sequence[str] | None = None,
    force: bool = False,
    cache_dir: Path | None = None,
    log_output: bool = False,
    echo=print,
) -> list[Execution]:
    """Execute every chapter (or those named in ``only``) that is stale, in book order."""
    root = find_root(root)
    selected = chapters(root)
    if only:
        wanted = {get_chapter(n, root).name for n in only}
        selected = [c for c in selected if c.name in wanted]
    return [
        execute_chapter(c, profile, force=force, cache_dir=cache_dir, log_output=log_output, echo=echo)
        for c in selected
    ]


def fetch_data(root: Path, *, echo=print) -> None:
    """Make the datasets the chapters declare (``# data: <name>``) available before executing them.

    Each comes from :func:`concave_lottery.data.load_dataset` (data root, offline mirror, official
    download; md5-checked) and is decoded into its tensor cache once, so a chapter's execution time
    does not include the download. Runs with the repository root as the current directory, like
    the chapters, so the default data root ``data/`` is the same for both.
    """
    names = list(dict.fromkeys(n for c in chapters(root) for n in declared_data(c)))
    if not names:
        return
    from ..data import DATASETS, dataset_status, load_dataset

    with contextlib.chdir(root):
        for name in names:
            if name not in DATASETS:
                raise ParameterError("data", name, "a `# data:` line must name one of " + ", ".join(DATASETS))
            status = dataset_status(name)
            if status.available and status.cached is not False:
                echo(f"[book] dataset {name}: {status.source or 'available'}")
                continue
            echo(f"[book] dataset {name}: fetching and decoding")
            load_dataset(name, device="cpu", progress=False)


def run_chapter(
    name: str,
    overrides: dict[str, Any] | None = None,
    *,
    profile: str = "book",
    output: Path | str | None = None,
    root: Path | str | None = None,
    log_output: bool = False,
    progress_bar: bool = True,
    echo=print,
) -> Path:
    """Execute one chapter with a profile and extra parameters into ``output`` (no cache involved).

    The equivalent papermill command is printed; the default output is ``_build/runs/<chapter>.ipynb``.
    """
    root = find_root(root)
    chapter = get_chapter(name, root)
    nb = read_source(chapter)
    injected, _ = resolve_parameters(chapter, profile, overrides, nb=nb)
    out = Path(output) if output is not None else root / RUNS_DIR / f"{chapter.name}.ipynb"
    out = out if out.is_absolute() else Path.cwd() / out
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["papermill", chapter.rel_ipynb, str(out)]
    for name in profile_chain(root, profile):  # a profile that extends another: its base's file first
        if profile_file(root, name, chapter.name).is_file():
            cmd += ["-f", f"profiles/{name}/{chapter.name}.yml"]
    for k, v in (overrides or {}).items():
        cmd += ["-p", k, str(v)]
    echo("[book] " + " ".join(cmd))
    start = time.perf_counter()
    _papermill_execute(nb, out, injected, root, log_output, progress_bar)
    echo(f"[book] {chapter.name} finished in {time.perf_counter() - start:.1f} s: {out}")
    return out
