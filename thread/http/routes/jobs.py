"""Jobs: the status, progress and outcome of a long operation a request started."""

from typing import Any

from fastapi import APIRouter

from thread.http.deps import READ, JobsDep
from thread.http.errors import ApiError

__all__ = ["router"]

router = APIRouter(tags=["jobs"], dependencies=READ)


@router.get("/jobs/{job_id}")
def job(jobs: JobsDep, job_id: str) -> dict[str, Any]:
    """A job's status, progress and, when done, its result or error."""
    found = jobs.get(job_id)
    if found is None:
        raise ApiError(
            404, "not_found", f"no job {job_id!r} (jobs are kept until the service restarts)"
        )
    return found.to_dict()
