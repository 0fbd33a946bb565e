"""Carry run folders between machines: ``lottery pack`` and ``lottery unpack``.

A campaign trained elsewhere (a lent GPU machine, whose files come back as at most 8 files of 16 MiB
each and 64 MiB together; a cluster's scratch disk; a colleague's laptop) comes home as a few archive
parts. Finished runs and unfinished ones travel alike: an unfinished run carries its epoch checkpoints
and resumes on the machine that unpacks it, with nothing lost (:mod:`concave_lottery.runs.lottery`).

:func:`pack` writes the run folders named (relative to a results root, ``<preset>/<run name>/``, every
file but the ``.lock``) into one gzip-compressed tar with a ``manifest.json``, split into parts of at most
:data:`PART_BYTES`: ``runs-<sha>.tar.gz.part00``, ``…part01``, … where ``<sha>`` is the first 16 hex
digits of the whole archive's sha256. Each run is locked (:class:`~concave_lottery.runs.lock.RunLock`)
while it is read, so a run being trained is refused rather than copied half-written.

:func:`unpack` checks before it installs anything:

1. the parts form one complete set (part00 … partNN, none missing) whose concatenation has the sha256
   its names carry: a part truncated, damaged or left behind is detected, and nothing is used;
2. the archive extracts only plain files under its own folder (``tarfile``'s ``data`` filter);
3. every run it holds verifies: each file against the run's ``digests.json``, its ``config.json``'s
   hash names its folder, and a finished run's ``result.json`` has a record per round
   (:func:`concave_lottery.runs.results.check_finished_run`). A run that fails is refused, with the reason.

A verified run is then installed under the results root. Where that root already holds a copy of the
same run, the copy that got further is kept (:func:`concave_lottery.runs.progress.work_done`: finished,
then rounds recorded, phase, epochs): an incoming run that is further replaces the copy here (under its
lock, so never one being trained), and one that is not is left out, unless ``replace`` asks for it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CorruptFile, ParameterError, UserError
from .digests import Digests
from .lock import RunLock
from .paths import RESULT_FILE, RunDir
from .progress import work_done
from .results import check_finished_run, now

__all__ = ["PART_BYTES", "MAX_PARTS", "Packed", "Unpacked", "pack", "unpack", "part_sets"]

#: Largest part written by :func:`pack`: under the 16 MiB a file a lent GPU machine sends back.
PART_BYTES = 15 * 2**20
#: Most parts :func:`pack` writes: 4 x 15 MiB = 60 MiB, under the 64 MiB together that a lent GPU machine sends
#: back (at most 8 files of 16 MiB each, 64 MiB in all).
MAX_PARTS = 4
MANIFEST = "manifest.json"
_PART = re.compile(r"^runs-(?P<sha>[0-9a-f]{16})\.tar\.gz\.part(?P<index>\d{2})$")
_SKIPPED = {".lock"}


@dataclass(frozen=True)
class Packed:
    """What :func:`pack` wrote: the parts, the runs (relative paths), the archive's size in bytes, and the
    runs left out because they did not fit (``fit=True``)."""

    parts: list[Path]
    runs: list[str]
    size: int
    left_out: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Unpacked:
    """One run of an unpacked archive: its relative path, ``finished`` or ``unfinished``, and what was done
    (``added``, ``replaced …``, ``kept the copy here …`` or ``refused: …``)."""

    run: str
    state: str
    action: str

    @property
    def refused(self) -> bool:
        return self.action.startswith("refused")


def _relative(root: Path, run_dir: Path) -> str:
    try:
        rel = run_dir.resolve().relative_to(root.resolve())
    except ValueError:
        raise ParameterError("RUN_DIR", str(run_dir), f"a run folder under the results root {root}") from None
    if len(rel.parts) != 2 or not RunDir(run_dir).config.exists():
        raise ParameterError("RUN_DIR", str(run_dir), f"a run folder (<preset>/<run name>/ with a config.json) "
                             f"under the results root {root}")
    return rel.as_posix()


def _files(run_dir: Path) -> Iterator[Path]:
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and path.name not in _SKIPPED and not path.name.endswith(".tmp"):
            yield path


def _archive(root: Path, rels: Sequence[str]) -> bytes:
    """One gzip tar of the run folders ``rels`` (each read under its lock) and a manifest."""
    buffer = io.BytesIO()
    manifest: dict[str, Any] = {"created": now().isoformat(timespec="seconds"), "runs": []}
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for rel in rels:
            run_dir = root / rel
            with RunLock(run_dir):
                for path in _files(run_dir):
                    tar.add(path, arcname=f"{rel}/{path.relative_to(run_dir).as_posix()}", recursive=False)
            manifest["runs"].append({"run": rel, "finished": (run_dir / RESULT_FILE).exists()})
        data = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def pack(root: Path | str, run_dirs: Sequence[Path | str], dest: Path | str, *, part_bytes: int = PART_BYTES,
         max_parts: int = MAX_PARTS, fit: bool = False) -> Packed:
    """Write the run folders ``run_dirs`` (under the results root ``root``) into archive parts in ``dest``
    (see the module's docstring). A :class:`~concave_lottery.errors.UserError` when the archive needs more
    than ``max_parts`` parts (nothing is left in ``dest`` then) or a run is being trained.

    With ``fit``, runs are left out instead, one at a time, the one that got least far first
    (:func:`~concave_lottery.runs.progress.work_done`), until the rest fit; :attr:`Packed.left_out` names
    them. A machine that is about to be given back (a lent GPU) brings home what it can rather than nothing."""
    root, dest = Path(root), Path(dest)
    if not isinstance(part_bytes, int) or part_bytes < 1:
        raise ParameterError("part_bytes", part_bytes, "a size in bytes, an integer >= 1")
    if not isinstance(max_parts, int) or not 1 <= max_parts <= 100:
        raise ParameterError("max_parts", max_parts, "an integer from 1 to 100")
    rels = [_relative(root, Path(r)) for r in run_dirs]
    if not rels:
        raise ParameterError("runs", "none", "at least one run folder to pack")
    dest.mkdir(parents=True, exist_ok=True)
    left_out: list[str] = []
    archive = _archive(root, rels)
    while fit and len(rels) > 1 and -(-len(archive) // part_bytes) > max_parts:
        least = min(rels, key=lambda rel: work_done(root / rel))
        rels = [r for r in rels if r != least]
        left_out.append(least)
        archive = _archive(root, rels)
    count = -(-len(archive) // part_bytes)
    if count > max_parts:
        raise UserError(f"lottery pack: the {len(rels)} runs make a {len(archive) / 2**20:.1f} MiB archive, "
                        f"{count} parts of {part_bytes / 2**20:.1f} MiB, more than the {max_parts} allowed; pack "
                        f"fewer runs at a time (several packs unpack alike).")
    sha = hashlib.sha256(archive).hexdigest()[:16]
    parts = []
    for i in range(count):
        part = dest / f"runs-{sha}.tar.gz.part{i:02d}"
        part.write_bytes(archive[i * part_bytes:(i + 1) * part_bytes])
        parts.append(part)
    return Packed(parts, rels, len(archive), left_out)


def part_sets(parts: Sequence[Path | str]) -> dict[str, list[Path]]:
    """The parts grouped by archive (its sha prefix), each set checked complete (part00 … partNN) and
    in order; a :class:`~concave_lottery.errors.ParameterError` naming a file that is not a part, or
    the parts missing from a set."""
    sets: dict[str, dict[int, Path]] = {}
    for part in map(Path, parts):
        match = _PART.match(part.name)
        if not match or not part.is_file():
            raise ParameterError("PARTS", str(part), "files written by `lottery pack`, named "
                                 "runs-<16 hex digits>.tar.gz.partNN")
        sets.setdefault(match["sha"], {})[int(match["index"])] = part
    complete = {}
    for sha, found in sets.items():
        missing = sorted(set(range(max(found) + 1)) - set(found))
        if missing:
            raise ParameterError("PARTS", f"runs-{sha}.tar.gz.part*", f"every part of the archive; part(s) "
                                 f"{', '.join(f'{i:02d}' for i in missing)} are missing")
        complete[sha] = [found[i] for i in sorted(found)]
    return complete


def _verify(run_dir: Path) -> str | None:
    """Why the extracted run folder ``run_dir`` must not be used, or None when it verifies."""
    from .config import RunConfig

    run = RunDir(run_dir)
    digests = Digests(run)
    try:
        if run.result.exists():
            check_finished_run(run_dir)
        else:
            digests.verify_all()
        config = RunConfig.from_dict(digests.read_json(run.config))
    except (CorruptFile, TypeError, ValueError) as exc:
        return str(exc)
    if config.run_name() != run.name:
        return f"its config's run name is {config.run_name()}, not the folder's name {run.name}"
    return None


def _install(incoming: Path, here: Path, *, replace: bool) -> str:
    if not here.exists():
        here.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(incoming), str(here))
        return "added"
    ahead, local = work_done(incoming), work_done(here)
    if ahead <= local and not replace:
        return "kept the copy here: it is as far or further (unpack with --replace to take the incoming one)"
    with RunLock(here):
        old = here.with_name(here.name + ".replaced")
        shutil.rmtree(old, ignore_errors=True)
        here.rename(old)
        shutil.move(str(incoming), str(here))
    shutil.rmtree(old)
    return "replaced the copy here, which was less far" if ahead > local else "replaced the copy here (--replace)"


def unpack(parts: Sequence[Path | str], root: Path | str, *, replace: bool = False) -> list[Unpacked]:
    """Verify the archive parts ``parts`` and install their runs under the results root ``root`` (see the
    module's docstring); one :class:`Unpacked` per run. A damaged or incomplete set of parts raises
    :class:`~concave_lottery.errors.CorruptFile` before anything is installed."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    outcome: list[Unpacked] = []
    for sha, files in part_sets(parts).items():
        archive = b"".join(p.read_bytes() for p in files)
        if hashlib.sha256(archive).hexdigest()[:16] != sha:
            raise CorruptFile(f"the parts runs-{sha}.tar.gz.part00…{len(files) - 1:02d} do not make the archive "
                              f"their names carry (sha256 {hashlib.sha256(archive).hexdigest()[:16]}…): a part "
                              f"is damaged, truncated or from another pack, so none is used.")
        with tempfile.TemporaryDirectory(dir=root, prefix=".unpack-") as tmp:
            try:
                with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
                    tar.extractall(tmp, filter="data")
                manifest = json.loads((Path(tmp) / MANIFEST).read_text())
            except (tarfile.TarError, OSError, ValueError) as exc:
                raise CorruptFile(f"runs-{sha}.tar.gz cannot be read ({exc}), so none of it is used.") from None
            for entry in manifest["runs"]:
                rel = entry["run"]
                if not re.fullmatch(r"[\w.+-]+/[\w.+-]+", rel) or ".." in rel.split("/"):
                    raise CorruptFile(f"runs-{sha}.tar.gz names a run {rel!r} that is not <preset>/<run name>, "
                                      f"so none of it is used.")
                state = "finished" if entry["finished"] else "unfinished"
                incoming = Path(tmp) / rel
                why = _verify(incoming) if incoming.is_dir() else "it is listed in the manifest but not in the archive"
                if why is None and entry["finished"] != (incoming / RESULT_FILE).exists():
                    why = f"the manifest says {state}, the folder says otherwise"
                action = f"refused: {why}" if why else _install(incoming, root / rel, replace=replace)
                outcome.append(Unpacked(rel, state, action))
    return outcome
