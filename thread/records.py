"""The records importers yield and the import writer (`thread.pipeline`) writes.

Importers validate their input rows with pydantic models of their own (types, dates,
units); what they hand to the service are these graph-level records. They are plain
frozen dataclasses because an import can hold millions of them: the service checks them
against the ontology in bulk, once per label and relationship type, not once per record.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from thread.errors import Problem
from thread.ontology import Ontology

__all__ = [
    "MAX_INDEXED_BYTES",
    "MAX_UID_BYTES",
    "IntervalEnd",
    "NodeRecord",
    "Notice",
    "Origin",
    "Problem",
    "Record",
    "RelRecord",
    "Samples",
    "check_props",
    "node",
    "rel",
    "text_too_long",
    "uid_problem",
]

MAX_UID_BYTES = 1024
"""The longest uid Thread writes, in UTF-8 bytes: FalkorDB's unique index crashes its server
on a key over 4,096 bytes, so uids stay well under that."""

MAX_INDEXED_BYTES = 2048
"""The longest text an indexed property may hold, in UTF-8 bytes: FalkorDB's index no
longer finds a value over 4,096 bytes (a lookup answers nothing), and Neo4j refuses to index
one over about 8 kB."""

Scalar = str | int | float | bool
PropValue = Scalar | list[Any] | None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record came from, so errors can name the file and line."""

    source: str
    line: int | None = None

    def problem(self, message: str, column: str | None = None) -> Problem:
        return Problem(self.source, message, self.line, column)


@dataclass(frozen=True, slots=True)
class NodeRecord:
    label: str
    uid: str
    props: Mapping[str, PropValue]
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class RelRecord:
    """A relationship; `key` tells apart several of one type between the same two nodes.

    An `optional` relationship whose endpoint does not exist is skipped with a warning
    instead of failing the import: bindings declared in a scene or a building model
    (a prim that names a serial) must not stop the import when the serial is unknown.
    """

    type: str
    src: str
    src_label: str
    dst: str
    dst_label: str
    key: str = ""
    props: Mapping[str, PropValue] = field(default_factory=dict)
    origin: Origin | None = None
    optional: bool = False


@dataclass(frozen=True, slots=True)
class IntervalEnd:
    """Close the open interval of a temporal relationship: the `type` relationship from
    `src` to `dst` that is valid at `at` gets `valid_to = at` and `props`.

    A maintenance replacement removes a part this way; the importer does not know the
    relationship's key (its valid_from), the service finds it in the graph.
    """

    type: str
    src: str
    src_label: str
    dst: str
    dst_label: str
    at: str
    props: Mapping[str, PropValue] = field(default_factory=dict)
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class Samples:
    """Telemetry of one channel: kept in Parquet beside the graph, never in it.

    `table` is a pyarrow Table with a `t` column (timestamps in UTC, or an integer index
    such as a cycle number) and a float64 `value` column."""

    channel: str
    table: Any
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the service should report but that does not stop the import
    (an unresolved binding, a skipped optional value)."""

    message: str
    origin: Origin | None = None


Record = NodeRecord | RelRecord | IntervalEnd | Samples | Problem | Notice
"""What an importer yields: graph records, telemetry, problems (errors) and warnings."""


def node(
    onto: Ontology, label: str, props: Mapping[str, PropValue], origin: Origin | None = None
) -> NodeRecord:
    """A node whose uid is built from the key properties the ontology declares."""
    info = onto.node_class(label)
    uid = onto.uid(label, *(str(props[k]) for k in info.key))
    return NodeRecord(label, uid, props, origin)


def rel(
    rel_type: str,
    src: NodeRecord | tuple[str, str],
    dst: NodeRecord | tuple[str, str],
    props: Mapping[str, PropValue] | None = None,
    *,
    key: str = "",
    origin: Origin | None = None,
    optional: bool = False,
) -> RelRecord:
    """A relationship between two nodes given as records or as (label, uid) pairs."""
    src_label, src_uid = (src.label, src.uid) if isinstance(src, NodeRecord) else src
    dst_label, dst_uid = (dst.label, dst.uid) if isinstance(dst, NodeRecord) else dst
    return RelRecord(
        rel_type, src_uid, src_label, dst_uid, dst_label, key, props or {}, origin, optional
    )


def check_props(props: Mapping[str, Any]) -> str | None:
    """Why these properties cannot be stored (None if they can).

    Both stores take flat values only: strings, numbers, booleans and lists of one of
    those; FalkorDB's client also cannot send empty names, names with a backtick, or
    non-finite floats. No text may hold a NUL (it ends FalkorDB's query text, so the rest
    of a batch would be lost) or a lone surrogate (it is not UTF-8): both are refused here,
    before anything is written, rather than failing half-way through an import.
    """
    for name, value in props.items():
        if not isinstance(name, str) or not name or "`" in name or _UNSTORABLE.search(name):
            return f"invalid property name {name!r}"
        if name[0] == "_":
            return f"property names starting with '_' are Thread's own ({name!r})"
        kind = type(value)
        if kind is str:
            if _UNSTORABLE.search(value):
                return f"property {name!r}: {_unstorable(value)}"
            continue
        if kind is bool or value is None:
            continue  # most values: nothing more to check
        problem = _check_value(value)
        if problem:
            return f"property {name!r}: {problem}"
    return None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(text: str) -> str:
    found = _UNSTORABLE.search(text)
    assert found is not None
    what = "a NUL character" if found.group() == "\x00" else "a lone surrogate (not UTF-8)"
    return f"text holds {what} at character {found.start() + 1}, which no store can keep"


_UID_UNSAFE = re.compile("[\x00-\x1f\ud800-\udfff]")


def uid_problem(uid: str) -> str | None:
    """Why `uid` cannot be stored as a uid (None if it can): outer blanks and control
    characters (FalkorDB's unique index crashes its server on outer blanks, and a NUL ends
    its query text), and a length past MAX_UID_BYTES."""
    if uid != uid.strip() or _UID_UNSAFE.search(uid):
        return "has leading or trailing blanks or control characters"
    size = text_too_long(uid, MAX_UID_BYTES)
    if size:
        return f"is {size} bytes long; a uid (its key values together) may be at most {MAX_UID_BYTES} bytes"
    return None


def text_too_long(text: str, limit: int) -> int | None:
    """The UTF-8 length of `text` when it is over `limit` bytes, else None."""
    if len(text) * 4 <= limit:  # no character is more than 4 bytes
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    return size if size > limit else None


def _check_value(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _unstorable(value) if _UNSTORABLE.search(value) else None
    if isinstance(value, int):
        return None if -(2**63) <= value < 2**63 else "integer out of 64-bit range"
    if isinstance(value, float):
        return None if math.isfinite(value) else "not a finite number"
    if isinstance(value, list):
        if len({type(v) for v in value}) > 1:
            return "a list must hold values of one type (Neo4j stores no mixed lists)"
        for item in value:
            if item is None or isinstance(item, list | dict):
                return "a list may hold only strings, numbers or booleans"
            problem = _check_value(item)
            if problem:
                return problem
        return None
    return f"unsupported value of type {type(value).__name__} (flatten maps, store dates as ISO strings)"
