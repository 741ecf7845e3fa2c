"""Finding the clauses of a query that write, before a read-only query reaches FalkorDB.

FalkorDB refuses a write in a read-only query only after parsing it, and parsing registers
every property name its CREATE, MERGE or SET clauses mention: a refused query still grows
the graph's table of property names. That table has 16-bit ids, so enough refused queries
(a read-only token is enough to send them) make a later write store a new property under an
existing one's name. Refusing such a query here, before it is sent, leaves no trace.

The check reads the query's words outside string literals, quoted names and comments. A
keyword used as a plain name (a variable called `set`) is taken for the clause; quoting it
(`` `set` ``) avoids that.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["write_clause"]

_NOT_CODE = re.compile(
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


@lru_cache(maxsize=4096)
def write_clause(query: str) -> str | None:
    """The first clause of `query` that writes (upper case), or None for a pure read.

    Cached: Thread's own queries are few distinct texts, read again and again."""
    found = _WRITE.search(_NOT_CODE.sub(" ", query))
    if found is None:
        return None
    return " ".join(found.group(0).upper().split())
