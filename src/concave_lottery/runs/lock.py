"""The run lock: one process trains a run folder at a time (``lottery run``, ``lottery sweep`` workers).

Kept free of torch, so that checking or testing it is cheap.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import UserError
from .paths import RunDir


class RunLock:
    """An exclusive lock on a run folder, so that two processes (two sweeps, or a sweep and a ``lottery run``)
    never train the same run at once.

    ``fcntl.flock`` on the open file ``.lock``: the kernel grants it to one process at a time and releases it
    when the process ends, however it ends (``kill -9`` included), so a lock is never stale and an empty or
    leftover ``.lock`` file is simply reused. The file stays (deleting it would let a third process lock a
    new file while a second still waits on the old one); it holds the owner's pid, for the message.

    A ``.lock`` written by a version of the library from before ``flock`` (a pid alone, created with
    ``O_EXCL``) whose pid is a live lottery process is respected; one whose pid is dead or belongs to an
    unrelated process is taken over.
    """

    MARK = "flock"

    def __init__(self, run_dir: Path) -> None:
        self.path = RunDir(run_dir).lock
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_lock(fd)
            os.close(fd)
            who = f"process {owner[0]}" if owner[0] else "another process"
            raise UserError(f"{self.path.parent} is being run by {who}; wait for it to finish (or stop it) "
                            f"and run again.") from None
        pid, mark = _read_lock(fd)
        if pid and mark != self.MARK and pid != os.getpid() and _is_lottery_process(pid):
            os.close(fd)
            raise UserError(f"{self.path.parent} is being run by process {pid} (an older version of the library); "
                            f"wait for it to finish (or stop it) and run again.")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.MARK}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)  # releases the flock


def _read_lock(fd: int) -> tuple[int | None, str]:
    try:
        words = os.pread(fd, 100, 0).decode(errors="replace").split()
        return (int(words[0]) if words else None), (words[1] if len(words) > 1 else "")
    except (OSError, ValueError):
        return None, ""


def _is_lottery_process(pid: int) -> bool:
    """Whether ``pid`` is a live process running this library: ``lottery ...``, ``python -m concave_lottery...``,
    or a worker process of one (a sweep's workers are spawned by ``lottery sweep``)."""
    for candidate in (pid, _parent(pid)):
        if candidate is None:
            continue
        try:
            argv = Path(f"/proc/{candidate}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(os.path.basename(a) == "lottery" or a.startswith("concave_lottery") for a in argv):
            return True
    return False


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
