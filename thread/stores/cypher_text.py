"""Reading Cypher as text, before it reaches a store: string literals, comments and quoted
names blanked out, the clauses that write, and FalkorDB's form of a scoped subquery.

Write clauses: FalkorDB refuses a write in a read-only query only after parsing it, and
parsing registers every property name its CREATE, MERGE or SET clauses mention, so a
refused query still grows the graph's table of property names. That table has 16-bit ids:
enough refused queries (a read-only token is enough to send them) would make a later write
store a new property under an existing one's name. Refusing such a query before it is sent
leaves no trace. A keyword used as a plain name (a variable called `set`) is taken for the
clause; quoting it (`` `set` ``) avoids that.

Scoped subqueries: Neo4j 5 deprecates `CALL { WITH x … }` for `CALL (x) { … }`, which
FalkorDB does not parse. Thread's Cypher uses the new form, and the FalkorDB adapter
writes it in the old one (`with_importing_calls`).
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["strip_literals", "with_importing_calls", "write_clause"]

_LITERALS = re.compile(
    r"""'(?:[^'\\]|\\.)*'"""  # 'string'
    r'''|"(?:[^"\\]|\\.)*"'''  # "string"
    r"|`[^`]*`"  # `quoted name`
    r"|//[^\n]*"  # line comment
    r"|/\*.*?\*/",  # block comment
    re.DOTALL,
)
_WRITE = re.compile(
    r"(?<![\w.$:])(CREATE|MERGE|SET|DELETE|REMOVE|DETACH|FOREACH|DROP|LOAD\s+CSV)\b(?!\s*:)"
    r"|\bCALL\s+db\.idx\.",
    re.IGNORECASE,
)
_SCOPED_CALL = re.compile(r"(?<![\w.$])CALL\s*\(([^)*]*)\)\s*\{", re.IGNORECASE)


def strip_literals(query: str) -> str:
    """The query with strings, comments and quoted names replaced by blanks of the same
    length, so that positions in it are positions in the query."""
    return _LITERALS.sub(lambda m: " " * len(m.group(0)), query)


@lru_cache(maxsize=4096)
def write_clause(query: str) -> str | None:
    """The first clause of `query` that writes (upper case), or None for a pure read.

    Cached: Thread's own queries are few distinct texts, read again and again."""
    found = _WRITE.search(strip_literals(query))
    if found is None:
        return None
    return " ".join(found.group(0).upper().split())


@lru_cache(maxsize=4096)
def with_importing_calls(query: str) -> str:
    """`CALL (x, y) { … }` written as `CALL { WITH x, y … }` (and `CALL () {` as
    `CALL {`): the form FalkorDB parses."""
    parts: list[str] = []
    last = 0
    for found in _SCOPED_CALL.finditer(strip_literals(query)):
        names = found.group(1).strip()
        parts += [query[last : found.start()], "CALL { " + (f"WITH {names} " if names else "")]
        last = found.end()
    return "".join(parts) + query[last:] if parts else query
