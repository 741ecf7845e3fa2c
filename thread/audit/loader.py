"""User rule files: TOML, like the mapping files, checked completely before anything runs.

One rule or many per file:

    kind = "audit-rules"                 # optional; checked when given

    [[rule]]
    id = "pump-has-sensor"               # lowercase letters, digits, '-', '_', '.'
    severity = "warning"                 # error | warning | info
    description = "Every pump in service is monitored"
    query = '''
    MATCH (u:Unit) WHERE u.part_number = $part AND NOT (u)<-[:OBSERVES]-(:Sensor)
      AND ($units IS NULL OR u.uid IN $units)
    RETURN u.uid AS uid, 'no sensor observes ' + u.uid AS message
    '''
    targets = "MATCH (u:Unit) WHERE u.part_number = $part RETURN count(u) AS count"

    [rule.params]
    part = "P-100"                       # a default; the type follows from it
    opened_before = "today-30d"          # dates may be relative to the audit date
    [rule.params.limit]                  # or a table: type, default, description
    type = "int"                         # no default: the caller must give --param limit=…
    description = "how many"

    [rule.thresholds]                    # optional, on the number of new violations
    warn_above = 0                       # more than 0 rows: a warning
    fail_above = 10                      # more than 10 rows: fails at the rule's severity

A file holding a single rule may also put its keys at the top level, without `[[rule]]`.

Refused, with the file and the rule named: invalid TOML, an unknown key, a query that
writes (CREATE, MERGE, SET, DELETE, REMOVE, DROP, FOREACH, LOAD CSV, procedure calls), a
`$parameter` the rule does not declare (`$as_of` and `$units` are always given), a
duplicate rule id.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from thread.audit.cypher import query_params, write_clauses
from thread.audit.model import (
    RUNNER_PARAMS,
    CypherRule,
    ParamSpec,
    ParamType,
    Rule,
    RuleError,
    Severity,
    Thresholds,
)

__all__ = ["PROJECT_RULES", "check_unique", "load_rule_file", "load_rules", "parse_rules"]

PROJECT_RULES = "thread-rules"
"""The project folder whose `*.toml` rule files every audit loads, when it exists."""

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_DATE_LIKE = re.compile(r"^(today([+-]\d+d)?|\d{4}-\d{2}-\d{2})$")


class _ParamTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ParamType | None = None
    default: Any = None
    description: str = ""


class _ThresholdTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    warn_above: int | None = Field(None, ge=0)
    fail_above: int | None = Field(None, ge=0)


class _RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    severity: Severity
    description: str = Field(min_length=1)
    query: str = Field(min_length=1)
    targets: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    thresholds: _ThresholdTable | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("use lowercase letters, digits, '-', '_' and '.'")
        return value


class _RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["audit-rules"] | None = None
    rule: list[_RuleSpec] = Field(min_length=1)


def _param_type(value: Any) -> ParamType:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str) and _DATE_LIKE.match(value):
        return "date"
    return "string"


def _param(where: str, name: str, value: Any) -> ParamSpec:
    if not isinstance(value, dict):
        return ParamSpec(_param_type(value), value)
    try:
        table = _ParamTable.model_validate(value)
    except ValidationError as exc:
        raise RuleError(f"{where}: params.{name}: {_details(exc)}") from None
    if table.type is None and table.default is None:
        raise RuleError(f"{where}: params.{name}: give a default or a type")
    kind = table.type or _param_type(table.default)
    return ParamSpec(kind, table.default, table.description)


def _details(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        if error["type"] == "extra_forbidden":
            parts.append(f"unknown key {where!r}")
        else:
            parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _thresholds(table: _ThresholdTable | None) -> Thresholds:
    if table is None:
        return Thresholds()
    if (
        table.warn_above is not None
        and table.fail_above is not None
        and table.warn_above > table.fail_above
    ):
        raise ValueError("warn_above is above fail_above")
    return Thresholds(table.warn_above, table.fail_above)


def _check_query(where: str, what: str, query: str, declared: Iterable[str]) -> None:
    writes = write_clauses(query)
    if writes:
        raise RuleError(
            f"{where}: the {what} writes ({', '.join(sorted(set(writes)))}); "
            "rules are read-only queries"
        )
    unknown = sorted(query_params(query) - set(declared) - RUNNER_PARAMS)
    if unknown:
        names = ", ".join(f"${n}" for n in unknown)
        raise RuleError(
            f"{where}: the {what} uses {names}, not declared in [rule.params] "
            f"(declare each with a default, or a type for values the caller must give)"
        )


def parse_rules(data: dict[str, Any], source: str) -> list[Rule]:
    """Rules from a parsed rule file (`source` names it in messages).

    Raises:
        RuleError: unknown keys, wrong types, a write query, an undeclared parameter.
    """
    data = dict(data)
    if "rule" not in data and "id" in data:
        kind = data.pop("kind", None)
        data = {"rule": [data]} if kind is None else {"kind": kind, "rule": [data]}
    try:
        spec = _RuleFile.model_validate(data)
    except ValidationError as exc:
        raise RuleError(f"{source}: {_details(exc)}") from None
    rules: list[Rule] = []
    for item in spec.rule:
        where = f"{source}: rule {item.id}"
        params = {name: _param(where, name, value) for name, value in item.params.items()}
        reserved = sorted(set(params) & RUNNER_PARAMS)
        if reserved:
            raise RuleError(f"{where}: {', '.join(reserved)} is given by the runner; rename it")
        _check_query(where, "query", item.query, params)
        if item.targets is not None:
            _check_query(where, "targets query", item.targets, params)
        try:
            thresholds = _thresholds(item.thresholds)
        except ValueError as exc:
            raise RuleError(f"{where}: thresholds: {exc}") from None
        rules.append(
            CypherRule(
                id=item.id,
                severity=item.severity,
                description=item.description,
                source=source,
                params=params,
                thresholds=thresholds,
                query=item.query,
                targets=item.targets,
            )
        )
    return rules


def load_rule_file(path: Path) -> list[Rule]:
    """The rules of one TOML file.

    Raises:
        RuleError: the file cannot be read, is not TOML, or a rule in it is invalid.
    """
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise RuleError(f"{path}: rule file not found") from None
    except IsADirectoryError:
        raise RuleError(f"{path}: is a folder; pass it as a folder of rule files") from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise RuleError(f"{path}: not UTF-8 text: {exc}") from None
    return parse_rules(data, _display(path))


def _display(path: Path) -> str:
    """How messages name a rule file: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_rules(paths: Sequence[Path]) -> list[Rule]:
    """Rules from files and folders (every `*.toml` in a folder, sorted by name).

    Raises:
        RuleError: a path is missing, a file is invalid, or two rules share an id.
    """
    rules: list[Rule] = []
    for path in paths:
        if path.is_dir():
            files = sorted(path.rglob("*.toml"))
        elif path.exists():
            files = [path]
        else:
            raise RuleError(f"{path}: no such rule file or folder")
        for file in files:
            rules.extend(load_rule_file(file))
    check_unique(rules)
    return rules


def check_unique(rules: Sequence[Rule]) -> None:
    """Raise RuleError when two rules share an id (naming both sources)."""
    seen: dict[str, Rule] = {}
    for rule in rules:
        first = seen.setdefault(rule.id, rule)
        if first is not rule:
            raise RuleError(
                f"rule id {rule.id!r} is defined twice: in {first.source} and in {rule.source}"
            )
