"""Thread's exception root.

Every failure a user can act on is a `ThreadError`; the CLI prints its message as
`Error: …` and exits 1, and the HTTP service maps the subclasses to status codes. The
messages name the file, row, label or uid involved and never contain credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "NotFoundError",
    "Problem",
    "QueryError",
    "QueryMemoryError",
    "QueryTimeoutError",
    "ReadOnlyError",
    "SourceError",
    "StoreError",
    "ThreadError",
    "UsageError",
    "ValidationError",
]


class ThreadError(Exception):
    """Root of every error Thread raises on purpose."""


class UsageError(ThreadError):
    """A value the user gave (an argument, an option, an HTTP parameter) is not one Thread
    accepts: the CLI exits 2, HTTP answers 422. The message names the value and the forms
    accepted."""


class StoreError(ThreadError):
    """The store cannot be reached, started or stopped."""


class QueryError(ThreadError):
    """The store rejected a query; the message is the store's own."""


class ReadOnlyError(QueryError):
    """A query that writes was run where only reads are allowed."""


class QueryMemoryError(QueryError):
    """A query needs more memory than the server allows one transaction."""


class QueryTimeoutError(QueryError):
    """A query ran past its time limit and was stopped."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as the source allows."""

    source: str
    message: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return (
            f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"
        )


class ValidationError(ThreadError):
    """Input failed validation; nothing was written. Carries every problem found."""

    def __init__(self, problems: Sequence[Problem], truncated: bool = False) -> None:
        self.problems = list(problems)
        self.truncated = truncated
        lines = [str(p) for p in self.problems]
        if truncated:
            lines.append("… more problems not shown (stopped at the error limit)")
        count = len(self.problems)
        head = f"{count}{'+' if truncated else ''} problem{'s' if count != 1 else ''}; nothing was written"
        super().__init__(head + "\n" + "\n".join(lines))


class SourceError(ThreadError):
    """A source file cannot be read at all (missing, wrong format, wrong encoding)."""


class NotFoundError(ThreadError):
    """No entity has this uid; the message offers the closest existing uids."""

    def __init__(self, uid: str, closest: Sequence[str] = ()) -> None:
        self.uid = uid
        self.closest = list(closest)
        hint = f"; closest: {', '.join(self.closest)}" if self.closest else ""
        super().__init__(f"no entity with uid {uid!r}{hint}")
