"""Running audits: choose rules, resolve parameters, run each read-only, judge, record.

Everything that can be wrong with the request (an unknown rule id, an unknown or missing
parameter, an unreadable baseline) is found before the first rule runs. Each rule then
runs on its own: a rule whose query fails is reported with its error and the others
still run. The outcome of each rule:

- `pass`: no violation above its thresholds (rows may exist under `warn_above`);
- `vacuous`: it examined nothing (its targets query counted 0), which is not a pass;
- `warn`: more rows than `warn_above`: counts as a warning;
- `fail`: more rows than `fail_above` (any row without thresholds): counts at its severity;
- `error`: the rule could not run (the message says why);
- `skipped`: auditing one twin, and the rule is not about a twin's units.

Thresholds apply to new violations (those not in the baseline). The audit fails when a
`warn` or `fail` counts at or above `fail_on`; it is in error when a rule is. Rows are
reported sorted by uid and message, whatever order a query returns them in, so reports
of the same graph compare line by line.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from thread.audit.baseline import Baseline
from thread.audit.builtin import builtin_rules
from thread.audit.loader import PROJECT_RULES, check_unique, load_rules
from thread.audit.model import (
    RUNNER_PARAMS,
    AuditUsageError,
    Rule,
    RuleError,
    Severity,
    resolve_param,
    severity_rank,
)
from thread.audit.shacl import shapes_rule
from thread.clock import parse_day, utc_now, utc_today
from thread.entities import require_entity
from thread.errors import ThreadError, UsageError
from thread.pipeline.write import ProgressCallback, Source, ThreadService
from thread.records import node
from thread.stores.base import GraphStore

__all__ = [
    "AuditOptions",
    "AuditReport",
    "FailOn",
    "Outcome",
    "RuleResult",
    "all_rules",
    "run_audit",
    "select_rules",
    "twin_units",
]

FailOn = Literal["error", "warning"]
Outcome = Literal["pass", "vacuous", "warn", "fail", "error", "skipped"]


def all_rules(paths: Sequence[Path] = (), project: Path | None = None) -> list[Rule]:
    """The built-in rules, the ontology shapes, then user rules from `paths` and from the
    project folder `project` (a Path; its `thread-rules/` is read when it exists).

    Raises:
        RuleError: a rule file is invalid or two rules share an id.
    """
    sources = list(paths)
    if project is not None and (project / PROJECT_RULES).is_dir():
        sources.insert(0, project / PROJECT_RULES)
    rules = [*builtin_rules(), shapes_rule(), *load_rules(sources)]
    check_unique(rules)
    return rules


def select_rules(
    rules: Sequence[Rule], ids: Sequence[str] = (), min_severity: Severity = "info"
) -> list[Rule]:
    """The rules named by `ids` (all when empty) at or above `min_severity`.

    Raises:
        AuditUsageError: an id names no rule.
    """
    known = {rule.id: rule for rule in rules}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise AuditUsageError(
            f"unknown rule {', '.join(unknown)}; `thread audit --list` shows the rules"
        )
    chosen = [known[i] for i in dict.fromkeys(ids)] if ids else list(rules)
    floor = severity_rank(min_severity)
    return [rule for rule in chosen if severity_rank(rule.severity) >= floor]


@dataclass(frozen=True)
class AuditOptions:
    """How to run an audit (the same for the CLI, the import hook and scripts).

    `as_of` is the audit date, YYYY-MM-DD (today, UTC, when None); `twin` narrows the audit to one
    twin's units (an InstanceTwin, AggregateTwin or Unit uid); `params` override rule
    parameters by name; `record` writes an AuditRun node. `jobs` rules run at a time:
    both stores serve reads concurrently, so an audit of a large graph takes about the
    time of its rules divided among the store's cores."""

    as_of: str | None = None
    twin: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    fail_on: FailOn = "error"
    baseline: Baseline | None = None
    record: bool = True
    jobs: int = 2


@dataclass
class RuleResult:
    """One rule's outcome; `rows` holds every violation, each with `known` (in the baseline)."""

    rule: str
    severity: Severity
    description: str
    source: str
    outcome: Outcome
    level: Severity | None
    targets: int | None
    violations: int
    new: int
    seconds: float
    params: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None

    def to_dict(self, row_limit: int | None = None) -> dict[str, Any]:
        rows = self.rows if row_limit is None else self.rows[:row_limit]
        return {
            "rule": self.rule,
            "severity": self.severity,
            "description": self.description,
            "source": self.source,
            "outcome": self.outcome,
            "level": self.level,
            "targets": self.targets,
            "violations": self.violations,
            "new": self.new,
            "known": self.violations - self.new,
            "seconds": round(self.seconds, 4),
            "params": self.params,
            "note": self.note,
            "rows": rows,
            "rows_truncated": len(rows) < len(self.rows),
        }


@dataclass
class AuditReport:
    """A whole audit; `to_dict()` is the documented JSON shape (see thread.audit.reports)."""

    run_id: str
    started: str
    finished: str
    as_of: str
    twin: str | None
    units: int | None
    fail_on: FailOn
    baseline: str | None
    results: list[RuleResult]
    run: str | None = None

    @property
    def failing(self) -> list[RuleResult]:
        """Results that fail the audit: a warn or fail counting at or above fail_on."""
        floor = severity_rank(self.fail_on)
        return [
            r
            for r in self.results
            if r.outcome in ("warn", "fail") and r.level and severity_rank(r.level) >= floor
        ]

    @property
    def errors(self) -> list[RuleResult]:
        return [r for r in self.results if r.outcome == "error"]

    @property
    def status(self) -> Literal["passed", "failed", "error"]:
        if self.errors:
            return "error"
        return "failed" if self.failing else "passed"

    @property
    def exit_code(self) -> int:
        """0 passed, 1 failed, 2 a rule could not run."""
        return {"passed": 0, "failed": 1, "error": 2}[self.status]

    def counts(self) -> dict[str, int]:
        counts = {o: 0 for o in ("pass", "vacuous", "warn", "fail", "error", "skipped")}
        for result in self.results:
            counts[result.outcome] += 1
        return counts

    def to_dict(self, row_limit: int | None = None) -> dict[str, Any]:
        return {
            "run": self.run,
            "run_id": self.run_id,
            "status": self.status,
            "exit_code": self.exit_code,
            "started": self.started,
            "finished": self.finished,
            "as_of": self.as_of,
            "twin": self.twin,
            "units": self.units,
            "fail_on": self.fail_on,
            "baseline": self.baseline,
            "counts": self.counts(),
            "violations": sum(r.violations for r in self.results),
            "new_violations": sum(r.new for r in self.results),
            "failing": [r.rule for r in self.failing],
            "rules": [r.to_dict(row_limit) for r in self.results],
        }


def twin_units(store: GraphStore, uid: str, as_of: str) -> list[str]:
    """The units an audit of `uid` covers: an instance twin's unit, an aggregate twin's
    fleet or a unit, with every unit they contain on `as_of`.

    Raises:
        NotFoundError: no entity has this uid.
        ThreadError: the entity is not a twin or a unit.
    """
    label, _ = require_entity(store, uid)
    queries = {
        "Unit": "MATCH (u:Unit {uid: $uid}) RETURN u.uid AS uid",
        "InstanceTwin": "MATCH (:InstanceTwin {uid: $uid})-[:TWIN_OF]->(u:Unit) RETURN u.uid AS uid",
        "AggregateTwin": (
            "MATCH (:AggregateTwin {uid: $uid})-[:TWIN_OF]->(:PartRevision)<-[:OF_REVISION]-(u:Unit) "
            "RETURN u.uid AS uid"
        ),
    }
    if label not in queries:
        raise ThreadError(
            f"{uid} is a {label}; audit a twin with an InstanceTwin, AggregateTwin or Unit uid"
        )
    roots = [row["uid"] for row in store.read(queries[label], {"uid": uid})]
    inside = store.read(
        "UNWIND $roots AS root MATCH path = (:Unit {uid: root})-[:CONTAINS*1..10]->(c:Unit) "
        "WHERE all(r IN relationships(path) WHERE r.valid_from <= $at "
        "AND (r.valid_to IS NULL OR r.valid_to > $at)) RETURN DISTINCT c.uid AS uid",
        {"roots": roots, "at": as_of},
    )
    return sorted({*roots, *(row["uid"] for row in inside)})


def _audit_date(as_of: str | None) -> str:
    """The audit date, checked whole (a date with anything after it is not a date)."""
    if as_of is None:
        return utc_today()
    try:
        return parse_day(as_of, "--as-of")
    except UsageError as exc:
        raise AuditUsageError(str(exc)) from None


def _plan(
    rules: Sequence[Rule], given: Mapping[str, Any], as_of: str
) -> list[tuple[Rule, dict[str, Any]]]:
    """Each rule with its resolved parameters; every problem found before anything runs."""
    declared = {name for rule in rules for name in rule.params}
    unknown = sorted(set(given) - declared)
    if unknown:
        raise AuditUsageError(
            f"no selected rule has a parameter {', '.join(unknown)} "
            f"(parameters: {', '.join(sorted(declared)) or 'none'})"
        )
    reserved = sorted(set(given) & RUNNER_PARAMS)
    if reserved:
        raise AuditUsageError(f"{', '.join(reserved)} is set with --as-of / --twin")
    plan = []
    for rule in rules:
        params: dict[str, Any] = {}
        for name, spec in rule.params.items():
            value = given.get(name, spec.default)
            if value is None:
                raise RuleError(
                    f"rule {rule.id} ({rule.source}) needs parameter {name!r}"
                    f"{': ' + spec.description if spec.description else ''}; "
                    f"give it with --param {name}=…"
                )
            try:
                params[name] = resolve_param(name, spec, value, as_of)
            except RuleError as exc:
                raise RuleError(f"rule {rule.id}: {exc}") from None
        plan.append((rule, params))
    return plan


def _judge(
    rule: Rule, rows: list[dict[str, Any]], targets: int | None, baseline: Baseline | None
) -> tuple[Outcome, Severity | None, int, str | None]:
    for row in rows:
        row["known"] = baseline is not None and baseline.contains(rule.id, row)
    new = sum(1 for row in rows if not row["known"])
    if targets == 0 and not rows:
        return "vacuous", None, 0, "checked nothing"
    verdict = rule.thresholds.outcome(new)
    if verdict == "fail":
        return "fail", rule.severity, new, None
    if verdict == "warn":
        level: Severity = "info" if rule.severity == "info" else "warning"
        return "warn", level, new, f"more than {rule.thresholds.warn_above} rows"
    note = None
    if new:
        note = f"{new} row(s) within the threshold (fail above {rule.thresholds.fail_above})"
    elif rows:
        note = "every violation is in the baseline"
    return "pass", None, new, note


def _record(store: GraphStore, report: AuditReport) -> str:
    """The AuditRun node (through ThreadService, with its own provenance)."""
    counts = report.counts()
    props = {
        "run_id": report.run_id,
        "status": report.status,
        "started": report.started,
        "finished": report.finished,
        "as_of": report.as_of,
        "twin": report.twin,
        "fail_on": report.fail_on,
        "baseline": report.baseline,
        "rules": [r.rule for r in report.results],
        "rules_failed": [r.rule for r in report.failing],
        "rules_vacuous": [r.rule for r in report.results if r.outcome == "vacuous"],
        "rules_error": [r.rule for r in report.errors],
        "passed": counts["pass"],
        "failed": len(report.failing),
        "violations": sum(r.violations for r in report.results),
        "new_violations": sum(r.new for r in report.results),
    }
    record = node(store.ontology, "AuditRun", {k: v for k, v in props.items() if v is not None})
    source = Source("audit", "thread audit", source_id=f"audit:{report.run_id}")
    ThreadService(store).import_records([record], source)
    return record.uid


def _run_rule(
    store: GraphStore,
    rule: Rule,
    params: dict[str, Any],
    as_of: str,
    units: list[str] | None,
    baseline: Baseline | None,
) -> RuleResult:
    """Evaluate and judge one rule; a rule whose query fails is a result, not a raise."""
    shown = dict(params)
    if units is not None and not rule.twin_scoped:
        return RuleResult(rule.id, rule.severity, rule.description, rule.source, "skipped",
                          None, None, 0, 0, 0.0, shown, note="not about one twin's units")  # fmt: skip
    start = time.perf_counter()
    try:
        rows, targets = rule.evaluate(store, {**params, "as_of": as_of, "units": units})
    except ThreadError as exc:
        return RuleResult(rule.id, rule.severity, rule.description, rule.source, "error",
                          None, None, 0, 0, time.perf_counter() - start, shown, note=str(exc))  # fmt: skip
    seconds = time.perf_counter() - start
    rows.sort(key=lambda row: (str(row["uid"]), str(row["message"])))
    outcome, level, new, note = _judge(rule, rows, targets, baseline)
    return RuleResult(rule.id, rule.severity, rule.description, rule.source, outcome, level,
                      targets, len(rows), new, seconds, shown, rows, note)  # fmt: skip


def run_audit(
    store: GraphStore,
    rules: Sequence[Rule],
    options: AuditOptions | None = None,
    progress: ProgressCallback | None = None,
) -> AuditReport:
    """Run `rules` read-only against the store and judge each; record an AuditRun.

    Raises:
        AuditUsageError: a parameter is unknown, missing or of the wrong type, or the
            as-of date is invalid; nothing ran.
        NotFoundError: the twin is not in the graph.
    """
    options = options or AuditOptions()
    as_of = _audit_date(options.as_of)
    plan = _plan(rules, options.params, as_of)
    started = utc_now()
    units = twin_units(store, options.twin, as_of) if options.twin else None
    if progress:
        progress("auditing", 0, len(plan))
    jobs = max(1, options.jobs)
    with ThreadPoolExecutor(jobs, thread_name_prefix="thread-audit") as pool:
        futures = [
            pool.submit(_run_rule, store, rule, params, as_of, units, options.baseline)
            for rule, params in plan
        ]
        for done, _ in enumerate(as_completed(futures)):
            if progress:
                progress("auditing", done + 1, len(plan))
    results = [future.result() for future in futures]
    report = AuditReport(
        run_id=f"{started.replace('-', '').replace(':', '')}-{secrets.token_hex(3)}",
        started=started,
        finished=utc_now(),
        as_of=as_of,
        twin=options.twin,
        units=None if units is None else len(units),
        fail_on=options.fail_on,
        baseline=options.baseline.path if options.baseline else None,
        results=results,
    )
    if options.record:
        report.run = _record(store, report)
    return report
