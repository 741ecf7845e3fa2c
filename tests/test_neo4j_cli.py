"""`thread --store bolt://…` init, status, query and import against Neo4j's scripted Bolt
server: each command goes through the real driver, and the stub checks every transaction
it sends (mode, bookmarks, statement or its parameters) and answers as Neo4j would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.boltstub import chain, run_stub, script, tx
from support.neo4j_schema import ONTO, creating_schema, index_rows, show_indexes
from typer.testing import CliRunner

from thread.cli.main import app

runner = CliRunner()
LIFECYCLE = Path(__file__).resolve().parent / "data" / "lifecycle"
READY = show_indexes(index_rows(ONTO), bookmark="bm:0")


def thread(address: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(
        app, ["--store", f"bolt://{address}", "--password", "secret", *args], catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


def test_init_creates_the_schema(tmp_path: Path) -> None:
    with run_stub(script(*creating_schema()), tmp_path) as stub:
        code, stdout, _ = thread(stub.address, "init")
    assert code == 0
    assert f"ready: Neo4j at bolt://{stub.address}" in stdout


def test_status_counts_labels_and_names_the_server(tmp_path: Path) -> None:
    body = [
        READY,
        *chain(
            "bm:0",
            # repairs first: no run of this host left 'running', no import the twins missed
            {"statement": "*", "params": {"host": "*"}, "mode": "r", "fields": ["uid"]},
            {"statement": "*", "params": {"derived": "*"}, "mode": "r", "fields": ["uid"]},
            {
                "statement": "*",
                "mode": "r",
                "fields": ["label", "count"],
                "records": [["Part", 3], ["Unit", 2]],
            },
            {
                "statement": "*",
                "mode": "r",
                "fields": ["type", "count"],
                "records": [["HAS_REVISION", 3]],
            },
            {"statement": "*", "params": {"runs": 10}, "mode": "r", "fields": ["uid"]},
            {"statement": "*", "params": {"runs": 10}, "mode": "r", "fields": ["uid"]},
        ),
    ]
    with run_stub(script(*body), tmp_path) as stub:
        code, stdout, _ = thread(stub.address, "status", "--json")
    assert code == 0
    status = json.loads(stdout)
    assert status["kind"] == "neo4j"
    assert status["labels"] == {"Part": 3, "Unit": 2} and status["nodes"] == 5
    assert status["relationships"] == {"HAS_REVISION": 3}
    assert status["server"]["agent"].startswith("Neo4j/")
    assert status["server"]["address"] == stub.address


def test_query_is_read_only_and_sends_its_parameters(tmp_path: Path) -> None:
    cypher = "MATCH (u:Unit) WHERE u.serial = $s RETURN u.uid AS uid"
    body = [
        READY,
        tx(
            cypher,
            {"s": "SN-0042"},
            mode="r",
            fields=["uid"],
            records=[["unit:P-100/SN-0042"]],
            bookmarks=["bm:0"],
        ),
    ]
    with run_stub(script(*body), tmp_path) as stub:
        code, stdout, _ = thread(stub.address, "query", cypher, "-p", "s=SN-0042", "--json")
    assert code == 0
    assert json.loads(stdout) == [{"uid": "unit:P-100/SN-0042"}]


def test_query_that_writes_in_read_mode_is_refused(tmp_path: Path) -> None:
    failure = (
        'C: BEGIN {"mode": "r", "bookmarks{}": ["bm:0"]}\nS: SUCCESS {}\n'
        'C: RUN "CREATE (n:Entity {uid: \'x\'})" {} {}\nC: PULL {"n": 1000}\n'
        'S: FAILURE {"code": "Neo.ClientError.Statement.AccessMode", '
        '"message": "Writing in read access mode not allowed."}\nS: IGNORED\n'
    )
    with run_stub(script(READY, failure), tmp_path) as stub:
        code, _, stderr = thread(stub.address, "query", "CREATE (n:Entity {uid: 'x'})")
    assert code == 1
    assert "refused here (read-only)" in stderr


def test_import_writes_each_batch_and_records_the_run(tmp_path: Path) -> None:
    """What the service sends for a new parts file: the checks (reads), the ImportRun,
    the parts, the ImportRun's outcome; then the twins' refresh finds no units."""

    def upsert(count: int) -> dict[str, Any]:
        return {
            "statement": "*",
            "params": {"rows": "*", "common": "*"},
            "fields": ["written"],
            "records": [[count]],
        }

    def check(**params: str) -> dict[str, Any]:
        return {"statement": "*", "params": params, "mode": "r", "fields": ["uid"]}

    def runs_of_source() -> dict[str, Any]:
        return {
            "statement": "*",
            "params": {"src": "*", "importer": "*"},
            "mode": "r",
            "fields": ["runs"],
            "records": [[0]],
        }

    body = [
        READY,
        *chain(
            "bm:0",
            check(host="*"),  # runs of this host left 'running' by a dead process: none
            # earlier runs of this source, under its key and the two keys earlier
            # versions gave it: none (a new source)
            *[runs_of_source()] * 3,
            check(uids="*"),
            check(src="*"),
            check(src="*"),
            upsert(1),  # the ImportRun, running
            upsert(3),  # the parts
            upsert(1),  # the ImportRun, succeeded
            check(derived="*"),  # imports the twins have not reached: none
        ),
    ]
    with run_stub(script(*body), tmp_path) as stub:
        code, stdout, stderr = thread(
            stub.address, "--quiet", "import", "parts", str(LIFECYCLE / "parts.csv"), "--json"
        )
    assert code == 0, stderr
    reports = {report["importer"]: report for report in json.loads(stdout)}
    assert reports["parts"]["nodes"]["created"] == 3
    assert reports["parts"]["by_label"]["Part"]["created"] == 3
