"""Errors that speak to the user.

Driver and parser errors are wrapped where they arise (``raise ... from e``); views and the
command line catch only :class:`WorkbenchError` and show ``title`` and ``message``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class WorkbenchError(Exception):
    """An error whose message is written for the person using the workbench."""

    title = "Something went wrong"

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class InputError(WorkbenchError):
    """A file that cannot be read as a table (unusable input)."""

    title = "This file cannot be read"


class MappingError(WorkbenchError):
    """A file whose columns cannot be mapped onto a canonical table."""

    title = "Columns could not be mapped"


class DatasetNotFound(WorkbenchError):
    """A dataset token that is malformed, unknown or deleted."""

    title = "Dataset not found"


class UnknownName(WorkbenchError):
    """An unknown metric, dimension, table or option; the message carries suggestions."""

    title = "Unknown name"

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        shown = ", ".join(known[:30])
        super().__init__(f"Unknown {kind} {name!r}.{hint} Known: {shown}.")
        self.kind = kind
        self.name = name
        self.suggestions = close


class LimitExceeded(InputError):
    """An input larger than the configured limits (file, unpacked size, field, columns)."""

    title = "File too large"
