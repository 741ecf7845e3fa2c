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
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from importers import importer_kinds
from importers.run import ImportOptions, import_file, refresh_after
from thread import __version__
from thread.api.errors import ApiError, describe, status_of
from thread.api.jobs import JobRunner
from thread.api.metrics import Metrics
from thread.api.observe import Observe
from thread.api.tokens import Scope, Token, TokenStore
from thread.configuration import as_of, diff
from thread.entities import get_entity
from thread.errors import ThreadError
from thread.fleet import list_twins, show_twin
from thread.paths import shortest_path
from thread.query import run_query
from thread.recall import recall
from thread.service import utc_now
from thread.status import store_status
from thread.stores import GraphStore, open_store
from thread.trace import SECTIONS, Section, trace
from thread.where_used import where_used

__all__ = ["Settings", "create_app"]

log = logging.getLogger("thread.api")


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


class CypherQuery(BaseModel):
    cypher: str = Field(min_length=1, description="Read-only Cypher; values go in params.")
    params: dict[str, Any] = Field(default_factory=dict)


class NewToken(BaseModel):
    name: str = Field(min_length=1)
    scope: Scope = "read"


def _safe_name(name: str | None) -> str:
    """An uploaded file's own name, reduced to a safe base name (messages cite it)."""
    base = Path(name or "upload").name
    return re.sub(r"[^A-Za-z0-9._-]", "_", base) or "upload"


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
    )

    def store() -> GraphStore:
        opened: GraphStore = state["store"]
        return opened

    def requires(scope: Scope) -> Callable[[Request], Awaitable[Token]]:
        # async: checking a token is quick, and a sync dependency costs a hop to the
        # thread pool on every request
        async def check(request: Request) -> Token:
            header = request.headers.get("authorization", "")
            kind, _, presented = header.partition(" ")
            token = tokens.verify(presented.strip()) if kind.lower() == "bearer" else None
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

    Reader = Annotated[Token, Depends(requires("read"))]
    Writer = Annotated[Token, Depends(requires("write"))]
    Admin = Annotated[Token, Depends(requires("admin"))]

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        status, _ = status_of(exc)
        if status == 500:
            log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(describe(exc), status_code=status)

    # the library's and the API's own errors are answers; anything else is a 500 (logged)
    app.add_exception_handler(ApiError, on_error)  # type: ignore[arg-type]
    app.add_exception_handler(ThreadError, on_error)  # type: ignore[arg-type]
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

    app.add_middleware(Observe, metrics=metrics, max_body=settings.max_upload_bytes)

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, Any]:
        """Whether the service and its store answer (no token needed)."""
        try:
            store().read("RETURN 1 AS ok")
            reachable = True
        except Exception:
            reachable = False
        return {"status": "ok" if reachable else "degraded", "version": __version__,
                "store": store().description, "store_reachable": reachable}  # fmt: skip

    @app.get("/metrics", tags=["operations"])
    def prometheus(token: Reader) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/status", tags=["graph"])
    def status(token: Reader) -> dict[str, Any]:
        """Counts per label and relationship type and recent import runs (`thread status --json`)."""
        return store_status(store()).to_dict()

    @app.get("/entities/{uid:path}", tags=["graph"])
    def entity(uid: str, token: Reader) -> dict[str, Any]:
        """One entity with its neighbours (`thread show UID --json`)."""
        return get_entity(store(), uid).to_dict()

    @app.post("/query", tags=["graph"])
    def query(body: CypherQuery, token: Reader, response: Response) -> list[dict[str, Any]]:
        """Read-only Cypher with parameters, stopped after the server's time limit; at most
        the row limit is returned (header X-Thread-Truncated says when rows were cut)."""
        rows = run_query(store(), body.cypher, body.params, timeout_ms=settings.query_timeout_ms)
        if len(rows) > settings.row_limit:
            response.headers["X-Thread-Truncated"] = "true"
            rows = rows[: settings.row_limit]
        return rows

    @app.get("/trace/{uid:path}", tags=["traceability"])
    def trace_of(
        uid: str,
        token: Reader,
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

    @app.get("/where-used/{part:path}", tags=["traceability"])
    def where_used_of(part: str, token: Reader, rev: str | None = None) -> dict[str, Any]:
        """Assemblies and units that contain a part (`thread where-used PART --json`)."""
        return where_used(store(), part, revision=rev).to_dict()

    @app.get("/recall/{uid:path}", tags=["traceability"])
    def recall_of(uid: str, token: Reader, as_of: str | None = None) -> dict[str, Any]:
        """Units reached by a suspect lot, supplier, revision or serial (`thread recall --json`)."""
        return recall(store(), uid, as_of=as_of).to_dict()

    @app.get("/as-of/{uid:path}", tags=["traceability"])
    def configuration_as_of(uid: str, date: str, token: Reader) -> dict[str, Any]:
        """A unit's configuration on a date (`thread as-of UID DATE --json`)."""
        return as_of(store(), uid, date).to_dict()

    @app.get("/diff/{uid:path}", tags=["traceability"])
    def configuration_diff(uid: str, token: Reader) -> dict[str, Any]:
        """As designed vs as built vs as maintained (`thread diff UID --json`)."""
        return diff(store(), uid).to_dict()

    @app.get("/path", tags=["traceability"])
    def path_between(
        source: str, target: str, token: Reader, max_hops: Annotated[int, Query(ge=1, le=40)] = 12
    ) -> dict[str, Any]:
        """The shortest chain of relationships between two entities (`thread path --json`)."""
        return shortest_path(store(), source, target, max_hops=max_hops).to_dict()

    @app.get("/twins", tags=["twins"])
    def twins(token: Reader) -> dict[str, Any]:
        """Aggregate twins with their fleet counts (`thread twin list --json`)."""
        return list_twins(store())

    @app.get("/twins/{uid:path}", tags=["twins"])
    def twin(uid: str, token: Reader) -> dict[str, Any]:
        """One twin: an aggregate's fleet or an instance's state (`thread twin show --json`)."""
        return show_twin(store(), uid)

    @app.get("/imports", tags=["imports"])
    def import_runs(
        token: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 20
    ) -> list[dict[str, Any]]:
        """The latest import runs, newest first."""
        return store_status(store(), runs=limit).import_runs

    @app.post("/imports", status_code=202, tags=["imports"])
    async def start_import(
        token: Writer,
        kind: Annotated[str, Form(description=f"one of: {', '.join(importer_kinds())}")],
        file: Annotated[UploadFile, File(description="the file to import")],
        mapping: Annotated[UploadFile | None, File(description="a TOML mapping file")] = None,
        dry_run: Annotated[bool, Form()] = False,
        create_missing: Annotated[bool, Form()] = False,
        source_id: Annotated[str | None, Form()] = None,
        wait: Annotated[
            bool,
            Query(description="answer when the import is done: 200 with the reports, or the error"),
        ] = False,
    ) -> Any:
        """Import an uploaded file as a job, all or nothing (`thread import KIND FILE --json`).

        Answers 202 with the job at once; poll GET /jobs/{id}. With `wait=true` the answer
        comes when the import is done: 200 with the reports, or the error's own status
        (400 with the file, row and column for a bad file)."""
        if kind not in importer_kinds():
            raise ApiError(
                422, "bad_parameters", f"unknown kind {kind!r}", {"kinds": importer_kinds()}
            )
        folder = Path(tempfile.mkdtemp(prefix="thread-upload-"))
        try:
            path = await _save(file, folder / _safe_name(file.filename), settings.max_upload_bytes)
            mapping_path = (
                await _save(mapping, folder / "mapping.toml", settings.max_upload_bytes)
                if mapping
                else None
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        options = ImportOptions(
            mapping_path,
            create_missing,
            dry_run,
            source_id or f"{kind}:upload:{path.name}",
            actor=token.name,
        )

        def work(progress: Callable[[str, int, int | None], None]) -> list[dict[str, Any]]:
            try:
                reports = [import_file(store(), kind, path, options, progress, display=path.name)]
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

    @app.get("/jobs/{job_id}", tags=["jobs"])
    def job(job_id: str, token: Reader) -> dict[str, Any]:
        """A job's status, progress and, when done, its result or error."""
        found = state["jobs"].get(job_id)
        if found is None:
            raise ApiError(
                404, "not_found", f"no job {job_id!r} (jobs are kept until the service restarts)"
            )
        return found.to_dict()

    @app.get("/tokens", tags=["tokens"])
    def token_list(token: Admin) -> list[dict[str, str]]:
        return [TokenStore.public(t) for t in tokens.list()]

    @app.post("/tokens", status_code=201, tags=["tokens"])
    def token_create(body: NewToken, token: Admin) -> dict[str, str]:
        """A new token; its secret is in `token` and is shown only here."""
        created, secret = tokens.create(body.name, body.scope, utc_now())
        return {**TokenStore.public(created), "token": secret}

    @app.delete("/tokens/{name}", tags=["tokens"])
    def token_revoke(name: str, token: Admin) -> dict[str, str]:
        return TokenStore.public(tokens.revoke(name))

    return app


async def _save(upload: UploadFile, target: Path, limit: int) -> Path:
    """Stream an upload to disk, refusing it (413) past the size limit."""
    written = 0
    with open(target, "wb") as handle:
        while chunk := await upload.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise ApiError(
                    413,
                    "too_large",
                    f"{upload.filename} is over the {limit} byte limit",
                    {"limit": limit},
                )
            handle.write(chunk)
    return target
