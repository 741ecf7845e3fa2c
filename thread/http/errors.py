"""One error shape for every HTTP response that is not a success: code, message, details.

Library exceptions map to statuses here, in one table, so an endpoint never decides a
status on its own and no stack trace ever reaches a client.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from thread.errors import (
    NotFoundError,
    OntologyError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyError,
    SourceError,
    StoreError,
    ThreadError,
    ValidationError,
)
from thread.http.tokens import TokenError

__all__ = ["ApiError", "describe", "status_of"]


class ApiError(Exception):
    """An error the HTTP layer raises itself (authentication, size limits, bad input)."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


_STATUSES: list[tuple[type[ThreadError], int, str]] = [
    (ValidationError, 400, "validation"),
    (SourceError, 400, "source"),
    (NotFoundError, 404, "not_found"),
    (ReadOnlyError, 403, "read_only"),
    (QueryTimeoutError, 504, "timeout"),
    (QueryError, 400, "query"),
    (StoreError, 503, "store_unavailable"),
    (OntologyError, 422, "ontology"),
    (TokenError, 409, "conflict"),
]


def status_of(exc: BaseException) -> tuple[int, str]:
    """(HTTP status, error code) of an exception; the first matching row wins."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code
    for kind, status, code in _STATUSES:
        if isinstance(exc, kind):
            return status, code
    if isinstance(exc, ThreadError):
        return 422, "bad_request"
    return 500, "internal"


def describe(exc: BaseException) -> dict[str, Any]:
    """The JSON body for an exception (also a failed job's `error`)."""
    status, code = status_of(exc)
    details: dict[str, Any] = {}
    message = str(exc)
    if isinstance(exc, ApiError):
        message, details = exc.message, exc.details
    elif isinstance(exc, ValidationError):
        message = str(exc).splitlines()[0]
        details = {"problems": [asdict(p) for p in exc.problems], "truncated": exc.truncated}
    elif isinstance(exc, NotFoundError):
        details = {"uid": exc.uid, "closest": exc.closest}
    elif status == 500:
        message = "internal error; see the service log"
    return {"code": code, "message": message, "details": details}
