"""The import, traceability and demo commands, through the CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thread.cli.main import app

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pump-fleet"


@pytest.fixture
def store_arg(embedded_home: Path) -> list[str]:
    return ["--store", f"embedded:{embedded_home}#cli{uuid.uuid4().hex[:10]}", "--quiet"]


@pytest.fixture(scope="module")
def fleet_arg(embedded_home: Path) -> list[str]:
    args = ["--store", f"embedded:{embedded_home}#clifleet{uuid.uuid4().hex[:8]}", "--quiet"]
    result = runner.invoke(app, [*args, "import", "auto", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.stderr
    return args


def test_import_reports_json_and_is_idempotent(store_arg: list[str], test_data: Path) -> None:
    parts = test_data / "lifecycle" / "parts.csv"
    first = runner.invoke(app, [*store_arg, "import", "parts", str(parts), "--json"])
    assert first.exit_code == 0, first.stderr
    reports = json.loads(first.stdout)
    assert reports[0]["nodes"]["created"] == 3 and reports[0]["changed"] is True
    again = runner.invoke(app, [*store_arg, "import", "parts", str(parts), "--json"])
    assert json.loads(again.stdout)[0]["changed"] is False
    human = runner.invoke(app, [*store_arg, "import", "parts", str(parts)])
    assert "unchanged, nothing to write" in human.stdout


def test_import_errors_name_the_row_and_exit_1(store_arg: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "parts.csv"
    bad.write_text("part_number,name,make_buy\nP-1,Pump,make\nP-2,Shaft,steal\n")
    result = runner.invoke(app, [*store_arg, "import", "parts", str(bad)])
    assert result.exit_code == 1
    assert "parts.csv:3: make_buy: Input should be 'make' or 'buy'" in result.stderr
    assert "nothing was written" in result.stderr
    count = runner.invoke(app, [*store_arg, "query", "MATCH (n) RETURN count(n) AS c", "--json"])
    assert json.loads(count.stdout) == [{"c": 0}]


def test_dry_run_writes_nothing(store_arg: list[str], test_data: Path) -> None:
    result = runner.invoke(
        app,
        [*store_arg, "import", "parts", str(test_data / "lifecycle" / "parts.csv"), "--dry-run"],
    )
    assert result.exit_code == 0 and "dry run: would import" in result.stdout
    count = runner.invoke(app, [*store_arg, "query", "MATCH (n) RETURN count(n) AS c", "--json"])
    assert json.loads(count.stdout) == [{"c": 0}]


def test_an_unknown_kind_lists_the_known_ones() -> None:
    result = runner.invoke(app, ["import", "spreadsheet", "x.csv"])
    assert result.exit_code == 2
    assert "known kinds: auto, bom" in result.stderr


def test_trace_recall_and_friends(fleet_arg: list[str]) -> None:
    trace = runner.invoke(app, [*fleet_arg, "trace", "unit:P-100/SN-0012", "--json"])
    assert json.loads(trace.stdout)["revision"]["uid"] == "rev:P-100/A"
    tree = runner.invoke(app, [*fleet_arg, "trace", "unit:P-100/SN-0012"])
    assert "B-500 lot LOT-B-2302" in tree.stdout and "maintenance (2 work orders)" in tree.stdout
    recall = runner.invoke(app, [*fleet_arg, "recall", "lot:LOT-B-2302"])
    # 22 units: 15 pumps and the 7 motors inside them
    assert (
        "reached 15 top-level unit(s) and 7 sub-unit(s); 14 top-level and 7 sub-unit(s) "
        "still contain it" in recall.stdout
    )
    dot = runner.invoke(app, [*fleet_arg, "recall", "lot:LOT-B-2302", "--format", "dot"])
    assert dot.stdout.startswith("digraph thread {")
    used = runner.invoke(app, [*fleet_arg, "where-used", "W-230", "--json"])
    assert [u["level"] for u in json.loads(used.stdout)["designed"]] == [1, 2, 3, 3]
    config = runner.invoke(app, [*fleet_arg, "as-of", "unit:P-100/SN-0012", "2024-05-01"])
    assert "LOT-B-2302" in config.stdout
    difference = runner.invoke(app, [*fleet_arg, "diff", "unit:P-100/SN-0024"])
    assert "not applied: ECO-0007" in difference.stdout
    path = runner.invoke(app, [*fleet_arg, "path", "unit:P-100/SN-0012", "supplier:SUP-ST"])
    assert "2. lot:LOT-S-2301 SUPPLIED_BY supplier:SUP-ST" in path.stdout
    twins = runner.invoke(app, [*fleet_arg, "twin", "list", "--json"])
    assert len(json.loads(twins.stdout)["aggregates"]) == 3
    fleet = runner.invoke(app, [*fleet_arg, "twin", "show", "atwin:P-100/B"])
    assert "SN-0036" in fleet.stdout


def test_query_commands_fail_cleanly(fleet_arg: list[str]) -> None:
    missing = runner.invoke(app, [*fleet_arg, "trace", "unit:P-100/SN-012"])
    assert missing.exit_code == 1 and "closest: unit:P-100/SN-0012" in missing.stderr
    wrong = runner.invoke(app, [*fleet_arg, "recall", "site:PLANT-NORTH"])
    assert wrong.exit_code == 1 and "a recall starts from a Lot, Supplier" in wrong.stderr
    sections = runner.invoke(
        app, [*fleet_arg, "trace", "unit:P-100/SN-0012", "--sections", "gossip"]
    )
    assert sections.exit_code == 2


def test_demo_imports_the_example_and_traces_a_pump(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = runner.invoke(app, ["--quiet", "demo", "--folder", str(folder)])
    assert result.exit_code == 0, result.stderr
    assert "The thread of pump unit:P-100/SN-0012" in result.stdout
    assert "twins (derived)" in result.stdout
    assert (
        "it reached 15 units and 7 sub-units, 14 units and 7 sub-units still contain it"
        in result.stdout
    )
    again = runner.invoke(app, ["--quiet", "demo", "--folder", str(folder)])
    assert again.exit_code == 1 and "is not empty" in again.stderr
