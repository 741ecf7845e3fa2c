"""The Neo4j adapter against Neo4j's scripted Bolt server: the real driver, real wire.

Each test scripts what Neo4j would answer and asserts what Thread sends (access mode,
transaction timeout, bookmarks, database, statement, parameters) and how each server
failure reaches the caller. The stub executes no Cypher: whether the statements are valid
Neo4j Cypher is checked by Neo4j's own parser at the end of the test run
(tests/cypher_check.py), and what they compute by the contract suite on a real server
(`NEO4J_URI=… pytest -m neo4j`).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from support.boltstub import failing_tx, run_stub, script, tx
from support.neo4j_schema import ONTO, creating_schema, index_rows, show_indexes
from support.net import free_port

from thread.errors import (
    QueryError,
    QueryMemoryError,
    QueryTimeoutError,
    ReadOnlyError,
    StoreError,
)
from thread.stores import open_store
from thread.stores.neo4j_store import Neo4jStore, data_dir_for


def store(address: str, **kwargs: Any) -> Neo4jStore:
    return Neo4jStore(f"bolt://{address}", password="secret", **kwargs)


# ------------------------------------------------------------------ what goes on the wire


def test_a_read_runs_in_a_read_transaction_with_its_timeout_and_database(tmp_path: Path) -> None:
    body = tx(
        "MATCH (n:Entity {uid: $uid}) RETURN n.uid AS uid",
        {"uid": "part:P-100"},
        mode="r",
        fields=["uid"],
        records=[["part:P-100"]],
        timeout_ms=1500,
        database="thread",
    )
    with run_stub(script(body), tmp_path) as stub, store(stub.address, database="thread") as neo:
        rows = neo.read(
            "MATCH (n:Entity {uid: $uid}) RETURN n.uid AS uid",
            {"uid": "part:P-100"},
            timeout_ms=1500,
        )
    assert rows == [{"uid": "part:P-100"}]


def test_every_transaction_carries_the_bookmark_of_the_write_before(tmp_path: Path) -> None:
    body = [
        tx("CREATE (n:Entity {uid: $u})", {"u": "x"}, commit_bookmark="bm:w1"),
        tx(
            "MATCH (n:Entity) RETURN count(n) AS c",
            mode="r",
            fields=["c"],
            records=[[1]],
            bookmarks=["bm:w1"],
            commit_bookmark="bm:r1",
        ),
        tx("MATCH (n) SET n.seen = true", bookmarks=["bm:r1"], commit_bookmark="bm:w2"),
    ]
    with run_stub(script(*body), tmp_path) as stub, store(stub.address) as neo:
        neo.write("CREATE (n:Entity {uid: $u})", {"u": "x"})
        assert neo.read("MATCH (n:Entity) RETURN count(n) AS c") == [{"c": 1}]
        neo.write("MATCH (n) SET n.seen = true")


def test_opening_a_new_database_creates_the_schema_in_write_transactions(tmp_path: Path) -> None:
    with run_stub(script(*creating_schema()), tmp_path) as stub:
        neo = open_store(f"bolt://{stub.address}", password="secret")
        neo.close()


def test_opening_a_ready_database_only_lists_its_indexes(tmp_path: Path) -> None:
    with run_stub(script(show_indexes(index_rows(ONTO))), tmp_path) as stub:
        open_store(f"bolt://{stub.address}", password="secret").close()


def test_an_index_on_uid_that_is_not_a_constraint_is_reported(tmp_path: Path) -> None:
    rows = index_rows(ONTO)
    rows[0] = ["my_uid_index", "RANGE", ["Entity"], ["uid"], None]
    with (
        run_stub(script(show_indexes(rows)), tmp_path) as stub,
        pytest.raises(StoreError, match="DROP INDEX `my_uid_index`"),
    ):
        open_store(f"bolt://{stub.address}", password="secret")


def test_upserts_commit_one_batch_per_transaction(tmp_path: Path) -> None:
    rows = [{"uid": f"part:P-{i}", "props": {"part_number": f"P-{i}"}} for i in range(5)]
    from thread.stores.base import node_upsert_cypher

    cypher = node_upsert_cypher(ONTO, "Part")
    common = {"_run": "run:1"}
    body = [
        tx(
            cypher,
            {"rows": rows[:2], "common": common},
            fields=["written"],
            records=[[2]],
            commit_bookmark="bm:1",
        ),
        tx(
            cypher,
            {"rows": rows[2:4], "common": common},
            fields=["written"],
            records=[[2]],
            bookmarks=["bm:1"],
            commit_bookmark="bm:2",
        ),
        tx(
            cypher,
            {"rows": rows[4:], "common": common},
            fields=["written"],
            records=[[1]],
            bookmarks=["bm:2"],
        ),
    ]
    with run_stub(script(*body), tmp_path) as stub, store(stub.address) as neo:
        neo.batch_size = 2  # type: ignore[misc]
        assert neo.upsert_nodes("Part", rows, common) == 5


def test_a_batch_without_memory_on_the_server_is_written_in_halves(tmp_path: Path) -> None:
    from thread.stores.base import node_upsert_cypher

    cypher = node_upsert_cypher(ONTO, "Part")
    rows = [{"uid": f"part:P-{i}", "props": {}} for i in range(4)]
    memory = "Neo.TransientError.General.MemoryPoolOutOfMemoryError"
    body = [
        failing_tx(
            memory,
            "The allocation of an extra 2.0 MiB would use more than the limit",
            cypher,
            {"rows": rows, "common": {}},
        ),
        tx(
            cypher,
            {"rows": rows[:2], "common": {}},
            fields=["written"],
            records=[[2]],
            commit_bookmark="bm:1",
        ),
        tx(
            cypher,
            {"rows": rows[2:], "common": {}},
            fields=["written"],
            records=[[2]],
            bookmarks=["bm:1"],
        ),
    ]
    with run_stub(script(*body), tmp_path) as stub, store(stub.address) as neo:
        assert neo.upsert_nodes("Part", rows) == 4


def test_telemetry_is_kept_per_server_and_database(tmp_path: Path) -> None:
    one = data_dir_for(tmp_path, "bolt://db1.example.com:7687", "thread")
    assert one == data_dir_for(tmp_path, "neo4j+s://user:pw@DB1.example.com", "thread")
    assert one != data_dir_for(tmp_path, "bolt://db1.example.com:7687", "other")
    assert one != data_dir_for(tmp_path, "bolt://db2.example.com:7687", "thread")
    assert one != data_dir_for(tmp_path, "bolt://db1.example.com:7688", "thread")
    assert one.parent == tmp_path / "neo4j"
    assert one.name.startswith("db1.example.com-7687-thread-")
    assert "pw" not in str(one)


# ------------------------------------------------------------------ failures


FAILURES: list[tuple[str, str, type[Exception], str]] = [
    ("read", "Neo.ClientError.Statement.AccessMode", ReadOnlyError, "refused here (read-only)"),
    (
        "read",
        "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration",
        QueryTimeoutError,
        "longer than 1500 ms",
    ),
    (
        "read",
        "Neo.ClientError.Transaction.TransactionTimedOut",
        QueryTimeoutError,
        "db.transaction.timeout",
    ),
    (
        "read",
        "Neo.ClientError.Statement.SyntaxError",
        QueryError,
        "Neo4j refused the query: SyntaxError: failed on purpose",
    ),
    (
        "write",
        "Neo.ClientError.Schema.ConstraintValidationFailed",
        QueryError,
        "ConstraintValidationFailed: failed on purpose",
    ),
    (
        "read",
        "Neo.ClientError.Statement.ParameterMissing",
        QueryError,
        "ParameterMissing: failed on purpose",
    ),
    (
        "write",
        "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase",
        StoreError,
        "refuses writes here",
    ),
    (
        "write",
        "Neo.TransientError.General.MemoryPoolOutOfMemoryError",
        QueryMemoryError,
        "db.memory.transaction.max",
    ),
    ("write", "Neo.ClientError.Transaction.Terminated", QueryError, "terminated on the server"),
    ("write", "Neo.TransientError.Transaction.Terminated", QueryError, "terminated on the server"),
    ("read", "Neo.ClientError.Database.DatabaseNotFound", StoreError, "check --database"),
    ("read", "Neo.ClientError.Security.Forbidden", StoreError, "the user may not do this"),
    (
        "read",
        "Neo.DatabaseError.General.UnknownError",
        StoreError,
        "failed: Neo.DatabaseError.General.UnknownError",
    ),
]


@pytest.mark.parametrize(
    ("kind", "code", "error", "message"),
    FAILURES,
    ids=[f"{kind}-{code.removeprefix('Neo.')}" for kind, code, _, _ in FAILURES],
)
def test_each_server_failure_is_a_thread_error_at_once(
    tmp_path: Path, kind: str, code: str, error: type[Exception], message: str
) -> None:
    timeout = 1500 if kind == "read" else None
    body = failing_tx(code, mode="r" if kind == "read" else "w", timeout_ms=timeout)
    with run_stub(script(body), tmp_path) as stub, store(stub.address, retry_s=30) as neo:
        started = time.monotonic()
        with pytest.raises(error, match=re.escape(message)) as raised:
            if kind == "read":
                neo.read("MATCH (n) RETURN n", timeout_ms=1500)
            else:
                neo.write("CREATE (n:Entity {uid: 'x'})")
        # no retry: the script has one attempt, and a retry would wait first
        assert time.monotonic() - started < 5
    assert "None" not in str(raised.value)
    assert "secret" not in str(raised.value)


def test_a_transient_failure_is_tried_again(tmp_path: Path) -> None:
    deadlock = "Neo.TransientError.Transaction.DeadlockDetected"
    body = [
        failing_tx(deadlock),
        tx("MATCH (n) SET n.x = 1"),
    ]
    with run_stub(script(*body), tmp_path) as stub, store(stub.address) as neo:
        assert neo.write("MATCH (n) SET n.x = 1") == []


def test_retries_stop_after_their_time_and_say_why(tmp_path: Path) -> None:
    deadlock = "Neo.TransientError.Transaction.DeadlockDetected"
    body = "{+\n" + failing_tx(deadlock, "deadlock between two writers") + "*: RESET\n+}"
    with run_stub(script(body), tmp_path) as stub, store(stub.address, retry_s=0.5) as neo:
        started = time.monotonic()
        with pytest.raises(QueryError, match="DeadlockDetected: deadlock between two writers"):
            neo.write("MATCH (n) SET n.x = 1")
        assert 0.4 < time.monotonic() - started < 3


def test_the_retry_time_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from thread.stores.neo4j_store import _retry_seconds

    monkeypatch.setenv("THREAD_NEO4J_RETRY_S", "2.5")
    assert _retry_seconds(None) == 2.5
    monkeypatch.setenv("THREAD_NEO4J_RETRY_S", "soon")
    with pytest.raises(StoreError, match="THREAD_NEO4J_RETRY_S='soon' is not a number"):
        _retry_seconds(None)


def test_a_server_that_is_not_there_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"cannot reach Neo4j at bolt://127\.0\.0\.1"):
        Neo4jStore(f"bolt://127.0.0.1:{free_port()}", password="secret", retry_s=0)


def test_wrong_credentials_are_named_without_the_password(tmp_path: Path) -> None:
    text = (
        '!: BOLT 5.4\n\nA: HELLO {"{}": "*"}\nC: LOGON {"{}": "*"}\n'
        'S: FAILURE {"code": "Neo.ClientError.Security.Unauthorized", "message": "The client is unauthorized"}\n'
        "?: GOODBYE\n"
    )
    with (
        run_stub(text, tmp_path) as stub,
        pytest.raises(StoreError, match="refused the credentials of user 'neo4j'") as raised,
    ):
        store(stub.address)
    assert "secret" not in str(raised.value)


# ------------------------------------------------------------------ clusters


def _routing_table(router: str, reader: str, writer: str) -> str:
    table = {
        "ttl": 1000,
        "db": "thread",
        "servers": [
            {"addresses": [router], "role": "ROUTE"},
            {"addresses": [reader], "role": "READ"},
            {"addresses": [writer], "role": "WRITE"},
        ],
    }
    return json.dumps({"rt": table})


def test_a_cluster_routes_writes_to_the_writer_and_reads_see_them(tmp_path: Path) -> None:
    """neo4j:// asks the router for the table, writes on the writer, and reads on a reader
    with the writer's bookmark: the read only succeeds if it carries that bookmark."""
    router, reader, writer = free_port(), free_port(), free_port()
    addresses = [f"127.0.0.1:{port}" for port in (router, reader, writer)]
    route = f'{{*\n    C: ROUTE "*" "*" "*"\n    S: SUCCESS {_routing_table(*addresses)}\n*}}'
    read = tx(
        "MATCH (n:Entity) RETURN count(n) AS c",
        mode="r",
        fields=["c"],
        records=[[1]],
        bookmarks=["bm:from-writer"],
        database="thread",
    )
    write = tx(
        "CREATE (n:Entity {uid: $u})",
        {"u": "x"},
        commit_bookmark="bm:from-writer",
        database="thread",
    )

    def optional(block: str) -> str:
        # a member may also get a connection that only checks it is there
        return "{?\n" + block + "?}"

    with (
        run_stub(script(route, restart=True), tmp_path, router),
        run_stub(script(optional(read), restart=True), tmp_path, reader),
        run_stub(script(optional(write), restart=True), tmp_path, writer),
        Neo4jStore(f"neo4j://{addresses[0]}", password="secret", database="thread") as neo,
    ):
        neo.write("CREATE (n:Entity {uid: $u})", {"u": "x"})
        assert neo.read("MATCH (n:Entity) RETURN count(n) AS c") == [{"c": 1}]


def test_a_leader_switch_is_followed_to_the_new_writer(tmp_path: Path) -> None:
    """The old leader answers NotALeader: the driver drops it, Thread tries again, the
    router names the new leader, and the write lands there."""
    router, reader, old, new = free_port(), free_port(), free_port(), free_port()
    address = {port: f"127.0.0.1:{port}" for port in (router, reader, old, new)}
    route = (
        '{*\n    C: ROUTE "*" "*" "*"\n'
        "    IF: routed == 0\n"
        f"        S: SUCCESS {_routing_table(address[router], address[reader], address[old])}\n"
        "    ELSE:\n"
        f"        S: SUCCESS {_routing_table(address[router], address[reader], address[new])}\n"
        "    PY: routed += 1\n*}"
    )
    not_a_leader = failing_tx(
        "Neo.ClientError.Cluster.NotALeader", "No write operations are allowed on this database."
    )
    not_a_leader = not_a_leader.replace("C: BEGIN {}", 'C: BEGIN {"db": "thread"}')
    write = tx("MATCH (n) SET n.x = 1", database="thread")

    def optional(block: str) -> str:
        return "{?\n" + block + "?}"

    with (
        run_stub("!: PY routed = 0\n" + script(route, restart=True), tmp_path, router),
        run_stub(script(restart=True), tmp_path, reader),
        run_stub(script(optional(not_a_leader), restart=True), tmp_path, old),
        run_stub(script(write), tmp_path, new),
        Neo4jStore(f"neo4j://{address[router]}", password="secret", database="thread") as neo,
    ):
        assert neo.write("MATCH (n) SET n.x = 1") == []
