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
