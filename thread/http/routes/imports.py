"""Imports: the latest import runs, and an uploaded file imported as a job.

The upload is read by the handler, after the write token is checked, within the
service's `max_upload_bytes`; each file goes to a folder of its own that the job removes
when it is done.
"""

import asyncio
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from thread.http.bodies import body_doc, limited, validated
from thread.http.deps import READ, JobsDep, MetricsDep, SettingsDep, StoreDep, Writer
from thread.http.errors import ApiError
from thread.importers import importer_kinds
from thread.pipeline.imports import ImportOptions, import_file, refresh_after
from thread.queries.status import store_status

__all__ = ["MAX_UPLOAD_NAME", "ImportForm", "router"]

router = APIRouter(tags=["imports"])

MAX_UPLOAD_NAME = 255
"""An upload's file name becomes a file (most file systems take 255 bytes)."""


class ImportForm(BaseModel):
    """The multipart form of POST /imports."""

    kind: str = Field(description=f"one of: {', '.join(importer_kinds())}")
    file: UploadFile = Field(description="the file to import")
    mapping: UploadFile | None = Field(default=None, description="a TOML mapping file")
    dry_run: bool = False
    create_missing: bool = False
    source_id: str | None = Field(
        default=None,
        description="the source's stable name across exports (default: the file's name)",
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


@router.get("/imports", dependencies=READ)
def import_runs(
    store: StoreDep, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> list[dict[str, Any]]:
    """The latest import runs, newest first."""
    return store_status(store, runs=limit).import_runs


@router.post("/imports", status_code=202, openapi_extra=body_doc(ImportForm, "multipart/form-data"))
async def start_import(
    request: Request,
    token: Writer,
    store: StoreDep,
    settings: SettingsDep,
    jobs: JobsDep,
    metrics: MetricsDep,
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
        upload = limited(request, settings.max_upload_bytes)
        async with upload.form(max_files=2, max_fields=8) as form:
            fields = validated(ImportForm, dict(form))
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
        fields.source_id,  # None: the upload's file name, as for `thread import`
        actor=token.name,
    )

    def work(progress: Callable[[str, int, int | None], None]) -> list[dict[str, Any]]:
        try:
            reports = [import_file(store, fields.kind, path, options, progress, display=path.name)]
            refresh_after(store, reports, progress)
            metrics.imports.labels("succeeded").inc()
            return [r.to_dict() for r in reports]
        except BaseException:
            metrics.imports.labels("failed").inc()
            raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    job = jobs.submit("import", token.name, work)
    if not wait:
        return JSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/jobs/{job.id}"})
    finished = await asyncio.to_thread(jobs.wait, job.id)
    if finished.error is not None:
        return JSONResponse(finished.error, status_code=finished.error_status)
    return JSONResponse(finished.result, status_code=200)
