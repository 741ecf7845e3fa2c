"""Import runs whose process died: found and marked `interrupted`, not left `running`.

An ImportRun is written `running` before the first record and `succeeded` or `failed`
after the last; a process killed in between never writes the second. Each run therefore
records which process ran it (host, pid and the process's start time, so that a reused
pid is not taken for the same process), and any later import or `thread status` on the
same host marks the runs whose process is gone as `interrupted`. Runs started on other
hosts (a shared Neo4j) are left alone: their processes cannot be seen from here.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from thread.processes import process_alive, process_started
from thread.stores.base import GraphStore

__all__ = ["mark_interrupted", "process_identity"]


def process_identity() -> dict[str, Any]:
    """What an ImportRun records of the process running it."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "process_started": process_started(pid) or ""}


def _alive(pid: int, started: str) -> bool:
    if not Path("/proc").is_dir():  # no /proc: only whether some process has the pid
        return process_alive(pid)
    return process_started(pid) == started


def mark_interrupted(store: GraphStore, now: str) -> list[str]:
    """Mark the `running` import runs of this host whose process is gone as `interrupted`;
    returns their uids."""
    host = socket.gethostname()
    rows = store.read(
        "MATCH (r:ImportRun) WHERE r.status = 'running' AND r.host = $host "
        "RETURN r.uid AS uid, r.pid AS pid, r.process_started AS started",
        {"host": host},
    )
    dead = [row for row in rows if not _alive(int(row["pid"]), str(row["started"]))]
    for row in dead:
        store.upsert_nodes(
            "ImportRun",
            [
                {
                    "uid": row["uid"],
                    "props": {
                        "status": "interrupted",
                        "finished": now,
                        "error": f"the importing process (pid {row['pid']} on {host}) ended "
                        "before the import finished; run the import again to complete it",
                    },
                }
            ],
        )
    return [row["uid"] for row in dead]
