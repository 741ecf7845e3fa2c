"""`POST /query` within the service's limits: a bounded fetch and a hard deadline.

The store's own time limit stops a query's execution on the server, but not what comes
after it: the rows are sent, parsed and converted however long that takes (6 M rows
under a 2 s limit came back after 23 s), after a wait for a thread of the pool. So the
rows are capped where the store produces them (`read_at_most`), and the caller waits at
most the time limit for the whole call, thread pool wait included.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import anyio
import anyio.to_thread

from thread.errors import QueryTimeoutError
from thread.queries.query import read_at_most
from thread.stores import GraphStore

__all__ = ["bounded_query"]


async def bounded_query(
    store: GraphStore,
    cypher: str,
    params: Mapping[str, Any],
    *,
    row_limit: int,
    timeout_ms: int,
) -> tuple[list[dict[str, Any]], bool]:
    """Run a user's read-only query: at most `row_limit` rows, answered within `timeout_ms`.

    Returns:
        The rows (their columns in alphabetical order, as `RETURN *` gives them) and
        whether more rows existed.

    Raises:
        QueryTimeoutError: at the deadline, even when the store has not given up yet (the
            late answer is dropped when it comes).
        ReadOnlyError, QueryError: as `run_query`.
    """
    fetch = partial(read_at_most, store, cypher, params, limit=row_limit, timeout_ms=timeout_ms)
    try:
        with anyio.fail_after(timeout_ms / 1000):
            return await anyio.to_thread.run_sync(fetch, abandon_on_cancel=True)
    except TimeoutError:
        raise QueryTimeoutError(
            f"the query ran longer than {timeout_ms} ms and was stopped; narrow it (a WHERE "
            "on an indexed property, a LIMIT) or ask for a longer --query-timeout-ms"
        ) from None
