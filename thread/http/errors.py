"""One error shape for every HTTP response that is not a success: code, message, details.

Library exceptions map to statuses here, in one table, so an endpoint never decides a
status on its own and no stack trace ever reaches a client; the handlers `create_app`
registers answer every refusal, FastAPI's and Starlette's own included, in this shape.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from thread.errors import (
    NotFoundError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyError,
    SourceError,
    StoreError,
    ThreadError,
    UsageError,
    ValidationError,
)
from thread.http.tokens import TokenError
from thread.ontology.errors import OntologyError

__all__ = ["ApiError", "describe", "on_bad_request", "on_error", "on_http_error", "status_of"]

log = logging.getLogger("thread.api")


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
    (UsageError, 422, "bad_parameters"),
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


async def on_error(request: Request, exc: Exception) -> JSONResponse:
    """The library's and the API's own errors are answers; anything else is a 500 (logged)."""
    status, _ = status_of(exc)
    if status == 500:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(describe(exc), status_code=status)


async def on_bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's checks of parameters and bodies, each problem with where it is."""
    problems = [
        {"where": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
    ]
    body = {
        "code": "bad_parameters",
        "message": "the request's parameters are not valid",
        "details": {"problems": problems},
    }
    return JSONResponse(body, status_code=422)


async def on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own refusals (no such route, wrong method, a form it cannot parse)."""
    where = f"{request.method} {request.url.path}"
    allowed = (exc.headers or {}).get("Allow", "")
    code, message = {
        404: ("not_found", f"no endpoint answers {where} (the endpoints: /openapi.json)"),
        405: ("method_not_allowed", f"{where} is not allowed; this path takes {allowed}"),
        400: ("bad_request", f"the request body cannot be read: {exc.detail}"),
    }.get(exc.status_code, ("http_error", str(exc.detail)))
    return JSONResponse(
        {"code": code, "message": message, "details": {}},
        status_code=exc.status_code,
        headers=exc.headers,
    )
