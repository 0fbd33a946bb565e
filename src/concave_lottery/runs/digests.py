"""Every file a run writes is verified before it is used: a sha256 per file in the run's ``digests.json``.

``digests.json`` (``{"format": 1, "algorithm": "sha256", "files": {relative path: digest}}``) is
written atomically after the file it describes, in two steps, so that a process killed at any moment
leaves a folder that verifies:

1. the new content goes to ``<file>.tmp``; its digest is *added* to the file's entry (the entry then
   accepts the old content and the new one: a list of two digests);
2. ``<file>.tmp`` is renamed over ``<file>``; the entry is set to the new digest alone.

Reading a file reads its bytes once, checks their digest against the entry, and only then parses them
(``torch.load`` or JSON) from those same bytes. A missing entry, a mismatching digest or a file that was
deleted is a :class:`~concave_lottery.errors.CorruptFile` error that names the file and what to delete
(:meth:`~concave_lottery.runs.paths.RunDir.unit_of`: the smallest part of the run recomputed with nothing
else lost). Structural checks (keys, shapes and dtypes against the model) follow in
:mod:`concave_lottery.runs.lottery`.

**Runs from before digests.** A run folder with no ``digests.json`` at all was written by an older
version. When such a run is resumed (``lottery run``, ``lottery sweep``), its files are *adopted*: their
digests are written once, as they are, with a one-line notice, so that an interrupted campaign resumes
from its checkpoints. A finished run folder without digests is refused by every reader with the command
that adopts it: ``lottery migrate-digests RUN_FOLDER_OR_RESULTS_ROOT`` (:func:`migrate`), which trusts the
files as they are.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CorruptFile
from .paths import RunDir

if TYPE_CHECKING:  # torch is imported where it is used: `lottery results` starts without it
    import torch

FORMAT = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def torch_bytes(obj: object) -> bytes:
    """``torch.save`` into memory (a full disk then fails in Python's own write, with ENOSPC)."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def json_bytes(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode()


def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``; on failure (a full disk) the partial file goes and the error names the path."""
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        path.unlink(missing_ok=True)
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    _write_file(tmp, data)
    os.replace(tmp, path)


class Digests:
    """The digests of one run folder: verified reads and atomic, digested writes.

    Only the process that holds the run's lock writes; readers reread ``digests.json`` every time.
    """

    def __init__(self, run: RunDir | Path | str) -> None:
        self.run = run if isinstance(run, RunDir) else RunDir(run)

    # ------------------------------------------------------------------ the manifest
    def exists(self) -> bool:
        return self.run.digests.exists()

    def entries(self) -> dict[str, list[str]]:
        """``{relative path: accepted digests}``; an absent ``digests.json`` is empty."""
        path = self.run.digests
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptFile(f"{path} (the digests of the run's files) is not valid JSON ({exc}). Nothing in "
                              f"{self.run.path} can be verified: {self.run.unit_of(path)}.") from None
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict) or data.get("algorithm") != "sha256":
            raise CorruptFile(f"{path} is not a digests file of this library (no sha256 'files'). Nothing in "
                              f"{self.run.path} can be verified: {self.run.unit_of(path)}.")
        return {k: ([v] if isinstance(v, str) else list(v)) for k, v in files.items()}

    def _save(self, entries: dict[str, list[str]]) -> None:
        files = {k: (v[0] if len(v) == 1 else v) for k, v in sorted(entries.items())}
        _write_atomic(self.run.digests, json_bytes({"format": FORMAT, "algorithm": "sha256", "files": files}))

    # ------------------------------------------------------------------ writing
    def write_bytes(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` (a file of this run) with its digest, in the two steps above."""
        path = Path(path)
        key = self.run.relative(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = sha256(data)
        tmp = path.with_name(path.name + ".tmp")
        _write_file(tmp, data)
        entries = self.entries()
        old = entries.get(key, []) if path.exists() else []
        entries[key] = [*old, digest] if digest not in old else old
        self._save(entries)
        os.replace(tmp, path)
        entries[key] = [digest]
        self._save(entries)

    def save_torch(self, obj: object, path: Path) -> None:
        self.write_bytes(path, torch_bytes(obj))

    def write_json(self, path: Path, data: object) -> None:
        self.write_bytes(path, json_bytes(data))

    def delete(self, *paths: Path) -> None:
        """Delete files of this run and their digests."""
        entries = self.entries()
        for path in paths:
            Path(path).unlink(missing_ok=True)
            entries.pop(self.run.relative(path), None)
        self._save(entries)

    # ------------------------------------------------------------------ reading
    def read_bytes(self, path: Path, *, entries: dict[str, list[str]] | None = None) -> bytes:
        """The bytes of ``path``, verified against its digest."""
        path = Path(path)
        entries = self.entries() if entries is None else entries
        if not entries and not self.exists():
            raise CorruptFile(f"{path} cannot be verified: {self.run.path} has no {self.run.digests.name} (it was "
                              f"written by a version of the library from before digests). If you trust its files "
                              f"as they are, run `lottery migrate-digests {self.run.path}` once; otherwise "
                              f"{self.run.unit_of(self.run.config)}.")
        key = self.run.relative(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            state = "was written by this run but has been deleted" if key in entries else "is missing"
            raise CorruptFile(f"{path} {state}: {self.run.unit_of(path)}.") from None
        if key not in entries:
            raise CorruptFile(f"{path} has no digest in {self.run.digests} (it was not written by this run, or "
                              f"its write was cut short), so it is not used: {self.run.unit_of(path)}.")
        if sha256(data) not in entries[key]:
            raise CorruptFile(f"{path} does not match its digest in {self.run.digests} (sha256 "
                              f"{sha256(data)[:12]}… instead of {entries[key][-1][:12]}…): it was changed, "
                              f"truncated or damaged after it was written, so it is not used: "
                              f"{self.run.unit_of(path)}.")
        return data

    def load_torch(self, path: Path, *, map_location: str | torch.device | None = None,
                   weights_only: bool = True) -> Any:
        import torch

        data = self.read_bytes(path)
        try:
            return torch.load(io.BytesIO(data), map_location=map_location, weights_only=weights_only)
        except Exception as exc:  # matches its digest, yet unreadable: written wrong
            raise CorruptFile(f"{path} cannot be read ({type(exc).__name__}: {exc}), so it is not used: "
                              f"{self.run.unit_of(path)}.") from None

    def read_json(self, path: Path) -> Any:
        data = self.read_bytes(path)
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptFile(f"{path} is not valid JSON ({exc}), so it is not used: "
                              f"{self.run.unit_of(path)}.") from None

    def verify_all(self) -> None:
        """Every file present has its digest and matches it, and every file with a digest is present
        (θ_0, θ_k and checkpoints excepted: they are not kept with a finished run's record)."""
        entries = self.entries()
        for path in self.run.files():
            self.read_bytes(path, entries=entries)
        optional = {self.run.relative(self.run.theta0), self.run.relative(self.run.theta_rewind)}
        for key in entries:
            path = self.run.path / key
            if key not in optional and not key.endswith("/checkpoint.pt") and not path.exists():
                raise CorruptFile(f"{path} was written by this run but has been deleted: {self.run.unit_of(path)}.")

    # ------------------------------------------------------------------ runs from before digests
    def adopt(self, *, notice: bool = True) -> int:
        """Write the digests of every file present, as they are (a run folder without digests). Returns
        the number of files adopted."""
        entries = {self.run.relative(p): [sha256(p.read_bytes())] for p in self.run.files()}
        self._save(entries)
        if notice:
            print(f"lottery: {self.run.path} was written before digests; its {len(entries)} files are adopted as "
                  f"they are ({self.run.digests.name} written).", file=sys.stderr)
        return len(entries)


def is_run_folder(path: Path) -> bool:
    return (Path(path) / "config.json").is_file()


def migrate(root: Path | str) -> list[tuple[Path, int]]:
    """Adopt the files of every run folder under ``root`` (or ``root`` itself) that has no digests yet,
    trusting them as they are; folders that have digests are left alone. Returns (folder, files adopted)."""
    root = Path(root)
    folders = [root] if is_run_folder(root) else sorted(p.parent for p in root.rglob("config.json"))
    done = []
    for folder in folders:
        digests = Digests(folder)
        if not digests.exists():
            done.append((folder, digests.adopt(notice=False)))
    return done
