"""User rule files: a valid one runs with its parameters and thresholds; an unknown key,
a write query, an undeclared or missing parameter are refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from thread.audit import AuditOptions, RuleError, load_rules, run_audit
from thread.audit.loader import parse_rules
from thread.audit.model import AuditUsageError, CypherRule
from thread.stores import GraphStore

EXAMPLE_RULES = Path(__file__).resolve().parents[1] / "examples" / "rules"
AUDIT_DATA = Path(__file__).resolve().parent / "data" / "audit"


def test_the_example_rules_run_on_the_example_thread(pump_fleet: GraphStore) -> None:
    rules = load_rules([EXAMPLE_RULES])
    assert [r.id for r in rules] == ["pump-monitored", "repeat-failures", "lot-age-at-install"]
    report = run_audit(pump_fleet, rules, AuditOptions(as_of="2025-06-30", record=False))
    found = {r.rule: (r.outcome, r.level, r.targets, r.violations) for r in report.results}
    assert found["pump-monitored"] == ("pass", None, 36, 0)
    # pumps with a corrective work order since 2024: seals on SN-0003/8, bearings on
    # SN-0012/14/20, the open one on SN-0019: more than warn_above (3), not fail_above (10)
    assert found["repeat-failures"] == ("warn", "warning", 33, 6)
    assert found["lot-age-at-install"][:2] == ("fail", "info")
    assert found["lot-age-at-install"][2] is None  # no targets query: unknown, not vacuous
    assert report.exit_code == 0  # a warning and an info do not fail at --fail-on error
    assert report.to_dict()["failing"] == []
    strict = run_audit(
        pump_fleet, rules, AuditOptions(as_of="2025-06-30", fail_on="warning", record=False)
    )
    assert [r.rule for r in strict.failing] == ["repeat-failures"]


def test_parameters_override_defaults(pump_fleet: GraphStore) -> None:
    rules = [r for r in load_rules([EXAMPLE_RULES]) if r.id == "repeat-failures"]
    options = AuditOptions(as_of="2025-06-30", params={"min_failures": 2}, record=False)
    assert run_audit(pump_fleet, rules, options).results[0].violations == 0


def test_one_rule_at_the_top_level_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    path.write_text(
        'id = "has-name"\nseverity = "info"\ndescription = "parts are named"\n'
        "query = \"MATCH (p:Part) WHERE p.name IS NULL RETURN p.uid AS uid, 'no name' AS message\"\n",
        encoding="utf-8",
    )
    (rule,) = load_rules([path])
    assert (rule.id, rule.severity, rule.source) == ("has-name", "info", str(path))


_VALID = {
    "id": "r",
    "severity": "error",
    "description": "d",
    "query": "MATCH (n:Part) RETURN n.uid AS uid, 'x' AS message",
}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("serverity", "error", "unknown key 'rule.0.serverity'"),
        ("query", "MATCH (n:Part) SET n.x = 1 RETURN n.uid AS uid, 'x' AS message", "writes (SET)"),
        ("query", "MATCH (n:Part) DETACH DELETE n RETURN 'x' AS uid, 'x' AS message", "writes (DELETE, DETACH)"),
        ("query", "CALL db.createLabel('X') RETURN 'x' AS uid, 'x' AS message", "writes (CALL db.createLabel)"),
        ("query", "MATCH (n:Part) WHERE n.x = $limit RETURN n.uid AS uid, 'x' AS message", "uses $limit, not declared"),
        ("targets", "MERGE (n:Part {uid: 'p'}) RETURN 1 AS count", "the targets query writes (MERGE)"),
        ("severity", "fatal", "rule.0.severity: Input should be 'error', 'warning' or 'info'"),
        ("id", "Bad Id", "rule.0.id: Value error, use lowercase letters"),
        ("params", {"as_of": "2020-01-01"}, "as_of is given by the runner"),
        ("thresholds", {"warn_above": 5, "fail_above": 2}, "warn_above is above fail_above"),
    ],
    ids=["unknown-key", "write-set", "write-delete", "write-call", "undeclared-param",
         "write-targets", "bad-severity", "bad-id", "reserved-param", "thresholds"],
)  # fmt: skip
def test_invalid_rule_files_are_refused_with_the_reason(
    key: str, value: object, expected: str
) -> None:
    with pytest.raises(RuleError) as excinfo:
        parse_rules({"rule": [{**_VALID, key: value}]}, "rules.toml")
    assert expected in str(excinfo.value)
    assert str(excinfo.value).startswith("rules.toml")


def test_unreadable_files_and_duplicate_ids_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('id = "x\n', encoding="utf-8")
    with pytest.raises(RuleError, match="not valid TOML"):
        load_rules([broken])
    with pytest.raises(RuleError, match="no such rule file or folder"):
        load_rules([tmp_path / "missing.toml"])
    with pytest.raises(RuleError, match="rule id 'pump-monitored' is defined twice"):
        load_rules([EXAMPLE_RULES, EXAMPLE_RULES / "pump-fleet.toml"])


def test_strings_and_comments_do_not_count_as_writes_or_parameters() -> None:
    (rule,) = parse_rules(
        {
            "id": "quoted",
            "severity": "info",
            "description": "d",
            "query": "// CREATE nothing, $nothing\nMATCH (n:Part) WHERE n.set IS NULL "
            "RETURN n.uid AS uid, 'do not SET $x' AS message",
        },
        "quoted.toml",
    )
    assert rule.id == "quoted"


def test_a_missing_parameter_is_refused_before_anything_runs(embedded_store: GraphStore) -> None:
    rules = load_rules([AUDIT_DATA / "needs-limit.toml"])
    with pytest.raises(RuleError) as excinfo:
        run_audit(embedded_store, rules, AuditOptions(as_of="2025-06-30"))
    assert "needs parameter 'limit'" in str(excinfo.value) and "--param limit=" in str(
        excinfo.value
    )
    assert embedded_store.read("MATCH (a:AuditRun) RETURN count(a) AS c")[0]["c"] == 0
    report = run_audit(
        embedded_store, rules, AuditOptions(as_of="2025-06-30", params={"limit": 1}, record=False)
    )
    assert report.results[0].outcome == "vacuous"


def test_unknown_and_badly_typed_parameters_are_usage_errors(embedded_store: GraphStore) -> None:
    rules = load_rules([EXAMPLE_RULES])
    with pytest.raises(AuditUsageError, match="no selected rule has a parameter nope"):
        run_audit(embedded_store, rules, AuditOptions(params={"nope": 1}))
    with pytest.raises(RuleError, match="'min_failures' must be an integer"):
        run_audit(embedded_store, rules, AuditOptions(params={"min_failures": "two"}))
    with pytest.raises(RuleError, match="'since' must be a date YYYY-MM-DD"):
        run_audit(embedded_store, rules, AuditOptions(params={"since": "last spring"}))


def test_a_write_that_slips_past_the_check_is_refused_by_the_store(
    embedded_store: GraphStore,
) -> None:
    """The static check is a courtesy; the store runs every rule read-only anyway."""
    rule = CypherRule(
        id="sneaky",
        severity="error",
        description="a rule built in Python, which the file loader never saw",
        query="CREATE (:Entity:Part {uid: 'part:Z', part_number: 'Z'}) "
        "RETURN 'part:Z' AS uid, 'made' AS message",
    )
    report = run_audit(embedded_store, [rule], AuditOptions(record=False))
    assert report.results[0].outcome == "error" and "read-only" in str(report.results[0].note)
    assert report.exit_code == 2
    assert embedded_store.read("MATCH (p:Part) RETURN count(p) AS c")[0]["c"] == 0
