"""Reading a rule's Cypher before it runs: which parameters it needs, whether it writes.

Both checks look at the query with its string literals, comments and backtick-quoted
names blanked out, so that `'CREATE'` in a message or `$x` in a string do not count. The
store runs rules read-only anyway; this check exists so that a bad rule file is refused
before anything runs, with a message naming the clause.
"""

from __future__ import annotations

import re

from thread.stores.cypher_text import strip_literals

__all__ = ["query_params", "strip_literals", "write_clauses"]

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_WRITES = re.compile(
    r"(?<![.\w$])(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|DROP|FOREACH|LOAD\s+CSV)\b",
    re.IGNORECASE,
)
_CALL = re.compile(r"(?<![.\w$])CALL\s+([A-Za-z_][A-Za-z0-9_.]*)", re.IGNORECASE)
_READ_PROCEDURES = frozenset({"db.labels", "db.relationshiptypes", "db.propertykeys", "db.indexes"})


def query_params(query: str) -> set[str]:
    """The names of the `$parameters` a query reads."""
    return set(_PARAM.findall(strip_literals(query)))


def write_clauses(query: str) -> list[str]:
    """The clauses that would make the query write (empty for a read-only query).

    `CALL { … }` subqueries are reads; `CALL proc()` is allowed only for the read-only
    catalogue procedures both stores share."""
    text = strip_literals(query)
    found = [m.group(1).upper() for m in _WRITES.finditer(text)]
    found += [
        f"CALL {m.group(1)}"
        for m in _CALL.finditer(text)
        if m.group(1).lower() not in _READ_PROCEDURES
    ]
    return found
