"""Running a user's Cypher safely: values only as parameters, read-only unless asked."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from thread.errors import (
    QueryError,
    QueryMemoryError,
    QueryTimeoutError,
    ReadOnlyError,
    UsageError,
)
from thread.stores.base import GraphStore

__all__ = ["parse_params", "read_at_most", "run_query"]


def parse_params(pairs: Iterable[str]) -> dict[str, Any]:
    """`k=v` pairs; v is read as JSON when it parses (numbers, lists, true) else as text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"parameter {pair!r} is not NAME=VALUE (e.g. s=SN-0042)")
        try:
            params[name] = json.loads(text)
        except json.JSONDecodeError:
            params[name] = text
    return params


def run_query(
    store: GraphStore,
    cypher: str,
    params: Mapping[str, Any] | None = None,
    *,
    write: bool = False,
    timeout_ms: int | None = None,
) -> list[dict[str, Any]]:
    """Run `cypher` with `params`; read-only (ReadOnlyError on a write) unless `write`."""
    if write:
        return store.write(cypher, params)
    return store.read(cypher, params, timeout_ms=timeout_ms)


def read_at_most(
    store: GraphStore,
    cypher: str,
    params: Mapping[str, Any] | None = None,
    *,
    limit: int,
    timeout_ms: int | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """A read-only query's first `limit` rows, fetched without producing the rest.

    A LIMIT applied to the rows received comes too late: FalkorDB sends every row, and the
    client parses and converts them all. So the query runs inside
    `CALL () { … } RETURN * LIMIT limit + 1`, where the store stops after the row that
    shows the answer was cut, and its columns come in alphabetical order. A query that
    cannot stand in a subquery (a procedure call without YIELD; on Neo4j an unaliased
    expression), a write or a typo then fails, and runs again as written in what is left
    of `timeout_ms`, so that its error is reported as the user's own query's.

    Returns:
        The rows and whether more rows existed.

    Raises:
        ReadOnlyError, QueryTimeoutError, QueryMemoryError, QueryError: as `run_query`.
    """
    deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
    # the newlines keep a trailing `//` comment from swallowing the closing brace
    wrapped = f"CALL () {{\n{cypher.rstrip().removesuffix(';')}\n}}\nRETURN * LIMIT {limit + 1}"
    try:
        rows = run_query(store, wrapped, params, timeout_ms=timeout_ms)
    except (QueryTimeoutError, ReadOnlyError, QueryMemoryError):
        raise
    except QueryError:
        left_ms = None if deadline is None else max(1, round((deadline - time.monotonic()) * 1000))
        rows = run_query(store, cypher, params, timeout_ms=left_ms)
    return rows[:limit], len(rows) > limit
