"""Query parameters as FalkorDB receives them: a `CYPHER name=value …` header.

FalkorDB takes parameters as Cypher literals written in front of the query, built on
the client side. The falkordb client's own builder is general and slow (an isinstance
chain per value); this one writes the same text for the values Thread sends (strings,
numbers, booleans, null, lists and maps) a quarter faster, and being a plain function it
can run in a helper thread while the server executes the previous batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from thread.errors import QueryError

__all__ = ["literal", "with_params"]


def literal(value: Any) -> str:
    """The Cypher literal of a parameter value, as the falkordb client writes it."""
    kind = type(value)
    if kind is str:
        text: str = value
        if "\\" in text or '"' in text:
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + text + '"'
    if kind is dict:
        return "{" + ",".join([_key(k) + ":" + literal(v) for k, v in value.items()]) + "}"
    if kind is list or kind is tuple:
        return "[" + ",".join([literal(v) for v in value]) + "]"
    if value is None:
        return "null"
    # subclasses and other mappings (rare) as their plain kind
    if isinstance(value, str):
        return literal(str(value))
    if isinstance(value, Mapping):
        return literal(dict(value))
    if isinstance(value, list | tuple):
        return literal(list(value))
    return str(value)


def _key(name: Any) -> str:
    text = str(name)
    if not text or "`" in text:
        raise QueryError(f"parameter map key {text!r} is empty or contains a backtick")
    return "`" + text + "`"


def with_params(query: str, params: Mapping[str, Any] | None) -> str:
    """The query text with its parameters written in front."""
    if not params:
        return query
    return "CYPHER " + "".join(_key(k) + "=" + literal(v) + " " for k, v in params.items()) + query
