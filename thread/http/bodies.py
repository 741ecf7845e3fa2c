"""Request bodies an endpoint reads itself, after its token is checked, within a size limit.

FastAPI reads a declared body before a route's dependencies run, so an unauthenticated
client could make the service read and parse a large body only to be refused. Endpoints
with a body therefore read it in a dependency or the handler (after the token), through
`limited`, and document it with `body_doc`.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pydantic
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.types import Message

from thread.http.errors import ApiError

__all__ = ["body_doc", "json_body", "limited", "validated"]

M = TypeVar("M", bound=BaseModel)


def body_doc(model: type[BaseModel], media_type: str) -> dict[str, Any]:
    """OpenAPI for a body the endpoint reads itself (after its token is checked)."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


def validated(model: type[M], data: Any) -> M:
    """`data` (JSON bytes or a form) as `model`; a 422 in the shape of FastAPI's own checks."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(problems) from None


def limited(request: Request, limit: int) -> Request:
    """The request, with its body refused (413) past `limit` bytes: at once when its
    Content-Length says so, else as soon as the bytes that arrive (chunked bodies have no
    length) pass it, so an oversized body is never held whole."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise _too_large(limit)
        return message

    return Request(request.scope, receive)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "too_large",
        f"the request body is over this endpoint's limit of {limit:,} bytes",
        {"limit": limit},
    )


def json_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency: the JSON body as `model`, at most the service's `max_json_bytes`."""

    async def parse(request: Request) -> M:
        limit: int = request.app.state.settings.max_json_bytes
        return validated(model, await limited(request, limit).body())

    return parse
