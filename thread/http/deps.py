"""What a route gets through FastAPI's dependency injection: the caller's token, checked
for a scope, and the parts of the service `create_app` keeps on `app.state`.

A router or route declares the scope it needs (`dependencies=READ`); a handler takes the
token as a parameter (`Writer`) only when it uses it. Route-level dependencies run before
any parameter's, and no endpoint declares a body FastAPI would read first, so the token
is checked before a body byte is read. Every dependency here is `async`: each is quick,
and a sync one would cost a hop to the thread pool on every request.
"""

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from thread.http.errors import ApiError
from thread.http.jobs import JobRunner
from thread.http.metrics import Metrics
from thread.http.settings import Settings
from thread.http.tokens import Scope, Token, TokenStore
from thread.stores import GraphStore

__all__ = [
    "ADMIN",
    "READ",
    "JobsDep",
    "MetricsDep",
    "SettingsDep",
    "StoreDep",
    "TokensDep",
    "Writer",
    "requires",
]

_BEARER = re.compile(r"Bearer ([A-Za-z0-9._~+/-]+=*)", re.IGNORECASE)
"""RFC 6750's credentials, strictly: one space, then the token (a second space or a tab is refused)."""


def requires(scope: Scope) -> Callable[[Request], Awaitable[Token]]:
    """A dependency that answers 401 without a valid bearer token and 403 when the token's
    scope is below `scope`; it returns the token and names it in the request's log line."""

    async def check(request: Request) -> Token:
        tokens: TokenStore = request.app.state.tokens
        match = _BEARER.fullmatch(request.headers.get("authorization", ""))
        token = tokens.verify(match.group(1)) if match else None
        if token is None:
            raise ApiError(
                401,
                "unauthorized",
                "a valid bearer token is required (create one with `thread token create`)",
            )
        request.state.token = token.name
        if not token.allows(scope):
            raise ApiError(
                403,
                "forbidden",
                f"token {token.name!r} has scope {token.scope!r}; this needs {scope!r}",
            )
        return token

    return check


READ, ADMIN = [Depends(requires("read"))], [Depends(requires("admin"))]
Writer = Annotated[Token, Depends(requires("write"))]
"""The caller's token, which must allow writes (a handler that records who wrote)."""


def _part(name: str) -> Any:
    """A dependency on `app.state.<name>`; the alias that declares it gives its type."""

    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    return Depends(get)


StoreDep = Annotated[GraphStore, _part("store")]
"""The store the service opened at startup (closed, and saved, at shutdown)."""
SettingsDep = Annotated[Settings, _part("settings")]
JobsDep = Annotated[JobRunner, _part("jobs")]
TokensDep = Annotated[TokenStore, _part("tokens")]
MetricsDep = Annotated[Metrics, _part("metrics")]
