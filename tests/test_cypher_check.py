"""The Cypher check itself (tests/cypher/check.cjs): it passes Cypher Neo4j 5 accepts, and
fails, naming each one, on statements Neo4j would reject, so a green run means something."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cypher_check import CheckUnavailableError, install_checker, run_checker, write_schema

Statements = list[tuple[str, list[str]]]
"""(statement, parameter names) pairs, as the statement log records them"""

GOOD: Statements = [
    (
        "UNWIND $rows AS row MERGE (n:`Entity`:`Part` {uid: row.uid}) "
        "SET n += $common, n += row.props RETURN count(n) AS written",
        ["common", "rows"],
    ),
    (
        "MATCH (u:Unit)-[:OF_REVISION]->(r:PartRevision) WHERE u.uid = $uid RETURN r.uid AS rev",
        ["uid"],
    ),
    ("CALL db.labels() YIELD label RETURN label", []),
]
# Neo4j only advises against these: printed, never failing
WARNED: Statements = [("MATCH (w:Widget) RETURN w.uid AS uid", [])]
BAD: Statements = [
    ("MATCH (u:Unit RETURN u", []),
    ("MATCH (u:Unit) RETURN v", []),
    ("RETURN apoc.coll.sum([1, 2]) AS total", []),
    ("MATCH (u:Unit) WHERE u.serial = $serial RETURN u", []),
    ("MATCH (u:Unit) RETURN u.uid AS uid; MATCH (p:Part) RETURN p.uid AS uid", []),
]


@pytest.fixture(scope="module")
def checker() -> None:
    """The pinned checker, installed; skipped without Node.js except under CI."""
    try:
        install_checker()
    except CheckUnavailableError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}, and CI must run the Cypher check")
        pytest.skip(f"the Cypher check needs Node.js and npm: {exc}")


def _check(folder: Path, statements: Statements) -> subprocess.CompletedProcess[str]:
    log = folder / "statements.jsonl"
    log.write_text(
        "".join(json.dumps({"statement": s, "parameters": p}) + "\n" for s, p in statements),
        encoding="utf-8",
    )
    return run_checker(write_schema(folder / "schema.json"), log)


def test_cypher_neo4j_accepts_passes_with_its_warnings_printed(
    checker: None, tmp_path: Path
) -> None:
    done = _check(tmp_path, GOOD + WARNED)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Label Widget is not present in the database" in done.stdout
    assert "Cypher check passed: 4 statements, 0 errors, 1 warnings" in done.stdout


def test_each_statement_neo4j_rejects_fails_the_check_by_name(
    checker: None, tmp_path: Path
) -> None:
    done = _check(tmp_path, GOOD + BAD)
    assert done.returncode == 1, done.stdout + done.stderr
    named = [
        line.removeprefix("  in: ")
        for line in done.stdout.splitlines()
        if line.startswith("  in: ")
    ]
    assert sorted(set(named)) == sorted(statement for statement, _ in BAD)
    assert "Cypher check FAILED: 8 statements" in done.stdout


def test_a_log_line_that_is_not_json_fails_the_check_with_its_line(
    checker: None, tmp_path: Path
) -> None:
    log = tmp_path / "statements.jsonl"
    log.write_text(
        '{"statement": "RETURN 1", "parameters": []}\n{"statement": \n', encoding="utf-8"
    )
    done = run_checker(write_schema(tmp_path / "schema.json"), log)
    assert done.returncode == 1
    assert f"{log}:2: not JSON" in done.stdout
