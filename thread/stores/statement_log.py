"""A log of the Cypher Thread sends, for review: `THREAD_CYPHER_LOG=FILE`.

When the variable names a file, each process appends one JSON line per distinct statement
that goes through the shared store API (`read`, `write`, `upsert_*`): the statement's text
and the names of the parameters it was sent with. Values are never logged, so the file holds
no data. A platform team reads it to see what Thread will run on its database; the test
suite feeds it to Neo4j's own Cypher parser, so that a statement Neo4j would reject cannot
land even where no Neo4j server runs.

Adapters' own dialect statements (FalkorDB's index procedures, say) do not go through the
shared API and are not logged: they are not meant to run on the other backend.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["LOG_ENV", "StatementLog", "statement_log"]

LOG_ENV = "THREAD_CYPHER_LOG"


class StatementLog:
    """Appends each new (statement, parameter names) pair to the file `THREAD_CYPHER_LOG`
    names; does nothing when it names none."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, tuple[str, ...]]] = set()
        self._lock = threading.Lock()

    def record(self, statement: str, params: Mapping[str, Any] | None) -> None:
        path = os.environ.get(LOG_ENV)
        if not path:
            return
        names = tuple(sorted(params or ()))
        key = (path, statement, names)
        if key in self._seen:
            return
        line = json.dumps({"statement": statement, "parameters": list(names)}) + "\n"
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
            # one write() per line on an O_APPEND file: lines of concurrent processes
            # never interleave
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)


statement_log = StatementLog()
"""The process's one log."""
