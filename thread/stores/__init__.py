"""Store selection: `embedded:PATH` (the default) or a Neo4j URI.

Backends are imported only when chosen, so picking the embedded store never loads the
Neo4j driver and vice versa.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote

from thread.errors import StoreError
from thread.stores.base import GraphStore

__all__ = [
    "DEFAULT_HOME",
    "GraphStore",
    "StoreSpec",
    "embedded_spec",
    "open_store",
    "parse_store_spec",
]

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


_GRAPH_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def embedded_spec(folder: str | Path, graph: str | None = None) -> str:
    """The `--store` text of an embedded folder: a `#` in its path is written `%23` (and a
    `%` as `%25`), since `#` starts the graph's name."""
    text = "embedded:" + quote(str(folder), safe="/:~@!$&'()*+,;=. -_")
    return f"{text}#{graph}" if graph else text


def default_spec_text() -> str:
    """THREAD_STORE, else the embedded store in THREAD_HOME or ./.thread."""
    return os.environ.get("THREAD_STORE") or embedded_spec(
        os.environ.get("THREAD_HOME", DEFAULT_HOME)
    )


def parse_store_spec(text: str | None = None) -> StoreSpec:
    """Parse `embedded:PATH[#GRAPH]`, `bolt://…` or `neo4j://…` (None: the default).

    PATH is percent-decoded, so a folder whose name holds `#` is written with `%23`; GRAPH
    is letters, digits, `_` and `-` (its name becomes a folder beside the telemetry)."""
    text = text or default_spec_text()
    scheme, sep, _ = text.partition("://")
    if sep and scheme.lower() in _NEO4J_SCHEMES:
        return StoreSpec("neo4j", text)
    if text.startswith("embedded:"):
        location, hashed, graph = text[len("embedded:") :].partition("#")
        if not location:
            raise StoreError("embedded store needs a folder: embedded:PATH")
        if hashed and not _GRAPH_NAME.match(graph):
            raise StoreError(
                f"graph name {graph!r} in {text!r}: use 1 to 64 letters, digits, '_' or '-' "
                "(a folder whose name holds '#' is written with %23)"
            )
        return StoreSpec("embedded", unquote(location), graph or "thread")
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
    create: bool = True,
) -> GraphStore:
    """Open the store `spec` names, with its schema ensured; close it (or use `with`).

    Args:
        create: make an embedded store whose folder holds none yet. Off for work that
            only reads (or adds to what is there), so a mistyped path is an error
            instead of a new, empty store. A Neo4j server's database is the server's to
            create, either way.

    Raises:
        StoreError: the store cannot be opened, or holds nothing and `create` is off.
    """
    if not isinstance(spec, StoreSpec):
        spec = parse_store_spec(spec)
    store: GraphStore
    if spec.kind == "neo4j":
        from thread.stores.neo4j_store import Neo4jStore

        store = Neo4jStore(spec.location, user=user, password=password, database=database)
    else:
        from thread.stores.falkordb_store import FalkorDBStore

        store = FalkorDBStore(spec.folder, graph=spec.graph, create=create)
    try:
        store.ensure_schema()
    except BaseException:
        store.close()
        raise
    return store
