"""`thread audit` and `thread validate` from the command line: exit codes, JSON, JUnit,
HTML, baselines, AuditRun records, and a start-up that imports nothing heavy."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
import typer
from support.processes import modules_imported_by
from typer.testing import CliRunner

from thread.cli import audit_cmds
from thread.cli.main import ThreadGroup, main
from thread.stores import GraphStore
from thread.stores.falkordb_store import FalkorDBStore

runner = CliRunner()
EXAMPLE_RULES = Path(__file__).resolve().parents[1] / "examples" / "rules"
AUDIT_DATA = Path(__file__).resolve().parent / "data" / "audit"
HEAVY = ("rdflib", "pyshacl", "brickschema", "owlrl", "pyarrow", "pxr", "ifcopenshell", "scipy")


def _app() -> typer.Typer:
    """The commands as cli/main.py registers them, on Thread's own error handling."""
    app = typer.Typer(cls=ThreadGroup, add_completion=False, pretty_exceptions_enable=False)
    app.callback()(main)
    app.command()(audit_cmds.audit)
    app.command()(audit_cmds.validate)
    return app


def _store_arg(store: GraphStore) -> list[str]:
    assert isinstance(store, FalkorDBStore)
    return ["--store", f"embedded:{store.folder}#{store.graph_name}"]


@pytest.fixture
def fleet_args(pump_fleet: GraphStore) -> list[str]:
    if not isinstance(pump_fleet, FalkorDBStore):
        pytest.skip("the CLI tests drive the embedded store")
    return [*_store_arg(pump_fleet), "--quiet", "audit", "--as-of", "2025-06-30", "--no-record"]


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import typer\n"
        "from thread.cli import audit_cmds, export_cmds\n"
        "app = typer.Typer()\n"
        "app.command()(audit_cmds.audit)\n"
        "app.command()(audit_cmds.validate)\n"
        "app.command()(export_cmds.rdf)\n"
        "try:\n    app(['audit', '--help'])\nexcept SystemExit:\n    pass\n"
    )
    assert modules_imported_by(code, HEAVY) == []


def test_the_example_thread_fails_the_audit(fleet_args: list[str], tmp_path: Path) -> None:
    junit, html = tmp_path / "audit.xml", tmp_path / "audit.html"
    result = runner.invoke(
        _app(), [*fleet_args, "--junit", str(junit), "--html", str(html), "--limit", "2"]
    )
    assert result.exit_code == 1, result.stderr
    assert "as-built-configuration" in result.stdout
    assert "unit:P-100/SN-0030: substituted at find number 50: MS-600" in result.stdout
    assert "… and 19 more" in result.stdout  # the suspect lot's 21 units, 2 shown
    assert "checked nothing" in result.stdout
    assert result.stderr.startswith("failed:")
    suite = ElementTree.parse(junit).getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert suite.get("failures") == "3" and len(cases) == int(suite.get("tests") or 0) == 25
    failure = cases["unapplied-change-order"].find("failure")
    assert failure is not None and "unit:P-100/SN-0024" in (failure.text or "")
    assert cases["activity-after-scrap"].find("skipped") is not None
    assert cases["as-maintained-configuration"].find("system-out") is not None
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert 'href="#uid-unit_P-100_SN-0030"' in page and 'id="uid-unit_P-100_SN-0030"' in page
    assert 'href="#rule-as-built-configuration"' in page


def test_json_report_shape(fleet_args: list[str]) -> None:
    result = runner.invoke(
        _app(), [*fleet_args, "--json", "suspect-lot-installed", "unit-has-twin"]
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) == {
        "run", "run_id", "status", "exit_code", "started", "finished", "as_of", "twin", "units",
        "fail_on", "baseline", "counts", "violations", "new_violations", "failing", "rules",
    }  # fmt: skip
    assert (data["status"], data["exit_code"], data["run"], data["as_of"]) == (
        "failed",
        1,
        None,
        "2025-06-30",
    )
    assert [r["rule"] for r in data["rules"]] == ["suspect-lot-installed", "unit-has-twin"]
    suspect = data["rules"][0]
    assert (suspect["outcome"], suspect["targets"], suspect["violations"], suspect["new"]) == (
        "fail",
        72,
        21,
        21,
    )
    assert suspect["rows"][0] == {
        "uid": "unit:M-200/MSN-0012",
        "message": "unit:M-200/MSN-0012 still contains lot:LOT-B-2302 (suspect)",
        "lot": "lot:LOT-B-2302",
        "status": "suspect",
        "depth": 1,
        "known": False,
    }
    assert suspect["params"] == {"statuses": ["suspect", "quarantined", "recalled", "rejected"]}


def test_a_baseline_fails_only_on_new_violations(fleet_args: list[str], tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    first = runner.invoke(_app(), [*fleet_args, "--write-baseline", str(baseline)])
    assert first.exit_code == 1 and "known violation(s)" in first.stderr
    known = json.loads(baseline.read_text(encoding="utf-8"))["violations"]
    assert len(known) == 38
    again = runner.invoke(_app(), [*fleet_args, "--baseline", str(baseline), "--json"])
    assert again.exit_code == 0, again.stdout
    data = json.loads(again.stdout)
    assert (data["violations"], data["new_violations"], data["status"]) == (38, 0, "passed")
    trimmed = {**json.loads(baseline.read_text()), "violations": known[1:]}
    baseline.write_text(json.dumps(trimmed), encoding="utf-8")
    one_new = runner.invoke(_app(), [*fleet_args, "--baseline", str(baseline), "--json"])
    assert json.loads(one_new.stdout)["new_violations"] == 1


def test_fail_on_severity_and_list(fleet_args: list[str]) -> None:
    app = _app()
    errors_only = runner.invoke(app, [*fleet_args, "--severity", "error", "--json"])
    rules = json.loads(errors_only.stdout)["rules"]
    assert {r["severity"] for r in rules} == {"error"}
    warnings = runner.invoke(app, [*fleet_args, "--fail-on", "warning", "--json", "channel-stale"])
    assert warnings.exit_code == 0  # no stale channel on the example's last day
    maintained = runner.invoke(
        app, [*fleet_args, "--fail-on", "warning", "as-maintained-configuration"]
    )
    assert maintained.exit_code == 1
    listed = runner.invoke(app, [*fleet_args, "--list", "--json"])
    assert listed.exit_code == 0
    entries = {r["rule"]: r for r in json.loads(listed.stdout)}
    assert (
        entries["preventive-maintenance-overdue"]["params"]["due_before"]["default"] == "today-365d"
    )
    assert entries["duplicate-serial"]["twin_scoped"] is False
    assert len(entries) == 25


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["no-such-rule"], "unknown rule no-such-rule"),
        (["--param", "nope=1"], "no selected rule has a parameter nope"),
        (["--rules", str(AUDIT_DATA / "needs-limit.toml")], "needs parameter 'limit'"),
        (["--rules", str(AUDIT_DATA / "missing.toml")], "no such rule file"),
        (["--baseline", str(AUDIT_DATA / "needs-limit.toml")], "not a JSON baseline"),
        (["--as-of", "30/06/2025"], "is not a date"),
    ],
    ids=["unknown-rule", "unknown-param", "missing-param", "missing-file", "bad-baseline", "bad-date"],
)  # fmt: skip
def test_usage_errors_exit_2(fleet_args: list[str], extra: list[str], message: str) -> None:
    result = runner.invoke(_app(), [*fleet_args, *extra])
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("Error:") and message in result.stderr
    assert result.stdout == ""


def test_invalid_rule_files_exit_2(fleet_args: list[str], tmp_path: Path) -> None:
    for body, message in (
        ('[[rule]]\nid = "x"\nseverity = "error"\ndescription = "d"\nfoo = 1\nquery = "RETURN 1"\n',
         "unknown key 'rule.0.foo'"),
        ('[[rule]]\nid = "x"\nseverity = "error"\ndescription = "d"\n'
         "query = \"MATCH (n) DELETE n RETURN 'x' AS uid, 'y' AS message\"\n", "writes (DELETE)"),
    ):  # fmt: skip
        path = tmp_path / "rule.toml"
        path.write_text(body, encoding="utf-8")
        result = runner.invoke(_app(), [*fleet_args, "--rules", str(path)])
        assert result.exit_code == 2 and message in result.stderr


def test_project_rules_are_read_from_thread_rules(
    fleet_args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "thread-rules").mkdir()
    (tmp_path / "thread-rules" / "fleet.toml").write_text(
        (EXAMPLE_RULES / "pump-fleet.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(_app(), [*fleet_args, "--json", "pump-monitored"])
    assert json.loads(result.stdout)["rules"][0]["source"] == "thread-rules/fleet.toml"


def test_each_audit_is_recorded_as_an_audit_run(embedded_store: GraphStore) -> None:
    args = [*_store_arg(embedded_store), "--quiet", "audit", "unit-has-revision"]
    first = runner.invoke(_app(), args)
    assert first.exit_code == 0
    assert "checked nothing (not a pass): unit-has-revision" in first.stdout  # no unit yet
    runs = embedded_store.read(
        "MATCH (a:AuditRun) RETURN a.uid AS uid, a.status AS status, a.rules AS rules, "
        "a.rules_vacuous AS vacuous, a.violations AS violations"
    )
    assert len(runs) == 1 and runs[0]["uid"].startswith("audit:")
    assert (runs[0]["status"], runs[0]["rules"], runs[0]["vacuous"], runs[0]["violations"]) == (
        "passed",
        ["unit-has-revision"],
        ["unit-has-revision"],
        0,
    )
    runner.invoke(_app(), args)
    assert embedded_store.read("MATCH (a:AuditRun) RETURN count(a) AS c")[0]["c"] == 2
    assert (
        embedded_store.read("MATCH (a:AuditRun) WHERE a._missing IS NOT NULL RETURN count(a) AS c")[
            0
        ]["c"]
        == 0
    )  # an audit is its own source: a later one never marks it disappeared


def test_validate_with_user_shapes(fleet_args: list[str], tmp_path: Path) -> None:
    shapes = tmp_path / "shapes.ttl"
    shapes.write_text(
        "@prefix sh: <http://www.w3.org/ns/shacl#> .\n"
        "@prefix th: <https://w3id.org/digital-thread#> .\n"
        "th:PumpsAreNamed a sh:NodeShape ; sh:targetClass th:Part ;\n"
        '  sh:property [ sh:path th:make_buy ; sh:in ( "make" ) ] .\n',
        encoding="utf-8",
    )
    store_args = fleet_args[: fleet_args.index("audit")]
    result = runner.invoke(_app(), [*store_args, "validate", "--shapes", str(shapes), "--json"])
    assert result.exit_code == 1
    (shape,) = json.loads(result.stdout)["rules"]
    assert (shape["rule"], shape["targets"], shape["violations"]) == ("PumpsAreNamed", 12, 8)
    assert {r["constraint"] for r in shape["rows"]} == {"InConstraintComponent"}
    ontology_shapes = runner.invoke(_app(), [*store_args, "validate", "--json"])
    assert ontology_shapes.exit_code == 0
    missing = runner.invoke(_app(), [*store_args, "validate", "--shapes", str(tmp_path / "x.ttl")])
    assert missing.exit_code == 2 and "shapes file not found" in missing.stderr


@pytest.mark.parametrize("date", ["2025-06-30garbage", "2025-13-01", "2025-02-30", "yesterday"])
def test_an_as_of_that_is_not_a_date_exits_2(fleet_args: list[str], date: str) -> None:
    """An as-of of "2025-06-30garbage" used to audit 2025-06-30 (it was cut to ten characters)."""
    result = runner.invoke(_app(), [*fleet_args, "--as-of", date])
    assert result.exit_code == 2, result.stdout
    assert f"Error: --as-of: {date!r} is not a date YYYY-MM-DD" in result.stderr
    assert result.stdout == ""


def test_the_html_report_shows_lists_as_text(fleet_args: list[str], tmp_path: Path) -> None:
    """Facts that are lists (the seals a configuration expects) read as text, not as
    Python reprs such as ['MS-600']."""
    html = tmp_path / "audit.html"
    result = runner.invoke(_app(), [*fleet_args, "--html", str(html)])
    assert result.exit_code == 1, result.stderr
    page = html.read_text(encoding="utf-8")
    assert "['" not in page and "[&#x27;" not in page and "[&quot;" not in page
    assert "<td>MS-600</td>" in page


def test_the_audit_summary_as_csv(fleet_args: list[str]) -> None:
    import csv
    import io

    result = runner.invoke(_app(), [*fleet_args, "--csv"])
    assert result.exit_code == 1, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    rules = json.loads(runner.invoke(_app(), [*fleet_args, "--json"]).stdout)["rules"]
    assert rows[0][:3] == ["rule", "severity", "outcome"]
    assert [r[0] for r in rows[1:]] == [r["rule"] for r in rules]
    both = runner.invoke(_app(), [*fleet_args, "--csv", "--json"])
    assert both.exit_code == 2
