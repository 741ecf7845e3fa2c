"""The `thread` command: exit codes, JSON output, errors on stderr, light start-up."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from support.processes import modules_imported_by
from typer.testing import CliRunner

from thread.cli.main import app
from thread.stores import GraphStore
from thread.stores.embedded_server import EmbeddedServer
from thread.stores.falkordb_store import FalkorDBStore

runner = CliRunner()
HEAVY = (
    "pxr",
    "ifcopenshell",
    "scipy",
    "neo4j",
    "pyarrow",
    "numpy",
    "rdflib",
    "fastapi",
    "paho",
    "asyncua",
)


@pytest.fixture
def store_arg(embedded_home: Path) -> list[str]:
    return ["--store", f"embedded:{embedded_home}#cli{uuid.uuid4().hex[:10]}"]


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "from thread.cli.main import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
    )
    assert modules_imported_by(code, HEAVY) == []


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("thread ")


def test_init_status_show_and_query(store_arg: list[str]) -> None:
    assert runner.invoke(app, [*store_arg, "init"]).exit_code == 0
    write = runner.invoke(
        app,
        [*store_arg, "query", "--write", "CREATE (n:Entity:Part {uid: $uid, part_number: $pn, name: $name}) RETURN n.uid AS uid",
         "-p", "uid=part:P-1", "-p", "pn=P-1", "-p", 'name=pump "X"'],
    )  # fmt: skip
    assert write.exit_code == 0, write.stderr
    status = runner.invoke(app, [*store_arg, "status", "--json"])
    assert status.exit_code == 0
    data = json.loads(status.stdout)
    assert data["labels"] == {"Part": 1} and data["nodes"] == 1
    assert data["server"]["running"] is True
    shown = runner.invoke(app, [*store_arg, "show", "part:P-1", "--json"])
    assert json.loads(shown.stdout)["properties"]["name"] == 'pump "X"'
    tree = runner.invoke(app, [*store_arg, "show", "part:P-1"])
    assert "Part part:P-1" in tree.stdout and 'name = pump "X"' in tree.stdout
    rows = runner.invoke(
        app,
        [
            *store_arg,
            "query",
            "MATCH (n:Part) WHERE n.part_number = $pn RETURN n.name AS name",
            "-p",
            "pn=P-1",
            "--json",
        ],
    )
    assert json.loads(rows.stdout) == [{"name": 'pump "X"'}]


def test_a_write_without_the_flag_is_refused(store_arg: list[str]) -> None:
    result = runner.invoke(app, [*store_arg, "query", "CREATE (n:Entity:Part {uid: 'part:Z'})"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error:") and "read-only" in result.stderr
    assert result.stdout == ""
    count = runner.invoke(app, [*store_arg, "query", "MATCH (n) RETURN count(n) AS c", "--json"])
    assert json.loads(count.stdout) == [{"c": 0}]


def test_unknown_uid_exits_1_with_the_closest(store_arg: list[str]) -> None:
    runner.invoke(
        app, [*store_arg, "query", "--write", "CREATE (n:Entity:Part {uid: 'part:PUMP-100'})"]
    )
    result = runner.invoke(app, [*store_arg, "show", "part:PUMP-10"])
    assert result.exit_code == 1
    assert "no entity with uid 'part:PUMP-10'; closest: part:PUMP-100" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2
    assert runner.invoke(app, ["query"]).exit_code == 2
    result = runner.invoke(app, ["query", "RETURN 1", "-p", "novalue"])
    assert result.exit_code == 2 and "NAME=VALUE" in result.stderr


def test_bad_store_spec_is_a_clear_error() -> None:
    result = runner.invoke(app, ["--store", "mysql://x", "status"])
    assert result.exit_code == 1 and "unknown store" in result.stderr


def test_a_neo4j_password_never_appears_in_output() -> None:
    result = runner.invoke(app, ["--store", "bolt://alice:s3cr3t-pw@127.0.0.1:9", "status"])
    assert result.exit_code == 1
    assert "cannot reach Neo4j at bolt://127.0.0.1:9" in result.stderr
    assert "s3cr3t" not in result.stdout + result.stderr
    result = runner.invoke(
        app, ["--store", "bolt://127.0.0.1:9", "--password", "s3cr3t-pw", "status"]
    )
    assert "s3cr3t" not in result.stdout + result.stderr


def test_store_start_status_stop(tmp_path: Path) -> None:
    args = ["--store", f"embedded:{tmp_path}"]
    assert runner.invoke(app, [*args, "store", "start"]).exit_code == 0
    try:
        status = json.loads(runner.invoke(app, [*args, "store", "status", "--json"]).stdout)
        assert status["running"] and status["pinned"]
        runner.invoke(app, [*args, "init"])
        assert EmbeddedServer(tmp_path).status().running, "a pinned server outlives commands"
    finally:
        stop = runner.invoke(app, [*args, "store", "stop"])
    assert stop.exit_code == 0 and "stopped" in stop.stderr
    assert not EmbeddedServer(tmp_path).status().running


def test_the_console_script_runs(tmp_path: Path) -> None:
    thread = Path(sys.executable).with_name("thread")
    # a read needs a store to be there (a mistyped --store is an error, not a new store)
    subprocess.run([str(thread), "--store", f"embedded:{tmp_path}", "init"], check=True, timeout=60)
    result = subprocess.run(
        [str(thread), "--store", f"embedded:{tmp_path}", "status", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["nodes"] == 0
    assert not EmbeddedServer(tmp_path).status().running


def test_error_messages_keep_their_brackets(store_arg: list[str]) -> None:
    """Messages went through rich markup: "[properties]" printed as nothing."""
    uid = 'unit:[bold]P-1/<SN> "x" [properties]'
    result = runner.invoke(app, [*store_arg, "show", uid])
    assert result.exit_code == 1
    assert uid in result.stderr


@pytest.fixture
def fleet_arg(pump_fleet: GraphStore) -> list[str]:
    if not isinstance(pump_fleet, FalkorDBStore):
        pytest.skip("the CLI tests drive the embedded store")
    return ["--store", f"embedded:{pump_fleet.folder}#{pump_fleet.graph_name}"]


@pytest.mark.parametrize("date", ["yesterday", "2024-13-01", "2024-02-30", "2024-05-01garbage"])
def test_a_bad_date_exits_2_with_the_accepted_forms(fleet_arg: list[str], date: str) -> None:
    """Dates compare as text in the graph: these used to print a configuration, exit 0."""
    for args, forms in (
        (["as-of", "unit:P-100/SN-0012", date], "a date YYYY-MM-DD or a UTC time YYYY-MM-DDTHH:MM:SS[Z]"),
        (["recall", "supplier:SUP-NB", "--as-of", date], "a date YYYY-MM-DD"),
    ):  # fmt: skip
        result = runner.invoke(app, [*fleet_arg, *args])
        assert result.exit_code == 2, result.stdout
        assert result.stderr.startswith("Error:") and f"{date!r} is not {forms}\n" in result.stderr
        assert result.stdout == ""


def test_good_dates_still_answer(fleet_arg: list[str]) -> None:
    shown = runner.invoke(app, [*fleet_arg, "as-of", "unit:P-100/SN-0012", "2024-05-01T00:00:00Z", "--json"])  # fmt: skip
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["date"] == "2024-05-01T00:00:00Z"
    recalled = runner.invoke(app, [*fleet_arg, "recall", "supplier:SUP-NB", "--as-of", "2024-01-01", "--json"])  # fmt: skip
    assert recalled.exit_code == 0, recalled.stderr
    assert json.loads(recalled.stdout)["as_of"] == "2024-01-01"
