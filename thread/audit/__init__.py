"""Lifecycle audits: built-in and user rules over the graph, judged, reported, recorded.

    from thread.audit import AuditOptions, all_rules, run_audit
    report = run_audit(store, all_rules(), AuditOptions(as_of="2025-06-30"))
    report.exit_code  # 0 passed, 1 failed, 2 a rule could not run

Rules are read-only parameterised Cypher (thread.audit.builtin, user TOML files through
thread.audit.loader) plus the ontology's SHACL shapes compiled to Cypher
(thread.audit.shacl); thread.audit.reports renders JSON, JUnit XML and HTML.
"""

from __future__ import annotations

from thread.audit.baseline import Baseline, read_baseline, write_baseline
from thread.audit.loader import PROJECT_RULES, load_rules
from thread.audit.model import AuditUsageError, Rule, RuleError, Severity
from thread.audit.runner import (
    AuditOptions,
    AuditReport,
    FailOn,
    RuleResult,
    all_rules,
    run_audit,
    select_rules,
)

__all__ = [
    "PROJECT_RULES",
    "AuditOptions",
    "AuditReport",
    "AuditUsageError",
    "Baseline",
    "FailOn",
    "Rule",
    "RuleError",
    "RuleResult",
    "Severity",
    "all_rules",
    "load_rules",
    "read_baseline",
    "run_audit",
    "select_rules",
    "write_baseline",
]
