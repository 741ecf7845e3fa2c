"""The OpenAPI schema for a client with a read token. Included only without `--docs`:
with it, FastAPI serves the schema and the docs pages to anyone."""

from typing import Any

from fastapi import APIRouter, Request

from thread.http.deps import READ

__all__ = ["router"]

router = APIRouter(dependencies=READ)


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request) -> dict[str, Any]:
    """The OpenAPI schema, for a client that has a token (`--docs` serves it open)."""
    schema: dict[str, Any] = request.app.openapi()
    return schema
