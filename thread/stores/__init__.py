"""Store selection: `embedded:PATH` (the default) or a Neo4j URI.

Backends are imported only when chosen, so picking the embedded store never loads the
Neo4j driver and vice versa.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from thread.errors import StoreError
from thread.stores.base import GraphStore

__all__ = ["DEFAULT_HOME", "GraphStore", "StoreSpec", "open_store", "parse_store_spec"]

DEFAULT_HOME = ".thread"
_NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


@dataclass(frozen=True)
class StoreSpec:
    """A parsed `--store` value."""

    kind: Literal["embedded", "neo4j"]
    location: str
    graph: str = "thread"

    @property
    def folder(self) -> Path:
        """The embedded store's folder (only for kind 'embedded')."""
        return Path(self.location).expanduser().resolve()


def default_spec_text() -> str:
    """THREAD_STORE, else the embedded store in THREAD_HOME or ./.thread."""
    return (
        os.environ.get("THREAD_STORE") or f"embedded:{os.environ.get('THREAD_HOME', DEFAULT_HOME)}"
    )


def parse_store_spec(text: str | None = None) -> StoreSpec:
    """Parse `embedded:PATH[#GRAPH]`, `bolt://…` or `neo4j://…` (None: the default)."""
    text = text or default_spec_text()
    scheme, sep, _ = text.partition("://")
    if sep and scheme.lower() in _NEO4J_SCHEMES:
        return StoreSpec("neo4j", text)
    if text.startswith("embedded:"):
        location, _, graph = text[len("embedded:") :].partition("#")
        if not location:
            raise StoreError("embedded store needs a folder: embedded:PATH")
        return StoreSpec("embedded", location, graph or "thread")
    raise StoreError(
        "unknown store; use embedded:PATH, bolt://HOST:PORT or neo4j://HOST:PORT "
        f"(schemes: {', '.join(_NEO4J_SCHEMES)})"
    )


def open_store(
    spec: StoreSpec | str | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
) -> GraphStore:
    """Open the store `spec` names, with its schema ensured; close it (or use `with`)."""
    if not isinstance(spec, StoreSpec):
        spec = parse_store_spec(spec)
    store: GraphStore
    if spec.kind == "neo4j":
        from thread.stores.neo4j_store import Neo4jStore

        store = Neo4jStore(spec.location, user=user, password=password, database=database)
    else:
        from thread.stores.falkordb_store import FalkorDBStore

        store = FalkorDBStore(spec.folder, graph=spec.graph)
    try:
        store.ensure_schema()
    except BaseException:
        store.close()
        raise
    return store
