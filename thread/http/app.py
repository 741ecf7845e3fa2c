"""The HTTP API: the library's questions and imports over FastAPI, behind bearer tokens.

Every endpoint calls the same library function as the CLI and returns its `to_dict()`,
so a response is byte for byte the JSON `thread … --json` prints for the same question.
Long operations (imports) run as jobs: 202 with the job, then GET /jobs/{id}.
"""

import asyncio
import logging
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio.to_thread
import pydantic
from fastapi import Depends, FastAPI, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.types import Message

from thread import __version__
from thread.clock import utc_now
from thread.entities import get_entity
from thread.errors import ThreadError
from thread.http.errors import ApiError, describe, status_of
from thread.http.jobs import Job, JobRunner
from thread.http.metrics import Metrics
from thread.http.observe import Observe
from thread.http.query import bounded_query
from thread.http.tokens import Scope, Token, TokenStore
from thread.importers import importer_kinds
from thread.pipeline.imports import ImportOptions, import_file, refresh_after
from thread.queries.as_of import as_of, diff
from thread.queries.path import shortest_path
from thread.queries.recall import recall
from thread.queries.status import store_status
from thread.queries.trace import SECTIONS, Section, trace
from thread.queries.twin import list_twins, show_twin
from thread.queries.where_used import where_used
from thread.stores import GraphStore, open_store

__all__ = ["Settings", "create_app"]

log = logging.getLogger("thread.api")

M = TypeVar("M", bound=BaseModel)

_BEARER = re.compile(r"Bearer ([A-Za-z0-9._~+/-]+=*)", re.IGNORECASE)
"""RFC 6750's credentials, strictly: one space, then the token (a second space or a tab is refused)."""
MAX_UPLOAD_NAME = 255
"""An upload's file name becomes a file (most file systems take 255 bytes)."""


@dataclass
class Settings:
    """How the service runs; the CLI's `thread serve` options fill it."""

    store: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    tokens: Path = Path(".thread/tokens.json")
    query_timeout_ms: int = 10_000
    row_limit: int = 10_000
    max_upload_bytes: int = 100 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    docs: bool = False
    """Serve /docs, /redoc and /openapi.json without a token (else only /openapi.json,
    with a read token)."""


class CypherQuery(BaseModel):
    cypher: str = Field(min_length=1, description="Read-only Cypher; values go in params.")
    params: dict[str, Any] = Field(default_factory=dict)


class NewToken(BaseModel):
    name: str = Field(min_length=1)
    scope: Scope = "read"


class ImportForm(BaseModel):
    """The multipart form of POST /imports."""

    kind: str = Field(description=f"one of: {', '.join(importer_kinds())}")
    file: UploadFile = Field(description="the file to import")
    mapping: UploadFile | None = Field(default=None, description="a TOML mapping file")
    dry_run: bool = False
    create_missing: bool = False
    source_id: str | None = None


def _body_doc(model: type[BaseModel], media_type: str) -> dict[str, Any]:
    """OpenAPI for a body the endpoint reads itself (after its token is checked)."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


def _validated(model: type[M], data: Any) -> M:
    """`data` (JSON bytes or a form) as `model`; a 422 in the shape of FastAPI's own checks."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(problems) from None


def _limited(request: Request, limit: int) -> Request:
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


def _safe_name(name: str | None) -> str:
    """An uploaded file's own name, reduced to a safe base name (messages cite it).

    Raises:
        ApiError: 422 for a name that cannot be a file's (`..`, or too long)."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name or "upload").name) or "upload"
    if base == "..":
        raise ApiError(
            422, "bad_parameters", "the upload's file name '..' is not a file name; send the "
            "file under its own name, e.g. parts.csv", {"filename": name},
        )  # fmt: skip
    if len(base) > MAX_UPLOAD_NAME:
        raise ApiError(
            422, "bad_parameters", f"the upload's file name is {len(base)} characters long; "
            f"at most {MAX_UPLOAD_NAME} are allowed", {"limit": MAX_UPLOAD_NAME},
        )  # fmt: skip
    return base


def _save(upload: UploadFile, target: Path) -> Path:
    """Copy an upload (spooled by the form parser) to its own file for the import job."""
    with open(target, "wb") as handle:
        shutil.copyfileobj(upload.file, handle)
    return target


def create_app(settings: Settings) -> FastAPI:
    """The application, with its store opened on startup and closed (saved) on shutdown."""
    metrics = Metrics()
    tokens = TokenStore(settings.tokens)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(
            settings.store,
            user=settings.user,
            password=settings.password,
            database=settings.database,
        )
        store.observer = metrics.observe_query
        state["store"] = store
        state["jobs"] = JobRunner(describe, status_of)
        try:
            yield
        finally:
            state["jobs"].shutdown()
            store.close()

    app = FastAPI(
        title="Thread",
        version=__version__,
        description="The digital thread over HTTP: the same questions and JSON as the `thread` CLI.",
        lifespan=lifespan,
        openapi_url="/openapi.json" if settings.docs else None,
        docs_url="/docs" if settings.docs else None,
        redoc_url="/redoc" if settings.docs else None,
    )

    def store() -> GraphStore:
        opened: GraphStore = state["store"]
        return opened

    def requires(scope: Scope) -> Callable[[Request], Awaitable[Token]]:
        # async: checking a token is quick, and a sync dependency costs a hop to the
        # thread pool on every request
        async def check(request: Request) -> Token:
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

    # Route-level dependencies run before any parameter's, and no endpoint declares a
    # body FastAPI would read first: the token is checked before a body byte is read.
    read, write, admin = requires("read"), requires("write"), requires("admin")
    READ, WRITE, ADMIN = [Depends(read)], [Depends(write)], [Depends(admin)]
    Writer = Annotated[Token, Depends(write)]

    def json_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
        async def parse(request: Request) -> M:
            return _validated(model, await _limited(request, settings.max_json_bytes).body())

        return parse

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        status, _ = status_of(exc)
        if status == 500:
            log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(describe(exc), status_code=status)

    # the library's and the API's own errors are answers; anything else is a 500 (logged)
    app.add_exception_handler(ApiError, on_error)
    app.add_exception_handler(ThreadError, on_error)
    app.add_exception_handler(Exception, on_error)

    @app.exception_handler(RequestValidationError)
    async def on_bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        body = {
            "code": "bad_parameters",
            "message": "the request's parameters are not valid",
            "details": {"problems": problems},
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(HTTPException)
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

    app.add_middleware(Observe, metrics=metrics)

    if not settings.docs:

        @app.get("/openapi.json", include_in_schema=False, dependencies=READ)
        def openapi() -> dict[str, Any]:
            """The OpenAPI schema, for a client that has a token (`--docs` serves it open)."""
            schema: dict[str, Any] = app.openapi()
            return schema

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, Any]:
        """Whether the service and its store answer (no token needed, so nothing about
        where the store is: `/status` tells that to a token)."""
        try:
            store().read("RETURN 1 AS ok")
            reachable = True
        except Exception:
            reachable = False
        return {"status": "ok" if reachable else "degraded", "version": __version__,
                "store_reachable": reachable}  # fmt: skip

    @app.get("/metrics", tags=["operations"], dependencies=READ)
    def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/status", tags=["graph"], dependencies=READ)
    def status() -> dict[str, Any]:
        """Counts per label and relationship type and recent import runs (`thread status --json`)."""
        return store_status(store()).to_dict()

    @app.get("/entities/{uid:path}", tags=["graph"], dependencies=READ)
    def entity(uid: str) -> dict[str, Any]:
        """One entity with its neighbours (`thread show UID --json`)."""
        return get_entity(store(), uid).to_dict()

    @app.post(
        "/query",
        tags=["graph"],
        dependencies=READ,
        openapi_extra=_body_doc(CypherQuery, "application/json"),
    )
    async def query(
        body: Annotated[CypherQuery, Depends(json_body(CypherQuery))], response: Response
    ) -> list[dict[str, Any]]:
        """Read-only Cypher with parameters, answered within the server's time limit; at
        most the row limit is fetched and returned (header X-Thread-Truncated says when
        rows were cut), with the columns in alphabetical order."""
        rows, truncated = await bounded_query(
            store(),
            body.cypher,
            body.params,
            row_limit=settings.row_limit,
            timeout_ms=settings.query_timeout_ms,
        )
        if truncated:
            response.headers["X-Thread-Truncated"] = "true"
        return rows

    @app.get("/trace/{uid:path}", tags=["traceability"], dependencies=READ)
    def trace_of(
        uid: str,
        sections: Annotated[
            str | None, Query(description=f"comma-separated: {', '.join(SECTIONS)}")
        ] = None,
        depth: Annotated[int | None, Query(ge=1)] = None,
    ) -> dict[str, Any]:
        """The whole thread of a unit (`thread trace UID --json`)."""
        chosen = tuple(s.strip() for s in sections.split(",")) if sections else SECTIONS
        unknown = [s for s in chosen if s not in SECTIONS]
        if unknown:
            raise ApiError(
                422,
                "bad_parameters",
                f"unknown section(s): {', '.join(unknown)}",
                {"sections": list(SECTIONS)},
            )
        picked: tuple[Section, ...] = tuple(s for s in SECTIONS if s in chosen)
        return trace(store(), uid, sections=picked, depth=depth).to_dict()

    @app.get("/where-used/{part:path}", tags=["traceability"], dependencies=READ)
    def where_used_of(part: str, rev: str | None = None) -> dict[str, Any]:
        """Assemblies and units that contain a part (`thread where-used PART --json`)."""
        return where_used(store(), part, revision=rev).to_dict()

    @app.get("/recall/{uid:path}", tags=["traceability"], dependencies=READ)
    def recall_of(uid: str, as_of: str | None = None) -> dict[str, Any]:
        """Units reached by a suspect lot, supplier, revision or serial (`thread recall --json`)."""
        return recall(store(), uid, as_of=as_of).to_dict()

    @app.get("/as-of/{uid:path}", tags=["traceability"], dependencies=READ)
    def configuration_as_of(uid: str, date: str) -> dict[str, Any]:
        """A unit's configuration on a date (`thread as-of UID DATE --json`)."""
        return as_of(store(), uid, date).to_dict()

    @app.get("/diff/{uid:path}", tags=["traceability"], dependencies=READ)
    def configuration_diff(uid: str) -> dict[str, Any]:
        """As designed vs as built vs as maintained (`thread diff UID --json`)."""
        return diff(store(), uid).to_dict()

    @app.get("/path", tags=["traceability"], dependencies=READ)
    def path_between(
        source: str, target: str, max_hops: Annotated[int, Query(ge=1, le=40)] = 12
    ) -> dict[str, Any]:
        """The shortest chain of relationships between two entities (`thread path --json`)."""
        return shortest_path(store(), source, target, max_hops=max_hops).to_dict()

    @app.get("/twins", tags=["twins"], dependencies=READ)
    def twins() -> dict[str, Any]:
        """Aggregate twins with their fleet counts (`thread twin list --json`)."""
        return list_twins(store())

    @app.get("/twins/{uid:path}", tags=["twins"], dependencies=READ)
    def twin(uid: str) -> dict[str, Any]:
        """One twin: an aggregate's fleet or an instance's state (`thread twin show --json`)."""
        return show_twin(store(), uid)

    @app.get("/imports", tags=["imports"], dependencies=READ)
    def import_runs(limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> list[dict[str, Any]]:
        """The latest import runs, newest first."""
        return store_status(store(), runs=limit).import_runs

    @app.post(
        "/imports",
        status_code=202,
        tags=["imports"],
        dependencies=WRITE,
        openapi_extra=_body_doc(ImportForm, "multipart/form-data"),
    )
    async def start_import(
        request: Request,
        token: Writer,
        wait: Annotated[
            bool,
            Query(description="answer when the import is done: 200 with the reports, or the error"),
        ] = False,
    ) -> Any:
        """Import an uploaded file as a job, all or nothing (`thread import KIND FILE --json`).

        Answers 202 with the job at once; poll GET /jobs/{id}. With `wait=true` the answer
        comes when the import is done: 200 with the reports, or the error's own status
        (400 with the file, row and column for a bad file)."""
        folder = Path(tempfile.mkdtemp(prefix="thread-upload-"))
        try:
            upload = _limited(request, settings.max_upload_bytes)
            async with upload.form(max_files=2, max_fields=8) as form:
                fields = _validated(ImportForm, dict(form))
                if fields.kind not in importer_kinds():
                    raise ApiError(
                        422,
                        "bad_parameters",
                        f"unknown kind {fields.kind!r}",
                        {"kinds": importer_kinds()},
                    )
                target = folder / _safe_name(fields.file.filename)
                path = await anyio.to_thread.run_sync(_save, fields.file, target)
                mapping_path = (
                    await anyio.to_thread.run_sync(_save, fields.mapping, folder / "mapping.toml")
                    if fields.mapping
                    else None
                )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        options = ImportOptions(
            mapping_path,
            fields.create_missing,
            fields.dry_run,
            fields.source_id or f"{fields.kind}:upload:{path.name}",
            actor=token.name,
        )

        def work(progress: Callable[[str, int, int | None], None]) -> list[dict[str, Any]]:
            try:
                reports = [
                    import_file(store(), fields.kind, path, options, progress, display=path.name)
                ]
                refresh_after(store(), reports, progress)
                metrics.imports.labels("succeeded").inc()
                return [r.to_dict() for r in reports]
            except BaseException:
                metrics.imports.labels("failed").inc()
                raise
            finally:
                shutil.rmtree(folder, ignore_errors=True)

        job = state["jobs"].submit("import", token.name, work)
        if not wait:
            return JSONResponse(
                job.to_dict(), status_code=202, headers={"Location": f"/jobs/{job.id}"}
            )
        finished = await asyncio.to_thread(state["jobs"].wait, job.id)
        if finished.error is not None:
            return JSONResponse(finished.error, status_code=finished.error_status)
        return JSONResponse(finished.result, status_code=200)

    @app.get("/jobs/{job_id}", tags=["jobs"], dependencies=READ)
    def job(job_id: str) -> dict[str, Any]:
        """A job's status, progress and, when done, its result or error."""
        found: Job | None = state["jobs"].get(job_id)
        if found is None:
            raise ApiError(
                404, "not_found", f"no job {job_id!r} (jobs are kept until the service restarts)"
            )
        return found.to_dict()

    @app.get("/tokens", tags=["tokens"], dependencies=ADMIN)
    def token_list() -> list[dict[str, str]]:
        return [TokenStore.public(t) for t in tokens.list()]

    @app.post(
        "/tokens",
        status_code=201,
        tags=["tokens"],
        dependencies=ADMIN,
        openapi_extra=_body_doc(NewToken, "application/json"),
    )
    def token_create(body: Annotated[NewToken, Depends(json_body(NewToken))]) -> dict[str, str]:
        """A new token; its secret is in `token` and is shown only here."""
        created, secret = tokens.create(body.name, body.scope, utc_now())
        return {**TokenStore.public(created), "token": secret}

    @app.delete("/tokens/{name}", tags=["tokens"], dependencies=ADMIN)
    def token_revoke(name: str) -> dict[str, str]:
        return TokenStore.public(tokens.revoke(name))

    return app
