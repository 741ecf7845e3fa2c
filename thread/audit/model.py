"""What an audit rule is: an id, a severity, a rationale, read-only Cypher and its parameters.

A rule's query returns one row per violation with at least `uid` (the entity at fault) and
`message` (what is wrong, in words that stay the same from run to run, so that baselines
can recognise a known violation); every other column is a fact that proves it. A rule's
`targets` query counts what the rule examined, so that a rule that examined nothing is
reported as a vacuous pass rather than a pass.

Parameters are declared with a default (or without one, and then the caller must give
them). Dates may be written relative to the audit date (`today`, `today-30d`), which is
how an "older than N days" threshold is said without date arithmetic in Cypher. The
runner always provides `$as_of` (the audit date, YYYY-MM-DD) and `$units` (the uids of
the audited twin's units, or null for the whole thread).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from thread.audit.cypher import query_params
from thread.clock import TIMESTAMP
from thread.errors import ThreadError

if TYPE_CHECKING:
    from thread.stores.base import GraphStore

__all__ = [
    "RUNNER_PARAMS",
    "SEVERITIES",
    "AuditUsageError",
    "CypherRule",
    "ParamSpec",
    "ParamType",
    "Rule",
    "RuleError",
    "Severity",
    "Thresholds",
    "resolve_param",
    "severity_rank",
]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
ParamType = Literal["string", "int", "float", "bool", "date", "list"]
RUNNER_PARAMS = frozenset({"as_of", "units"})
"""Parameters the runner gives every rule: the audit date and the audited twin's units."""

_RELATIVE = re.compile(r"^today(?:([+-])(\d+)d)?$")


class AuditUsageError(ThreadError):
    """An audit cannot run as asked (a rule file, a parameter, a baseline is wrong).

    The CLI treats it as a usage error (exit code 2)."""


class RuleError(AuditUsageError):
    """A rule or rule file is unusable (unknown key, write query, missing parameter, …)."""


def severity_rank(severity: str) -> int:
    """error 2, warning 1, info 0: for 'at or above' comparisons."""
    return {"info": 0, "warning": 1, "error": 2}[severity]


@dataclass(frozen=True)
class ParamSpec:
    """A declared parameter: its type, its default (None when the caller must give it)."""

    type: ParamType
    default: Any = None
    description: str = ""


def resolve_param(name: str, spec: ParamSpec, value: Any, as_of: str) -> Any:
    """The value a query receives: checked against the type, relative dates resolved.

    Raises:
        RuleError: the value does not fit the declared type.
    """

    def bad(expected: str) -> RuleError:
        return RuleError(f"parameter {name!r} must be {expected}, got {value!r}")

    if spec.type == "date":
        text = str(value).strip()
        match = _RELATIVE.match(text)
        if match:
            sign, days = match.group(1), int(match.group(2) or 0)
            day = date.fromisoformat(as_of) + timedelta(days=-days if sign == "-" else days)
            return day.isoformat()
        try:
            if len(text) == 10:
                return date.fromisoformat(text).isoformat()
            datetime.strptime(text, TIMESTAMP)
            return text
        except ValueError:
            raise bad(
                "a date YYYY-MM-DD, a UTC time YYYY-MM-DDTHH:MM:SSZ or today[-Nd|+Nd]"
            ) from None
    if spec.type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if spec.type == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        return float(value)
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if spec.type == "list":
        if not isinstance(value, list):
            raise bad('a list (e.g. ["a", "b"])')
        return value
    if not isinstance(value, str):
        raise bad("a string")
    return value


@dataclass(frozen=True)
class Thresholds:
    """Data-quality style thresholds on the number of (new) violations.

    More than `fail_above` rows fails at the rule's severity; more than `warn_above` (and
    not more than `fail_above`) is a warning. Without thresholds a rule fails on any row."""

    warn_above: int | None = None
    fail_above: int | None = 0

    def outcome(self, rows: int) -> Literal["fail", "warn", "pass"]:
        if self.fail_above is not None and rows > self.fail_above:
            return "fail"
        if self.warn_above is not None and rows > self.warn_above:
            return "warn"
        return "pass"


@dataclass(frozen=True)
class Rule(ABC):
    """A check over the graph. Subclasses say how it runs; the runner does the rest."""

    id: str
    severity: Severity
    description: str
    source: str = "built-in"
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def twin_scoped(self) -> bool:
        """Whether the rule can be narrowed to one twin's units (it reads `$units`)."""
        return False

    @abstractmethod
    def evaluate(
        self, store: GraphStore, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], int | None]:
        """(violation rows, targets examined or None when unknown).

        `params` holds every declared parameter (resolved) and the runner's own."""


@dataclass(frozen=True)
class CypherRule(Rule):
    """A rule whose violations and targets are two read-only Cypher queries."""

    query: str = ""
    targets: str | None = None

    @property
    def twin_scoped(self) -> bool:
        return "units" in query_params(self.query)

    def evaluate(
        self, store: GraphStore, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], int | None]:
        wanted = query_params(self.query)
        rows = store.read(self.query, {k: v for k, v in params.items() if k in wanted})
        for row in rows[:1]:
            missing = [c for c in ("uid", "message") if c not in row]
            if missing:
                raise RuleError(
                    f"rule {self.id} ({self.source}): its query must return the columns "
                    f"uid and message; {', '.join(missing)} missing"
                )
        if self.targets is None:
            return rows, None
        wanted = query_params(self.targets)
        counted = store.read(self.targets, {k: v for k, v in params.items() if k in wanted})
        if not counted or any(not isinstance(row.get("count"), int) for row in counted):
            raise RuleError(
                f"rule {self.id} ({self.source}): its targets query must return a column "
                "count (rows of a UNION are added up)"
            )
        return rows, sum(row["count"] for row in counted)
