"""Recovery after a crash of the embedded server, measured side by side.

In one run, each in a folder of its own, N parts are written in batches of 5,000, the
server is killed (SIGKILL) before any compaction, and the store is opened again:
- Thread: a new graph's indexes are written into a snapshot when they are created, so the
  replayed log only holds the writes;
- indexes in the log: the same schema statements and writes with no snapshot, as Thread
  did before, so the replay creates the indexes in place and every MERGE runs without
  them (the time grows with the square of N).

Target (issue 15): recovery proportional to the data, seconds for 100,000 nodes.

    python bench/recovery_bench.py [--nodes 10000]
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

from thread.stores import open_store
from thread.stores.base import node_upsert_cypher
from thread.stores.embedded_server import EmbeddedServer
from thread.stores.falkordb_store import FalkorDBStore


def _rows(nodes: int) -> list[dict[str, object]]:
    return [
        {"uid": f"part:P-{i}", "props": {"part_number": f"P-{i}", "name": f"part {i}"}}
        for i in range(nodes)
    ]


def _kill(store: FalkorDBStore) -> None:
    pid = store.server.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while EmbeddedServer(store.folder).status().running:
        time.sleep(0.01)
    store.server.release()  # this process no longer uses the dead server


def _recovery_seconds(folder: Path, nodes: int) -> float:
    started = time.perf_counter()
    with open_store(f"embedded:{folder}") as store:
        count = store.read("MATCH (p:Part) RETURN count(p) AS n")[0]["n"]
    assert count == nodes, f"{count} of {nodes} parts recovered"
    return time.perf_counter() - started


def thread_path(folder: Path, nodes: int) -> float:
    store = open_store(f"embedded:{folder}")
    assert isinstance(store, FalkorDBStore)
    store.upsert_nodes("Part", _rows(nodes))
    _kill(store)
    return _recovery_seconds(folder, nodes)


def log_path(folder: Path, nodes: int) -> float:
    """The indexes only in the log: the schema statements sent as queries, no snapshot."""
    from falkordb import FalkorDB

    from thread.stores.falkordb_params import with_params

    store = open_store(f"embedded:{folder}#scratch")  # starts the server; its graph is unused
    assert isinstance(store, FalkorDBStore)
    graph = FalkorDB(unix_socket_path=str(store.server.socket_path)).select_graph("thread")
    for label, prop in [("Entity", "uid"), *store.schema_indexes()]:
        graph.query(f"CREATE INDEX FOR (n:`{label}`) ON (n.`{prop}`)")
    graph.create_node_unique_constraint("Entity", "uid")
    cypher = node_upsert_cypher(store.ontology, "Part")
    rows = _rows(nodes)
    for start in range(0, nodes, 5000):
        graph.query(with_params(cypher, {"rows": rows[start : start + 5000], "common": {}}))
    _kill(store)
    return _recovery_seconds(folder, nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        thread = thread_path(Path(scratch) / "thread", args.nodes)
        logged = log_path(Path(scratch) / "logged", args.nodes)
    print(f"recovery of {args.nodes:,} parts after a SIGKILL of the server")
    print(f"  Thread (indexes in the snapshot): {thread:8.2f} s")
    print(f"  indexes only in the log:          {logged:8.2f} s")
    print(f"  ratio: Thread recovers {logged / thread:.1f}x faster")


if __name__ == "__main__":
    main()
