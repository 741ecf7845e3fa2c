"""Neo4j through the official driver: bolt:// for one server, neo4j:// for clusters and Aura.

Every query runs in a transaction of its kind: reads in read transactions (routed to
readers on a cluster, refused if they write), writes in write transactions. A read's time
limit goes to the server as the transaction's timeout, so the server itself stops it.

One bookmark manager per store: every transaction carries the bookmarks of the ones before
it, so on a cluster a read always sees what the same store wrote just before (the next
file of an import, a reference check after `--create-missing`).

Failures become Thread errors (`neo4j_failures`); the ones a retry can mend (a lost
connection, a leader switch, a deadlock) are tried again for a bounded time, a few seconds
by default (`retry_s`, or `THREAD_NEO4J_RETRY_S`), then reported plainly.

Upserts commit one batch per transaction, and a batch the server has no memory for is
split in halves and written again, so a large import stays within the server's
transaction memory. Each MERGE is idempotent, so an import stopped half-way converges when
run again, as on the embedded store.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from thread.errors import QueryMemoryError, StoreError
from thread.ontology import ENTITY_LABEL, Ontology
from thread.stores.base import GraphStore, chunked, identifier
from thread.stores.neo4j_failures import Attempt, classify

__all__ = ["Neo4jStore", "data_dir_for", "redact_uri", "schema_statements"]

DEFAULT_RETRY_S = 5.0
RETRY_ENV = "THREAD_NEO4J_RETRY_S"
_FIRST_DELAY_S = 0.1
_MAX_DELAY_S = 1.0
_INDEX_TYPES = ("RANGE", "BTREE")  # the kinds that serve equality lookups (BTREE: 4.x)

SHOW_INDEXES = (
    "SHOW INDEXES YIELD name, type, labelsOrTypes, properties, owningConstraint "
    "RETURN name, type, labelsOrTypes, properties, owningConstraint"
)

T = TypeVar("T")


def redact_uri(uri: str) -> tuple[str, str | None, str | None]:
    """Split credentials out of a URI: (uri without them, user, password)."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri, None, None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=host)), parts.username, parts.password


def data_dir_for(home: Path, uri: str, database: str | None) -> Path:
    """The telemetry folder of one Neo4j database: keyed by its server address and
    database name, so two stores never share Parquet files.

    The scheme is left out (bolt:// and neo4j:// to the same server are the same
    database); the name starts with the address for people, and ends with a digest that
    stays unique whatever characters the address holds."""
    parts = urlsplit(redact_uri(uri)[0])
    address = f"{(parts.hostname or 'localhost').lower()}:{parts.port or 7687}"
    name = database or "default"
    digest = hashlib.sha256(f"{address}/{name}".encode()).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{address}-{name}").strip("-")
    return home / "neo4j" / f"{readable}-{digest}"


def schema_statements(onto: Ontology) -> list[str]:
    """Every DDL statement the adapter may send: the listing, the uid constraint and the
    ontology's indexes (also fed to Neo4j's Cypher parser in CI)."""
    statements = [SHOW_INDEXES, _constraint_statement()]
    statements += [_index_statement(label, prop) for label, prop in _indexes(onto)]
    return statements


def _indexes(onto: Ontology) -> list[tuple[str, str]]:
    return [(ENTITY_LABEL, "_src"), *onto.indexes]


def _constraint_statement() -> str:
    return (
        "CREATE CONSTRAINT thread_entity_uid IF NOT EXISTS "
        f"FOR (n:{identifier(ENTITY_LABEL)}) REQUIRE n.uid IS UNIQUE"
    )


def _index_statement(label: str, prop: str) -> str:
    return (
        f"CREATE INDEX {identifier(f'thread_{label}_{prop}')} IF NOT EXISTS "
        f"FOR (n:{identifier(label)}) ON (n.{identifier(prop)})"
    )


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


def _retry_seconds(value: float | None) -> float:
    if value is not None:
        return value
    text = os.environ.get(RETRY_ENV)
    if text is None:
        return DEFAULT_RETRY_S
    try:
        seconds = float(text)
    except ValueError:
        raise StoreError(f"{RETRY_ENV}={text!r} is not a number of seconds") from None
    if seconds < 0:
        raise StoreError(f"{RETRY_ENV}={text!r} must not be negative")
    return seconds


class Neo4jStore(GraphStore):
    """A Neo4j database: one server (bolt://), or a cluster or Aura (neo4j://)."""

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
        retry_s: float | None = None,
    ) -> None:
        super().__init__(onto)
        import neo4j

        clean_uri, uri_user, uri_password = redact_uri(uri)
        self.uri = clean_uri
        self.database = database or os.environ.get("NEO4J_DATABASE") or None
        self.retry_s = _retry_seconds(retry_s)
        self.routing = urlsplit(clean_uri).scheme.lower().startswith("neo4j")
        user = user or uri_user or os.environ.get("NEO4J_USER", "neo4j")
        password = password or uri_password or os.environ.get("NEO4J_PASSWORD")
        home = Path(os.environ.get("THREAD_HOME", ".thread")).resolve()
        self._data_dir = data_dir or data_dir_for(home, clean_uri, self.database)
        auth = (user, password) if password is not None else None
        try:
            self._driver = neo4j.GraphDatabase.driver(clean_uri, auth=auth, user_agent="thread")
        except (neo4j.exceptions.ConfigurationError, ValueError) as exc:
            raise StoreError(f"cannot use Neo4j URI {clean_uri}: {exc}") from None
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        self._closed = False
        try:
            self._driver.verify_connectivity()
        except neo4j.exceptions.AuthError:
            self._driver.close()
            raise StoreError(
                f"Neo4j at {clean_uri} refused the credentials of user {user!r}"
            ) from None
        except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError) as exc:
            self._driver.close()
            failure = classify(exc, self._attempt(read_only=True, timeout_ms=None))
            raise failure.error from None

    @property
    def description(self) -> str:
        database = f" (database {self.database})" if self.database else ""
        return f"Neo4j at {self.uri}{database}"

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def server_status(self) -> dict[str, Any]:
        info = self._driver.get_server_info()
        return {
            "address": f"{info.address[0]}:{info.address[1]}",
            "agent": info.agent,
            "protocol": ".".join(str(part) for part in info.protocol_version),
            "database": self.database,
            "routing": self.routing,
        }

    # -------------------------------------------------------------- transactions

    def _attempt(self, read_only: bool, timeout_ms: int | None) -> Attempt:
        return Attempt(self.description, self.database, read_only, timeout_ms, self.routing)

    def _transact(
        self, read_only: bool, work: Callable[[Any], T], timeout_ms: int | None = None
    ) -> T:
        """Run `work(tx)` in one transaction and commit; retry what a retry can mend
        until `retry_s` has passed since the first failure, then raise it."""
        import neo4j

        if self._closed:
            raise StoreError(f"{self.description} is closed")
        mode = neo4j.READ_ACCESS if read_only else neo4j.WRITE_ACCESS
        timeout = timeout_ms / 1000 if timeout_ms else None
        deadline: float | None = None
        delay = _FIRST_DELAY_S
        while True:
            try:
                with (
                    self._observed("read" if read_only else "write"),
                    self._driver.session(
                        database=self.database,
                        default_access_mode=mode,
                        bookmark_manager=self._bookmarks,
                    ) as session,
                    session.begin_transaction(timeout=timeout) as tx,
                ):
                    result = work(tx)
                    tx.commit()
                    return result
            except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError) as exc:
                failure = classify(exc, self._attempt(read_only, timeout_ms))
                now = time.monotonic()
                deadline = now + self.retry_s if deadline is None else deadline
                if not failure.retry or now + delay > deadline:
                    raise failure.error from None
            time.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY_S)

    def _rows(self, query: str, params: Mapping[str, Any]) -> Callable[[Any], list[dict[str, Any]]]:
        def work(tx: Any) -> list[dict[str, Any]]:
            result = tx.run(query, dict(params))
            return [{k: _plain(v) for k, v in record.items()} for record in result]

        return work

    def _read(
        self, query: str, params: Mapping[str, Any], timeout_ms: int | None
    ) -> list[dict[str, Any]]:
        return self._transact(True, self._rows(query, params), timeout_ms)

    def _write(self, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self._transact(False, self._rows(query, params))

    def _write_batches(
        self, cypher: str, rows: Sequence[Mapping[str, Any]], common: Mapping[str, Any]
    ) -> int:
        """Commit one batch per transaction, so no transaction outgrows the server's memory."""
        return sum(
            self._write_batch(cypher, list(batch), common)
            for batch in chunked(rows, self.batch_size)
        )

    def _write_batch(
        self, cypher: str, batch: list[Mapping[str, Any]], common: Mapping[str, Any]
    ) -> int:
        """Write one batch; when the server has no memory for it, write its halves."""

        def work(tx: Any) -> int:
            record = tx.run(cypher, {"rows": batch, "common": dict(common)}).single(strict=True)
            return int(record["written"])

        try:
            return self._transact(False, work)
        except QueryMemoryError:
            if len(batch) == 1:
                raise
        half = len(batch) // 2
        return self._write_batch(cypher, batch[:half], common) + self._write_batch(
            cypher, batch[half:], common
        )

    # -------------------------------------------------------------- schema

    def ensure_schema(self) -> None:
        """Create the uid constraint and the indexes that are missing (IF NOT EXISTS, so
        several processes may do it at once)."""
        existing: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self._read(SHOW_INDEXES, {}, None):
            if row["type"] in _INDEX_TYPES and len(row["labelsOrTypes"] or ()) == 1:
                for prop in row["properties"] or ():
                    existing[(row["labelsOrTypes"][0], prop)] = row
        uid = existing.get((ENTITY_LABEL, "uid"))
        if uid is None:
            self._write(_constraint_statement(), {})
        elif not uid["owningConstraint"]:
            raise StoreError(
                f"{self.description}: index {uid['name']!r} on :{ENTITY_LABEL}(uid) is not a "
                "uniqueness constraint, so Thread cannot create its own; drop it "
                f"(DROP INDEX `{uid['name']}`) and open the store again"
            )
        for label, prop in _indexes(self.ontology):
            if (label, prop) not in existing:
                self._write(_index_statement(label, prop), {})

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._driver.close()
