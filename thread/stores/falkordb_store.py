"""The embedded default store: FalkorDB through its own client, on a private unix socket."""

from __future__ import annotations

import atexit
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from thread.errors import QueryError, QueryTimeoutError, ReadOnlyError, StoreError
from thread.ontology import ENTITY_LABEL, Ontology
from thread.stores.base import GraphStore, chunked
from thread.stores.cypher_text import with_importing_calls, write_clause
from thread.stores.embedded_server import EmbeddedServer, no_retry
from thread.stores.falkordb_params import with_params

__all__ = ["FalkorDBStore"]

_READ_ONLY_MESSAGE = "is to be executed only on read-only queries"
_TIMEOUT_MESSAGE = "Query timed out"
_CONSTRAINT_WAIT_S = 120.0
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_SCALARS = (str, int, float, bool, type(None))


def _map_keys(value: Any) -> int:
    """How many map keys `value` holds at any depth: property names a write may add."""
    if isinstance(value, Mapping):
        return len(value) + sum(_map_keys(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_map_keys(v) for v in value)
    return 0


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
    property_names_max = 65_000
    """Writes that could take the graph past this many property names are refused:
    FalkorDB's limit is 65,535 (16-bit ids), and past it a new name aliases an old one."""

    def __init__(
        self,
        folder: Path,
        graph: str = "thread",
        onto: Ontology | None = None,
        *,
        create: bool = True,
    ) -> None:
        """Open (and with `create`, make) the store in `folder`.

        Raises:
            StoreError: `create` is off and the folder holds no store.
        """
        super().__init__(onto)
        self.folder = Path(folder).resolve()
        self.graph_name = graph
        self.server = EmbeddedServer(self.folder)
        if not create and not self.server.holds_store:
            raise StoreError(
                f"no store at {self.folder}; create it with `thread init` or an import"
            )
        self.server.acquire()
        try:
            from falkordb import FalkorDB

            self._db = FalkorDB(unix_socket_path=str(self.server.socket_path), retry=no_retry())
            self._graph = self._db.select_graph(graph)
        except Exception:
            self.server.release()
            raise
        self._closed = False
        self._names_bound = self.property_names_max  # unknown: the first write asks
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
        clause = write_clause(query)
        if clause:
            # refused here: FalkorDB would register the clause's property names first
            raise ReadOnlyError(
                f"this query writes to the graph ({clause}), which is refused here (read-only)"
            )
        return self._execute(with_params(with_importing_calls(query), params), True, timeout_ms)

    def _write(self, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        self._make_room_for_names(len(set(_WORD.findall(query))) + _map_keys(params))
        return self._execute(with_params(with_importing_calls(query), params), False, None)

    def _property_names(self) -> int:
        rows = self._execute(
            "CALL db.propertyKeys() YIELD propertyKey RETURN count(propertyKey) AS n", True, None
        )
        return int(rows[0]["n"])

    def _make_room_for_names(self, new: int) -> None:
        """Refuse a write that could take the graph past FalkorDB's 65,535 property names:
        their ids are 16-bit, and past the limit a new name aliases an old one, so a value
        would be stored under the wrong name for good.

        `new` is an upper bound of the names the write may add. The count is asked of the
        server only when the bound, added up since it was last asked, nears the limit."""
        if self._names_bound + new < self.property_names_max:
            self._names_bound += new
            return
        self._names_bound = self._property_names()
        if self._names_bound + new >= self.property_names_max:
            raise StoreError(
                f"{self.description} holds {self._names_bound} property names and this write "
                f"may add {new}; FalkorDB keeps at most 65,535 and would store new ones under "
                "the wrong name, so Thread refuses past "
                f"{self.property_names_max}: keep free-form columns out of [properties], or "
                "export the graph and import it into a fresh store"
            )
        self._names_bound += new

    def _execute(self, text: str, read_only: bool, timeout_ms: int | None) -> list[dict[str, Any]]:
        """Run a query whose parameters are already written into its text.

        When the server has died (a crash or a kill), it is started again, so that the
        store, and the HTTP service holding it, recovers by itself: a read is run again; a
        write is not, since it may have been applied before the server died."""
        import redis

        try:
            return self._execute_once(text, read_only, timeout_ms)
        except redis.ConnectionError as exc:
            if not self.server.revive():
                raise StoreError(f"lost the connection to {self.description}: {exc}") from None
        if read_only:
            return self._execute_once(text, read_only, timeout_ms)
        raise StoreError(
            f"the embedded server of {self.description} stopped during this write and was "
            "started again; the write may not have been applied: run it again (imports are "
            "idempotent)"
        )

    def _execute_once(
        self, text: str, read_only: bool, timeout_ms: int | None
    ) -> list[dict[str, Any]]:
        """One query; a lost connection is the caller's to handle."""
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
        batches = list(chunked(rows, self.batch_size))
        texts = (with_params(cypher, {"rows": list(batch), "common": common}) for batch in batches)
        written = 0
        for batch, text in zip(batches, _one_ahead(texts), strict=True):
            names = set(common).union(*(row["props"] for row in batch if "props" in row))
            self._make_room_for_names(len(names) + 3)  # uid, _key, written
            written += int(self._execute(text, False, None)[0]["written"])
        return written

    # -------------------------------------------------------------- schema

    def ensure_schema(self) -> None:
        """Create what is missing; under the folder's schema lock, so that processes
        opening a new folder at the same moment never both create one index."""
        with self.server.schema_lock():
            existing: set[tuple[str, str]] = set()
            if self.graph_name not in self._db.list_graphs():
                self._names_bound = 0  # a new graph has no property names
            else:
                rows = self._read(
                    "CALL db.indexes() YIELD label, properties, entitytype "
                    "WHERE entitytype = 'NODE' RETURN label, properties",
                    {},
                    None,
                )
                existing = {(row["label"], prop) for row in rows for prop in row["properties"]}
            missing = [
                (label, prop)
                for label, prop in [(ENTITY_LABEL, "uid"), *self.schema_indexes()]
                if (label, prop) not in existing
            ]
            for label, prop in missing:
                self._write(f"CREATE INDEX FOR (n:`{label}`) ON (n.`{prop}`)", {})
            created = self._ensure_unique_uid()
            if missing or created:
                self.server.snapshot()  # so that a crash's replay finds the indexes

    def _ensure_unique_uid(self) -> bool:
        """Create the uid uniqueness constraint if missing and wait until it holds;
        True when it was created."""

        def uid_constraint() -> dict[str, Any] | None:
            constraint: dict[str, Any]  # the client is untyped
            for constraint in self._graph.list_constraints():
                if (
                    constraint["type"] == "UNIQUE"
                    and constraint["label"] == ENTITY_LABEL
                    and list(constraint["properties"]) == ["uid"]
                ):
                    return constraint
            return None

        created = uid_constraint() is None
        if created:
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
        return created

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
