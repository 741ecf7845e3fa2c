"""Fixtures: a fresh graph per test on every available backend.

The embedded backend always runs. Neo4j runs when NEO4J_URI points at a server, or when
a Docker engine answers and testcontainers can start one; otherwise its cases skip with
the reason.

The public sample data comes from THREAD_SHARED_DATA or ../shared/data beside the checkout
(support/data.py); without it the `shared_data` fixture skips with the reason. Plain
helpers the test modules share (ports, counts, brokers, the Bolt stub) are in support/.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.data import NO_SHARED_DATA, SHARED_DATA
from support.live import Mosquitto, mosquitto

from thread.stores import GraphStore, open_store
from thread.stores.embedded_server import EmbeddedServer

# every statement the run sends is checked with Neo4j's own Cypher parser at its end
pytest_plugins = ["cypher_check"]


TEST_DATA = Path(__file__).resolve().parent / "data"


def _redis_servers_under(folder: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "redis-server" in cmdline and str(folder) in cmdline:
            pids.append(int(proc.name))
    return pids


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public sample files (../shared/data, sources in its README.md)."""
    if SHARED_DATA is None:
        pytest.skip(NO_SHARED_DATA)
    return SHARED_DATA


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The project's own small fixtures (tests/data)."""
    return TEST_DATA


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto broker of the test's own on a free port; skipped with the reason when
    Mosquitto is not installed."""
    with mosquitto(tmp_path / "broker") as running:
        yield running


@pytest.fixture(scope="session")
def embedded_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One embedded server for the session; each test gets its own graph in it."""
    folder = tmp_path_factory.mktemp("store")
    holder = EmbeddedServer(folder)
    holder.acquire()
    yield folder
    holder.release()


@pytest.fixture(scope="session", autouse=True)
def no_server_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The suite must not leave an embedded server running."""
    yield
    base = tmp_path_factory.getbasetemp()
    leftovers = _redis_servers_under(base)
    for pid in leftovers:
        os.kill(pid, 9)
    assert not leftovers, f"embedded servers left running: {leftovers}"


def _neo4j_uri() -> tuple[str | None, str]:
    """A Neo4j URI to test against, or None and the reason why not."""
    if os.environ.get("NEO4J_URI"):
        return os.environ["NEO4J_URI"], ""
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return (
            None,
            "no NEO4J_URI, and no Docker engine for testcontainers (no DOCKER_HOST, no /var/run/docker.sock)",
        )
    import docker

    try:
        client = docker.from_env()
    except docker.errors.DockerException as exc:
        return None, f"no NEO4J_URI and no Docker engine for testcontainers ({exc})"
    try:
        client.ping()
    except Exception as exc:
        return None, f"no NEO4J_URI and the Docker engine does not answer ({type(exc).__name__})"
    finally:
        client.close()
    return "testcontainers", ""


WIPE_ENV = "THREAD_TEST_NEO4J_WIPE"


@pytest.fixture(scope="session")
def neo4j_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Neo4j server for the contract suite, with its telemetry folders in the session's
    temporary folder (THREAD_HOME), never in the user's."""
    uri, reason = _neo4j_uri()
    if uri is None:
        pytest.skip(f"Neo4j tests skipped: {reason}")
    patch = pytest.MonkeyPatch()
    patch.setenv("THREAD_HOME", str(tmp_path_factory.mktemp("neo4j-home")))
    if uri != "testcontainers":
        yield uri
        patch.undo()
        return
    from testcontainers.community.neo4j import Neo4jContainer

    with Neo4jContainer("neo4j:5") as container:
        patch.setenv("NEO4J_USER", container.username)
        patch.setenv("NEO4J_PASSWORD", container.password)
        patch.setenv(WIPE_ENV, "1")  # the container is the suite's own
        yield container.get_connection_url()
    patch.undo()


def _fresh_neo4j(uri: str) -> GraphStore:
    """Open the Neo4j store and empty it, graph and telemetry. A database that holds data
    is wiped only when THREAD_TEST_NEO4J_WIPE=1 says it may be."""
    opened = open_store(uri)
    try:
        if os.environ.get(WIPE_ENV) != "1":
            held = opened.read("MATCH (n) RETURN count(n) AS n")[0]["n"]
            if held:
                pytest.fail(
                    f"{opened.description} holds {held} nodes and the Neo4j tests empty the "
                    f"database before each test: point NEO4J_URI/NEO4J_DATABASE at a scratch "
                    f"database, or set {WIPE_ENV}=1 to let them wipe this one",
                    pytrace=False,
                )
        opened.write("MATCH (n) DETACH DELETE n")
        shutil.rmtree(opened.data_dir, ignore_errors=True)
    except BaseException:
        opened.close()
        raise
    return opened


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest) -> Iterator[GraphStore]:
    """A fresh, empty graph on each backend."""
    if request.param == "embedded":
        home = request.getfixturevalue("embedded_home")
        spec = f"embedded:{home}#t{uuid.uuid4().hex[:12]}"
        with open_store(spec) as opened:
            yield opened
    else:
        with _fresh_neo4j(request.getfixturevalue("neo4j_uri")) as opened:
            yield opened


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pump-fleet"


@pytest.fixture(scope="module", params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def pump_fleet(request: pytest.FixtureRequest) -> Iterator[GraphStore]:
    """The example thread imported once per test module, on each backend; read-only use."""
    from thread.pipeline.imports import import_folder

    if request.param == "embedded":
        home = request.getfixturevalue("embedded_home")
        opened = open_store(f"embedded:{home}#fleet{uuid.uuid4().hex[:10]}")
    else:
        opened = _fresh_neo4j(request.getfixturevalue("neo4j_uri"))
    with opened:
        import_folder(opened, EXAMPLE)
        yield opened


@pytest.fixture
def embedded_store(embedded_home: Path) -> Iterator[GraphStore]:
    """A fresh graph on the embedded backend only."""
    with open_store(f"embedded:{embedded_home}#t{uuid.uuid4().hex[:12]}") as opened:
        yield opened
