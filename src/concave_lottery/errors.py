"""User-facing errors.

A :class:`UserError` is a mistake in what the user asked for (a bad parameter value, an unknown
name, a missing dataset). The command line prints its message as one paragraph and exits with
status 2, without a traceback. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's request; the message says what was wrong and what is allowed."""


class ParameterError(UserError, ValueError):
    """A parameter has a value outside what is allowed.

    The message names the parameter, the value given and what is allowed, e.g.
    ``alpha=1.5 is not allowed: alpha must lie in the open interval (0, 1).``
    """

    def __init__(self, name: str, value: object, allowed: str) -> None:
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"{name}={value!r} is not allowed: {allowed}.")


def unknown_name(kind: str, value: str, known: Iterable[str]) -> ParameterError:
    """The error for an unknown preset, model, dataset, method, regularizer or key."""
    return ParameterError(kind, value, f"{kind} must be one of {', '.join(sorted(known))}")


class DatasetUnavailable(UserError):
    """No source could provide a dataset; the message lists every source tried and the fix."""


class CorruptFile(UserError):
    """A file exists but does not match its checksum or expected format."""


_OS_ADVICE = {
    "ENOSPC": "the disk is full: free some space (or choose another --out) and run again; the run resumes "
              "where it stopped",
    "EDQUOT": "the disk quota is exhausted: free some space (or choose another --out) and run again",
    "EROFS": "the filesystem is read-only: choose a writable --out",
    "EACCES": "you may not write there: choose a folder you can write to (--out) or change its permissions",
    "EPERM": "you may not write there: choose a folder you can write to (--out) or change its permissions",
    "ENOTDIR": "a part of that path is a file, not a folder: choose another --out",
    "EISDIR": "that is a folder, not a file",
    "EEXIST": "something is already there: choose another --out",
    "ENOENT": "it does not exist",
}


def os_error(exc: OSError) -> UserError:
    """A :class:`UserError` paragraph for an ``OSError`` (the path, what failed, what to do)."""
    import errno

    code = errno.errorcode.get(exc.errno or 0, "")
    where = exc.filename if exc.filename is not None else "a file"
    if exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    what = exc.strerror or str(exc)
    advice = _OS_ADVICE.get(code, "check the path and the disk, then run again")
    return UserError(f"cannot write or read {where}: {what}{f' ({code})' if code else ''}; {advice}.")
