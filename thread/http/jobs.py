"""Long operations of the HTTP service (imports, audits, fleet runs) as background jobs.

A request starts a job and gets its id at once (202); the client polls GET /jobs/{id} for
progress and the result. Jobs run in a small thread pool next to the request workers, and
live in memory: a restarted service forgets them, while what they wrote (ImportRun,
AuditRun, SimulationRun nodes) stays in the graph.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from thread.clock import utc_now

__all__ = ["Job", "JobRunner"]

JobStatus = Literal["queued", "running", "succeeded", "failed"]
Work = Callable[[Callable[[str, int, int | None], None]], Any]
"""A job's work: called with a progress callback, returns a JSON-ready result."""


@dataclass
class Job:
    id: str
    kind: str
    actor: str | None
    created: str
    status: JobStatus = "queued"
    progress: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: dict[str, Any] | None = None
    error_status: int = 500
    finished: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "actor": self.actor,
            "status": self.status,
            "created": self.created,
            "finished": self.finished,
            "progress": self.progress,
            "result": self.result,
            "error": None if self.error is None else {**self.error, "status": self.error_status},
        }


class JobRunner:
    """Runs jobs in background threads and keeps their state for polling."""

    def __init__(
        self,
        describe_error: Callable[[BaseException], dict[str, Any]],
        status_of: Callable[[BaseException], tuple[int, str]],
        workers: int = 2,
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thread-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._describe_error = describe_error
        self._status_of = status_of

    def submit(self, kind: str, actor: str | None, work: Work) -> Job:
        job = Job(secrets.token_hex(8), kind, actor, utc_now())
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Work) -> None:
        job.status = "running"

        def progress(phase: str, done: int, total: int | None) -> None:
            job.progress = {"phase": phase, "done": done, "total": total}

        try:
            job.result = work(progress)
            job.status = "succeeded"
        except Exception as exc:  # reported to the client in the job's error shape
            job.error = self._describe_error(exc)
            job.error_status = self._status_of(exc)[0]
            job.status = "failed"
        finally:
            job.finished = utc_now()
            job.done.set()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def wait(self, job_id: str) -> Job:
        job = self._jobs[job_id]
        job.done.wait()
        return job

    def shutdown(self) -> None:
        """Let running jobs finish (graceful shutdown), start no new ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)
