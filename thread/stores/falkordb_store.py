"""The embedded default store: FalkorDB through its own client, on a private unix socket."""

from __future__ import annotations

import atexit
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ontology import ENTITY_LABEL, Ontology
from thread.errors import QueryError, QueryTimeoutError, ReadOnlyError, StoreError
from thread.stores.base import GraphStore, chunked
from thread.stores.embedded_server import EmbeddedServer, no_retry
from thread.stores.falkordb_params import with_params

__all__ = ["FalkorDBStore"]

_READ_ONLY_MESSAGE = "is to be executed only on read-only queries"
_TIMEOUT_MESSAGE = "Query timed out"
_CONSTRAINT_WAIT_S = 120.0


_SCALARS = (str, int, float, bool, type(None))


def _one_ahead(items: Iterator[str]) -> Iterator[str]:
    """Yield each item while a helper thread already produces the next one."""
    with ThreadPoolExecutor(1, thread_name_prefix="thread-params") as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item


def _plain(value: Any) -> Any:
    """Turn the client's Node, Edge and Path objects into plain dicts and lists.

    Scalars come first: they are most of any result, and this runs for every value."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    from falkordb import Edge, Node, Path

    if isinstance(value, Node):
        return {**value.properties, "_labels": sorted(value.labels or [])}
    if isinstance(value, Edge):
        return {**value.properties, "_type": value.relation}
    if isinstance(value, Path):
        return {
            "nodes": [_plain(n) for n in value.nodes()],
            "relationships": [_plain(e) for e in value.edges()],
        }
    return value


class FalkorDBStore(GraphStore):
    """A graph in the embedded FalkorDB server of a store folder."""

    kind = "embedded"

    def __init__(self, folder: Path, graph: str = "thread", onto: Ontology | None = None) -> None:
        super().__init__(onto)
        self.folder = Path(folder).resolve()
        self.graph_name = graph
        self.server = EmbeddedServer(self.folder)
        self.server.acquire()
        try:
            from falkordb import FalkorDB

            self._db = FalkorDB(unix_socket_path=str(self.server.socket_path), retry=no_retry())
            self._graph = self._db.select_graph(graph)
        except Exception:
            self.server.release()
            raise
        self._closed = False
        atexit.register(self.close)

    @property
    def description(self) -> str:
        return f"embedded FalkorDB at {self.folder} (graph {self.graph_name})"

    @property
    def data_dir(self) -> Path:
        """Each graph of the folder keeps its telemetry apart."""
        return self.folder / "data" / self.graph_name

    def server_status(self) -> dict[str, Any]:
        return asdict(self.server.status())

    # -------------------------------------------------------------- queries

    def _read(
        self, query: str, params: Mapping[str, Any], timeout_ms: int | None
    ) -> list[dict[str, Any]]:
        return self._execute(with_params(query, params), True, timeout_ms)

    def _write(self, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self._execute(with_params(query, params), False, None)

    def _execute(self, text: str, read_only: bool, timeout_ms: int | None) -> list[dict[str, Any]]:
        """Run a query whose parameters are already written into its text."""
        import redis

        if self._closed:
            raise StoreError(f"{self.description} is closed")
        try:
            with self._observed("read" if read_only else "write"):
                if read_only:
                    result = self._graph.ro_query(text, timeout=timeout_ms)
                else:
                    result = self._graph.query(text, timeout=timeout_ms)
        except redis.ResponseError as exc:
            message = str(exc)
            if _READ_ONLY_MESSAGE in message:
                raise ReadOnlyError(
                    "this query writes to the graph, which is refused here (read-only)"
                ) from None
            if _TIMEOUT_MESSAGE in message:
                raise QueryTimeoutError(
                    f"the query ran longer than {timeout_ms} ms and was stopped"
                ) from None
            raise QueryError(f"FalkorDB: {message}") from None
        except redis.ConnectionError as exc:
            raise StoreError(f"lost the connection to {self.description}: {exc}") from None
        columns = [column[1] for column in result.header]
        return [
            {name: _plain(value) for name, value in zip(columns, row, strict=True)}
            for row in result.result_set
        ]

    def _write_batches(
        self, cypher: str, rows: Sequence[Mapping[str, Any]], common: Mapping[str, Any]
    ) -> int:
        """One query per batch: FalkorDB runs each query atomically, not several together.

        Writing a batch's parameters is as much work for the client as running it is for
        the server, so the next batch is written in a helper thread meanwhile."""
        texts = (
            with_params(cypher, {"rows": list(batch), "common": common})
            for batch in chunked(rows, self.batch_size)
        )
        written = 0
        for text in _one_ahead(texts):
            written += int(self._execute(text, False, None)[0]["written"])
        return written

    # -------------------------------------------------------------- schema

    def ensure_schema(self) -> None:
        """Create what is missing; under the folder's schema lock, so that processes
        opening a new folder at the same moment never both create one index."""
        with self.server.schema_lock():
            existing: set[tuple[str, str]] = set()
            if self.graph_name in self._db.list_graphs():
                rows = self._read(
                    "CALL db.indexes() YIELD label, properties, entitytype "
                    "WHERE entitytype = 'NODE' RETURN label, properties",
                    {},
                    None,
                )
                existing = {(row["label"], prop) for row in rows for prop in row["properties"]}
            for label, prop in [(ENTITY_LABEL, "uid"), *self.schema_indexes()]:
                if (label, prop) not in existing:
                    self._write(f"CREATE INDEX FOR (n:`{label}`) ON (n.`{prop}`)", {})
                    existing.add((label, prop))
            self._ensure_unique_uid()

    def _ensure_unique_uid(self) -> None:
        def uid_constraint() -> dict[str, Any] | None:
            for constraint in self._graph.list_constraints():
                if (
                    constraint["type"] == "UNIQUE"
                    and constraint["label"] == ENTITY_LABEL
                    and list(constraint["properties"]) == ["uid"]
                ):
                    return constraint
            return None

        if uid_constraint() is None:
            self._graph.create_node_unique_constraint(ENTITY_LABEL, "uid")
        deadline = time.monotonic() + _CONSTRAINT_WAIT_S
        while (constraint := uid_constraint()) is not None and constraint[
            "status"
        ] != "OPERATIONAL":
            if constraint["status"] == "FAILED":
                raise StoreError(
                    f"{self.description}: cannot enforce unique uids, the graph already "
                    "holds two nodes with the same uid"
                )
            if time.monotonic() > deadline:
                raise StoreError(f"{self.description}: the uid constraint is still pending")
            time.sleep(0.02)

    # -------------------------------------------------------------- lifetime

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            self._db.close()
        finally:
            self.server.release()
