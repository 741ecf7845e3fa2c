"""Neo4j through the official driver: bolt:// for one server, neo4j:// for clusters and Aura."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ontology import ENTITY_LABEL, Ontology
from thread.errors import QueryError, QueryTimeoutError, ReadOnlyError, StoreError
from thread.stores.base import (
    GraphStore,
    NodeRow,
    RelRow,
    chunked,
    node_upsert_cypher,
    refuse_unsafe_uids,
    rel_upsert_cypher,
)

__all__ = ["Neo4jStore", "redact_uri"]

_ACCESS_MODE_CODES = ("Neo.ClientError.Statement.AccessMode", "Neo.ClientError.Cluster.NotALeader")
_TIMEOUT_CODES = (
    "Neo.ClientError.Transaction.TransactionTimedOut",
    "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration",
)


def redact_uri(uri: str) -> tuple[str, str | None, str | None]:
    """Split credentials out of a URI: (uri without them, user, password)."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri, None, None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=host)), parts.username, parts.password


def _plain(value: Any) -> Any:
    """Turn the driver's Node, Relationship and Path into plain dicts and lists."""
    from neo4j.graph import Node, Path, Relationship

    if isinstance(value, Node):
        return {**dict(value.items()), "_labels": sorted(value.labels)}
    if isinstance(value, Relationship):
        return {**dict(value.items()), "_type": value.type}
    if isinstance(value, Path):
        return {
            "nodes": [_plain(n) for n in value.nodes],
            "relationships": [_plain(r) for r in value.relationships],
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Neo4jStore(GraphStore):
    """A Neo4j database; writes in write transactions, reads in read access mode."""

    kind = "neo4j"
    batch_size = 10000

    def __init__(
        self,
        uri: str,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        data_dir: Path | None = None,
        onto: Ontology | None = None,
    ) -> None:
        super().__init__(onto)
        import neo4j

        clean_uri, uri_user, uri_password = redact_uri(uri)
        self.uri = clean_uri
        self.database = database or os.environ.get("NEO4J_DATABASE") or None
        user = user or uri_user or os.environ.get("NEO4J_USER", "neo4j")
        password = password or uri_password or os.environ.get("NEO4J_PASSWORD")
        self._data_dir = data_dir or Path(os.environ.get("THREAD_HOME", ".thread")).resolve()
        auth = (user, password) if password is not None else None
        try:
            self._driver = neo4j.GraphDatabase.driver(clean_uri, auth=auth)
        except (neo4j.exceptions.ConfigurationError, ValueError) as exc:
            raise StoreError(f"cannot use Neo4j URI {clean_uri}: {exc}") from None
        try:
            self._driver.verify_connectivity()
        except neo4j.exceptions.AuthError:
            self._driver.close()
            raise StoreError(
                f"Neo4j at {clean_uri} refused the credentials of user {user!r}"
            ) from None
        except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError) as exc:
            self._driver.close()
            raise StoreError(f"cannot reach Neo4j at {clean_uri}: {type(exc).__name__}") from None
        self._closed = False

    @property
    def description(self) -> str:
        database = f" (database {self.database})" if self.database else ""
        return f"Neo4j at {self.uri}{database}"

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def _run(
        self, query: str, params: Mapping[str, Any] | None, read_only: bool, timeout_ms: int | None
    ) -> list[dict[str, Any]]:
        import neo4j

        if self._closed:
            raise StoreError(f"{self.description} is closed")
        timeout = timeout_ms / 1000 if timeout_ms else None
        statement = neo4j.Query(query, timeout=timeout)  # type: ignore[arg-type]

        def work(tx: neo4j.ManagedTransaction) -> list[dict[str, Any]]:
            result = tx.run(statement, dict(params or {}))
            return [{k: _plain(v) for k, v in record.items()} for record in result]

        mode = neo4j.READ_ACCESS if read_only else neo4j.WRITE_ACCESS
        try:
            with (
                self._observed("read" if read_only else "write"),
                self._driver.session(database=self.database, default_access_mode=mode) as session,
            ):
                if read_only:
                    return session.execute_read(work)
                return session.execute_write(work)
        except neo4j.exceptions.ClientError as exc:
            if exc.code in _ACCESS_MODE_CODES:
                raise ReadOnlyError(
                    "this query writes to the graph, which is refused here (read-only)"
                ) from None
            if exc.code in _TIMEOUT_CODES:
                raise QueryTimeoutError(
                    f"the query ran longer than {timeout_ms} ms and was stopped"
                ) from None
            raise QueryError(f"Neo4j: {exc.message}") from None
        except neo4j.exceptions.Neo4jError as exc:
            raise QueryError(f"Neo4j: {exc.message}") from None
        except neo4j.exceptions.DriverError as exc:
            raise StoreError(
                f"lost the connection to {self.description}: {type(exc).__name__}"
            ) from None

    def read(
        self, query: str, params: Mapping[str, Any] | None = None, *, timeout_ms: int | None = None
    ) -> list[dict[str, Any]]:
        return self._run(query, params, True, timeout_ms)

    def write(self, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._run(query, params, False, None)

    def _write_batches(
        self, cypher: str, rows: Sequence[Mapping[str, Any]], common: Mapping[str, Any] | None
    ) -> int:
        """Write every batch of one call in one transaction: all of it lands or none."""
        import neo4j

        def work(tx: neo4j.ManagedTransaction) -> int:
            written = 0
            for batch in chunked(rows, self.batch_size):
                params = {"rows": list(batch), "common": dict(common or {})}
                written += int(tx.run(cypher, params).single(strict=True)["written"])
            return written

        try:
            with self._driver.session(database=self.database) as session:
                return session.execute_write(work)
        except neo4j.exceptions.Neo4jError as exc:
            raise QueryError(f"Neo4j: {exc.message}") from None
        except neo4j.exceptions.DriverError as exc:
            raise StoreError(
                f"lost the connection to {self.description}: {type(exc).__name__}"
            ) from None

    def upsert_nodes(
        self, label: str, rows: Sequence[NodeRow], common: Mapping[str, Any] | None = None
    ) -> int:
        refuse_unsafe_uids(rows)
        return self._write_batches(node_upsert_cypher(self.ontology, label), rows, common)

    def upsert_relationships(
        self,
        rel_type: str,
        src_label: str,
        dst_label: str,
        rows: Sequence[RelRow],
        common: Mapping[str, Any] | None = None,
    ) -> int:
        cypher = rel_upsert_cypher(self.ontology, rel_type, src_label, dst_label)
        return self._write_batches(cypher, rows, common)

    def ensure_schema(self) -> None:
        existing = {
            (tuple(row["labels"] or ()), tuple(row["properties"] or ()))
            for row in self.read("SHOW INDEXES YIELD labelsOrTypes AS labels, properties")
        }
        if ((ENTITY_LABEL,), ("uid",)) not in existing:
            self.write(
                f"CREATE CONSTRAINT thread_entity_uid IF NOT EXISTS "
                f"FOR (n:`{ENTITY_LABEL}`) REQUIRE n.uid IS UNIQUE"
            )
        for label, prop in self.schema_indexes():
            if ((label,), (prop,)) not in existing:
                self.write(
                    f"CREATE INDEX `thread_{label}_{prop}` IF NOT EXISTS "
                    f"FOR (n:`{label}`) ON (n.`{prop}`)"
                )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._driver.close()
