"""pytest plugin: the Cypher the suite sends is checked with Neo4j's own parser and semantics.

Thread must run on FalkorDB and on Neo4j, but most runs have no Neo4j server, so a statement
Neo4j would reject could pass every test. This plugin points `THREAD_CYPHER_LOG` at a fresh
file of the session (unless it is already set), which every store process of the run
appends each distinct statement to (CliRunner and subprocess tests inherit it); at the end
it adds the Neo4j adapter's DDL and runs `tests/cypher/check.cjs` (Neo4j's published
`@neo4j-cypher/language-support`) on the log. Its report is part of the terminal summary,
and a statement with an error fails the run.

- A test that sends Cypher meant to be rejected carries `@pytest.mark.cypher_unchecked`:
  what it sends while it runs (not in its fixtures) stays out of the log.
- `THREAD_CYPHER_CHECK=0` turns the check off.
- Without Node.js and npm the check is skipped with a one-line notice, except under
  `CI=true`, where that fails the run: CI must never skip it silently.

Registered by `tests/conftest.py` with `pytest_plugins = ["cypher_check"]`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import pytest

from thread import ontology
from thread.stores.neo4j_store import schema_statements
from thread.stores.statement_log import LOG_ENV

__all__ = ["CHECKER", "CheckUnavailableError", "install_checker", "run_checker", "write_schema"]

CYPHER_DIR = Path(__file__).resolve().parent / "cypher"
CHECKER = CYPHER_DIR / "check.cjs"
SWITCH_ENV = "THREAD_CYPHER_CHECK"
UNCHECKED = "cypher_unchecked"
NPM_TIMEOUT_S = 600
CHECK_TIMEOUT_S = 1800


class CheckUnavailableError(Exception):
    """Node.js or npm is missing, so the check cannot run here."""


@dataclass(frozen=True)
class _Report:
    """What the terminal summary shows, and whether it fails the run."""

    text: str
    failed: bool


@dataclass(frozen=True)
class _Run:
    """The session's statement log, and a folder of its own for the check's files."""

    log: Path
    folder: Path


_RUN = pytest.StashKey[_Run]()
_REPORT = pytest.StashKey[_Report]()


def _versions(lock: Path) -> dict[str, str]:
    packages = json.loads(lock.read_text(encoding="utf-8"))["packages"]
    return {where: entry.get("version", "") for where, entry in packages.items() if where}


def _installed() -> bool:
    """Whether node_modules holds exactly the versions package-lock.json pins, judged by
    npm's own record of what it installed (node_modules/.package-lock.json)."""
    record = CYPHER_DIR / "node_modules" / ".package-lock.json"
    try:
        return _versions(record) == _versions(CYPHER_DIR / "package-lock.json")
    except (OSError, ValueError, KeyError):
        return False


def install_checker() -> None:
    """Install the pinned checker package with `npm ci` unless it is already in place.

    Raises:
        CheckUnavailableError: node, or npm when an install is needed, is not on PATH.
        RuntimeError: npm failed (its output is the message).
    """
    if shutil.which("node") is None:
        raise CheckUnavailableError("node is not installed")
    if _installed():
        return
    if shutil.which("npm") is None:
        raise CheckUnavailableError("npm is not installed (needed once, to install the checker)")
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=CYPHER_DIR,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"npm ci in {CYPHER_DIR} failed:\n{done.stdout}{done.stderr}")


def write_schema(path: Path) -> Path:
    """Write the ontology's labels (with the shared Entity label) and relationship types in
    the form check.cjs reads; returns `path`."""
    onto = ontology.load()
    names = {
        "labels": [ontology.ENTITY_LABEL, *onto.labels],
        "relationshipTypes": onto.relationship_types,
    }
    path.write_text(json.dumps(names), encoding="utf-8")
    return path


def run_checker(schema: Path, log: Path) -> subprocess.CompletedProcess[str]:
    """Run check.cjs on a statement log (install_checker first); its report is on stdout."""
    return subprocess.run(
        ["node", str(CHECKER), str(schema), str(log)],
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_S,
        check=False,
    )


def _check(log: Path, folder: Path) -> _Report:
    """Add the Neo4j DDL to the log and check it; a missing tool fails only under CI."""
    with log.open("a", encoding="utf-8") as out:
        for statement in schema_statements(ontology.load()):
            out.write(json.dumps({"statement": statement, "parameters": []}) + "\n")
    try:
        install_checker()
    except CheckUnavailableError as exc:
        if os.environ.get("CI") == "true":
            return _Report(f"Cypher check FAILED: {exc}, and CI must run it", True)
        return _Report(
            f"Cypher check skipped: {exc} (install Node.js 18+ and npm to run it)", False
        )
    except RuntimeError as exc:
        return _Report(f"Cypher check FAILED: {exc}\n({SWITCH_ENV}=0 turns the check off)", True)
    schema = write_schema(folder / "cypher-schema.json")
    done = run_checker(schema, log)
    if done.returncode == 0:
        return _Report(done.stdout + done.stderr, False)
    rerun = f"to run it again: node {CHECKER} {schema} {log}\n"
    return _Report(done.stdout + done.stderr + rerun, True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{UNCHECKED}: sends Cypher meant to be rejected; kept out of the Cypher check",
    )


@pytest.fixture(scope="session", autouse=True)
def _cypher_log(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Start the run's statement log before the first test, so every store process of the
    run records into it; a session fixture, because one runs only when a test does."""
    if os.environ.get(SWITCH_ENV) == "0":
        request.config.stash[_REPORT] = _Report(f"Cypher check skipped: {SWITCH_ENV}=0", False)
        return
    folder = tmp_path_factory.mktemp("cypher")
    if not os.environ.get(LOG_ENV):
        os.environ[LOG_ENV] = str(folder / "statements.jsonl")
    request.config.stash[_RUN] = _Run(Path(os.environ[LOG_ENV]), folder)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Keep a `cypher_unchecked` test's own statements out of the log."""
    log = os.environ.get(LOG_ENV)
    if item.get_closest_marker(UNCHECKED) is None or log is None:
        return (yield)
    del os.environ[LOG_ENV]
    try:
        return (yield)
    finally:
        os.environ[LOG_ENV] = log


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
    """Check the log of a run whose tests ran; a failed check fails the run."""
    run = session.config.stash.get(_RUN, None)
    if run is None or exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return
    report = _check(run.log, run.folder)
    session.config.stash[_REPORT] = report
    if report.failed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = terminalreporter.config.stash.get(_REPORT, None)
    if report is None:
        return
    if "\n" not in report.text.strip():
        terminalreporter.write_line(report.text.strip())
        return
    terminalreporter.section("Cypher check (Neo4j's parser and semantic analysis)")
    terminalreporter.write(report.text)
