"""`POST /query` within the service's limits: a bounded fetch and a hard deadline.

The store's own time limit stops a query's execution on the server, but not what comes
after it: FalkorDB sends every row, and the client parses and converts them, however long
that takes (6 M rows under a 2 s limit came back after 23 s). So the user's query runs
inside `CALL () { … } RETURN * LIMIT row_limit + 1`, where the server stops producing rows
after the one that shows the answer was cut, and the caller waits at most the time limit
for the whole call, thread pool wait included.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.to_thread

from thread.errors import QueryError, QueryMemoryError, QueryTimeoutError, ReadOnlyError
from thread.queries.query import run_query
from thread.stores import GraphStore

__all__ = ["bounded_query"]

Rows = list[dict[str, Any]]


def _fetch(
    store: GraphStore, cypher: str, params: Mapping[str, Any], row_limit: int, timeout_ms: int
) -> tuple[Rows, bool]:
    deadline = time.monotonic() + timeout_ms / 1000
    # the newlines keep a trailing `//` comment from swallowing the closing brace
    wrapped = f"CALL () {{\n{cypher.rstrip().removesuffix(';')}\n}}\nRETURN * LIMIT {row_limit + 1}"
    try:
        rows = run_query(store, wrapped, params, timeout_ms=timeout_ms)
    except (QueryTimeoutError, ReadOnlyError, QueryMemoryError):
        raise
    except QueryError:
        # Not every read can stand in a subquery (a procedure call without YIELD; on
        # Neo4j an unaliased expression), and a write or a typo must be reported as the
        # user's own query: run it as written, in the time that is left.
        left_ms = max(1, round((deadline - time.monotonic()) * 1000))
        rows = run_query(store, cypher, params, timeout_ms=left_ms)
    return rows[:row_limit], len(rows) > row_limit


async def bounded_query(
    store: GraphStore,
    cypher: str,
    params: Mapping[str, Any],
    *,
    row_limit: int,
    timeout_ms: int,
) -> tuple[Rows, bool]:
    """Run a user's read-only query: at most `row_limit` rows, answered within `timeout_ms`.

    Returns:
        The rows (their columns in alphabetical order, as `RETURN *` gives them) and
        whether more rows existed.

    Raises:
        QueryTimeoutError: at the deadline, even when the store has not given up yet (the
            late answer is dropped when it comes).
        ReadOnlyError, QueryError: as `run_query`.
    """
    try:
        with anyio.fail_after(timeout_ms / 1000):
            return await anyio.to_thread.run_sync(
                _fetch, store, cypher, params, row_limit, timeout_ms, abandon_on_cancel=True
            )
    except TimeoutError:
        raise QueryTimeoutError(
            f"the query ran longer than {timeout_ms} ms and was stopped; narrow it (a WHERE "
            "on an indexed property, a LIMIT) or ask for a longer --query-timeout-ms"
        ) from None
