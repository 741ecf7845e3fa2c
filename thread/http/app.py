"""The HTTP API: the library's questions and imports over FastAPI, behind bearer tokens.

Every endpoint calls the same library function as the CLI and returns its `to_dict()`,
so a response is byte for byte the JSON `thread … --json` prints for the same question.
Long operations (imports) run as jobs: 202 with the job, then GET /jobs/{id}. The
endpoints live in `thread.http.routes`, one router per tag; this module assembles them.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException

from thread import __version__
from thread.errors import ThreadError
from thread.http.errors import (
    ApiError,
    describe,
    on_bad_request,
    on_error,
    on_http_error,
    status_of,
)
from thread.http.jobs import JobRunner
from thread.http.metrics import Metrics
from thread.http.observe import Observe
from thread.http.routes import (
    graph,
    imports,
    jobs,
    operations,
    schema,
    tokens,
    traceability,
    twins,
)
from thread.http.settings import Settings
from thread.http.tokens import TokenStore
from thread.stores import open_store

__all__ = ["create_app"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the store on startup; on shutdown let running jobs finish, then close (save) it."""
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    store = open_store(
        settings.store,
        user=settings.user,
        password=settings.password,
        database=settings.database,
    )
    store.observer = metrics.observe_query
    app.state.store = store
    app.state.jobs = jobs = JobRunner(describe, status_of)
    try:
        yield
    finally:
        jobs.shutdown()
        store.close()


DOCS_ASSETS = "/docs/assets"
"""Where `--docs` serves Swagger UI's and ReDoc's scripts, styles and icon."""


def create_app(settings: Settings) -> FastAPI:
    """The application, with its store opened on startup and closed (saved) on shutdown.

    Routes reach the settings, tokens and metrics (kept here) and the store and jobs (kept
    by the lifespan) on `app.state`, through the dependencies of `thread.http.deps`."""
    about: dict[str, Any] = {
        "title": "Thread",
        "version": __version__,
        "description": "The digital thread over HTTP: the same questions and JSON as the `thread` CLI.",
        "lifespan": _lifespan,
    }
    if settings.docs:
        # plant networks are often offline: Swagger UI and ReDoc come from the package,
        # not from a CDN
        app = FastAPIOffline(static_url=DOCS_ASSETS, **about)
    else:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, **about)
    app.state.settings = settings
    app.state.tokens = TokenStore(settings.tokens)
    app.state.metrics = metrics = Metrics()

    app.add_exception_handler(ApiError, on_error)
    app.add_exception_handler(ThreadError, on_error)
    app.add_exception_handler(Exception, on_error)
    # these two take their own class, which add_exception_handler's type does not allow
    app.exception_handler(RequestValidationError)(on_bad_request)
    app.exception_handler(HTTPException)(on_http_error)

    app.add_middleware(Observe, metrics=metrics)

    if not settings.docs:
        app.include_router(schema.router)
    # in the order of the OpenAPI document
    app.include_router(operations.router)
    app.include_router(graph.router)
    app.include_router(traceability.router)
    app.include_router(twins.router)
    app.include_router(imports.router)
    app.include_router(jobs.router)
    app.include_router(tokens.router)
    return app
