"""Running a user's Cypher safely: values only as parameters, read-only unless asked."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from thread.errors import ThreadError
from thread.stores.base import GraphStore

__all__ = ["parse_params", "run_query"]


def parse_params(pairs: Iterable[str]) -> dict[str, Any]:
    """`k=v` pairs; v is read as JSON when it parses (numbers, lists, true) else as text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ThreadError(f"parameter {pair!r} is not NAME=VALUE")
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
