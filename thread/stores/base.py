"""The store contract every graph backend fulfils, and the Cypher they share.

A backend implements six operations: read, write, upsert a batch of nodes of one label,
upsert a batch of relationships of one type, ensure the schema, close. Everything above
the store (the service, queries, audits) is written against this class only; the few
dialect differences (DDL, read-only execution, errors, result values) live in the
subclasses.
"""

from __future__ import annotations

import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from thread import ontology
from thread.errors import QueryError
from thread.ontology import ENTITY_LABEL, Ontology
from thread.ontology.errors import OntologyError
from thread.stores.statement_log import statement_log

__all__ = [
    "GraphStore",
    "NodeRow",
    "QueryObserver",
    "RelRow",
    "check_statement",
    "chunked",
    "identifier",
    "node_upsert_cypher",
    "refuse_unsafe_uids",
    "rel_upsert_cypher",
]

NodeRow = Mapping[str, Any]
"""`{"uid": str, "props": {flat properties}}`"""

RelRow = Mapping[str, Any]
"""`{"src": uid, "dst": uid, "key": str, "props": {flat properties}}`"""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

QueryObserver = Callable[[str, float], None]
"""`observer(kind, seconds)` after each query: kind is 'read' or 'write'."""

_BATCH_PARAMS: Mapping[str, Any] = {"rows": [], "common": {}}
"""The parameters every upsert statement is sent with (for the statement log)."""


def identifier(name: str) -> str:
    """Backtick-quote a label, type or property name that the ontology has already approved."""
    if not _IDENTIFIER.match(name):
        raise OntologyError(f"{name!r} is not a valid label or relationship type")
    return f"`{name}`"


def node_upsert_cypher(onto: Ontology, label: str) -> str:
    """MERGE a batch of `label` nodes on uid and add their properties.

    The label is written into the MERGE pattern (not `SET n:Label`, which FalkorDB runs
    two orders of magnitude slower); a uid that exists under another label is caught by
    the service before any write.
    """
    onto.node_class(label)
    return (
        "UNWIND $rows AS row "
        f"MERGE (n:{identifier(ENTITY_LABEL)}:{identifier(label)} {{uid: row.uid}}) "
        "SET n += $common, n += row.props "
        "RETURN count(n) AS written"
    )


def rel_upsert_cypher(onto: Ontology, rel_type: str, src_label: str, dst_label: str) -> str:
    """MERGE a batch of relationships on (src, type, dst, _key) and add their properties.

    Endpoints are matched by uid alone (FalkorDB matches a second label at half the
    speed); the caller has checked that they carry `src_label` and `dst_label`.

    `_key` tells apart several relationships of one type between the same two nodes: two
    BOM lines with different find numbers, or a serial installed, removed and installed
    again (keyed by valid_from).
    """
    onto.check_triple(src_label, rel_type, dst_label)
    entity = identifier(ENTITY_LABEL)
    return (
        "UNWIND $rows AS row "
        f"MATCH (a:{entity} {{uid: row.src}}) "
        f"MATCH (b:{entity} {{uid: row.dst}}) "
        f"MERGE (a)-[r:{identifier(rel_type)} {{_key: row.key}}]->(b) "
        "SET r += $common, r += row.props "
        "RETURN count(r) AS written"
    )


def refuse_unsafe_uids(rows: Sequence[NodeRow]) -> None:
    """A uid with leading or trailing whitespace crashes FalkorDB's unique index (the
    server exits); both stores refuse one, so the same rows behave the same everywhere."""
    bad = [row["uid"] for row in rows if row["uid"] != row["uid"].strip()]
    if bad:
        raise QueryError(
            f"uid {bad[0]!r} has leading or trailing whitespace; uids are stored trimmed"
        )


_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _value_problem(value: Any) -> str | None:
    """Why a parameter value cannot go to a store as it is (None if it can)."""
    kind = type(value)
    if kind is str:
        if _BAD_TEXT.search(value):
            return "holds a NUL character or a lone surrogate"
        return None
    if kind is bool or value is None:
        return None
    if isinstance(value, int):
        return None if -(2**63) <= value < 2**63 else f"{value} is beyond 64-bit integers"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if isinstance(value, list | tuple):
        for item in value:
            problem = _value_problem(item)
            if problem:
                return problem
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = _value_problem(key) or _value_problem(item)
            if problem:
                return problem
        return None
    return None


def check_statement(query: str, params: Mapping[str, Any]) -> None:
    """Refuse what a store would silently mangle: FalkorDB ends a query at a NUL (the rest
    of it is dropped) and clamps integers past 64 bits; neither store can send a lone
    surrogate, and NaN or infinity reach FalkorDB as parser errors.

    Raises:
        QueryError: naming the parameter and what is wrong with it.
    """
    found = _BAD_TEXT.search(query)
    if found:
        raise QueryError(
            "the query holds a NUL character, where a store would cut it short"
            if found.group() == "\x00"
            else "the query holds text that is not UTF-8 (a lone surrogate, as undecodable "
            "bytes on a command line become)"
        )
    for name, value in params.items():
        problem = _value_problem(value)
        if problem:
            raise QueryError(f"parameter ${name}: {problem}")


def chunked(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


class GraphStore(ABC):
    """A property graph that Thread reads and writes with one Cypher dialect.

    Results are plain Python values: nodes become dicts of their properties plus
    `_labels`, relationships dicts of their properties plus `_type`, paths dicts with
    `nodes` and `relationships`, so callers never see a driver's own classes.
    """

    kind: ClassVar[str]
    batch_size: ClassVar[int] = 5000

    def __init__(self, onto: Ontology | None = None) -> None:
        self.ontology = onto or ontology.load()
        self.observer: QueryObserver | None = None

    @contextmanager
    def _observed(self, kind: str) -> Iterator[None]:
        """Time one query for the observer (the HTTP service's metrics), if any."""
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.observer is not None:
                self.observer(kind, time.perf_counter() - start)

    @property
    @abstractmethod
    def description(self) -> str:
        """Where this store is, safe to print (never contains a password)."""

    @property
    @abstractmethod
    def data_dir(self) -> Path:
        """Folder for data kept beside the graph (telemetry Parquet datasets)."""

    @abstractmethod
    def server_status(self) -> dict[str, Any]:
        """What serves this store, for `thread status` (never contains a password)."""

    def read(
        self, query: str, params: Mapping[str, Any] | None = None, *, timeout_ms: int | None = None
    ) -> list[dict[str, Any]]:
        """Run a read-only query; a query that writes raises ReadOnlyError.

        `timeout_ms` stops the query on the server when it runs longer (QueryTimeoutError).
        """
        params = params or {}
        check_statement(query, params)
        statement_log.record(query, params)
        return self._read(query, params, timeout_ms)

    def write(self, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query that may write, atomically."""
        params = params or {}
        check_statement(query, params)
        statement_log.record(query, params)
        return self._write(query, params)

    def upsert_nodes(
        self, label: str, rows: Sequence[NodeRow], common: Mapping[str, Any] | None = None
    ) -> int:
        """MERGE nodes of one label by uid; returns how many rows were written.

        `common` properties are set on every row (sent once per batch, not per row)."""
        refuse_unsafe_uids(rows)
        cypher = node_upsert_cypher(self.ontology, label)
        statement_log.record(cypher, _BATCH_PARAMS)
        return self._write_batches(cypher, rows, dict(common or {}))

    def upsert_relationships(
        self,
        rel_type: str,
        src_label: str,
        dst_label: str,
        rows: Sequence[RelRow],
        common: Mapping[str, Any] | None = None,
    ) -> int:
        """MERGE relationships of one type; returns how many were written (endpoints must exist)."""
        cypher = rel_upsert_cypher(self.ontology, rel_type, src_label, dst_label)
        statement_log.record(cypher, _BATCH_PARAMS)
        return self._write_batches(cypher, rows, dict(common or {}))

    @abstractmethod
    def _read(
        self, query: str, params: Mapping[str, Any], timeout_ms: int | None
    ) -> list[dict[str, Any]]:
        """The backend's read-only execution of one query."""

    @abstractmethod
    def _write(self, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The backend's atomic execution of one query that may write."""

    @abstractmethod
    def _write_batches(
        self, cypher: str, rows: Sequence[Mapping[str, Any]], common: Mapping[str, Any]
    ) -> int:
        """Run an upsert statement over `rows` in batches (`$rows`, `$common`); returns the
        sum of the batches' `written` counts."""

    @abstractmethod
    def ensure_schema(self) -> None:
        """Create the uid uniqueness constraint and the ontology's indexes if missing."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection (and the embedded server when this was its last user)."""

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def schema_indexes(self) -> list[tuple[str, str]]:
        """(label, property) pairs to index: the ontology's plus Thread's bookkeeping."""
        return [(ENTITY_LABEL, "_src"), *self.ontology.indexes]
