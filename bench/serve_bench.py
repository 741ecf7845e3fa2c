"""The HTTP service under load, against the same questions asked in process.

In one run: a fleet of 10,000 units (the traceability benchmark's generator, with a
smaller BOM by default so the load takes under a minute) in a fresh embedded store; a real
`thread serve` on a free localhost port; 32 concurrent clients for 30 s on a mix of
trace, where-used and entity lookups (it stops by itself); then each kind asked by one
client at a time over HTTP and in process, for the latency ratio. Throughput and its
latencies under load are measured with wrk (Debian's `wrk`, a C load generator that
leaves the two cores to the server) when it is installed, else with an asyncio httpx
client in this process (which then competes with the server for CPU).

Targets (issue 9): zero errors; HTTP p50 <= 2 x in-process p50 + 5 ms; >= 500 requests/s.

`--example` asks about the example thread (examples/pump-fleet) instead of a generated
fleet, `--only KIND` keeps one kind of question (issue 15: `--example --only trace` must
reach 500 requests/s), and `--baseline REF` also serves the code of a git revision
(`thread`, `cli`, `importers`, `ontology` and `sim` as REF has them, unpacked with
`git archive`) from the same store, alternating with this work tree for `--rounds`
rounds, so both are measured side by side on the same machine at the same time.

    python bench/serve_bench.py [--units 10000] [--clients 32] [--seconds 30]
    python bench/serve_bench.py --example --only trace --baseline HEAD --rounds 3 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import query_bench

from thread.clock import utc_now
from thread.http.tokens import TokenStore, tokens_file
from thread.pipeline.imports import import_folder
from thread.queries.show import get_entity
from thread.queries.trace import trace
from thread.queries.where_used import where_used
from thread.stores import StoreSpec, open_store
from thread.stores.base import GraphStore
from thread.stores.falkordb_store import FalkorDBStore

Question = tuple[str, str, Callable[[Any], Any]]
"""(kind, HTTP path, the same question in process)"""

KINDS = ("trace", "where-used", "entity")
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pump-fleet"
PACKAGES = ("thread", "cli", "importers", "ontology", "sim")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def questions(fleet: query_bench.Fleet, count: int, seed: int = 7) -> list[Question]:
    """A seeded mix: a third traces of a top unit, a third where-used of a leaf part, a
    third lookups of any unit, lot or part."""
    rng = random.Random(seed)
    out: list[Question] = []
    for i in range(count):
        unit = rng.randrange(fleet.units)
        product = fleet.product_of(unit)
        uid = f"unit:{fleet.top_part(product)}/{fleet.serial(unit)}"
        if i % 3 == 0:
            out.append(("trace", f"/trace/{uid}", lambda s, u=uid: trace(s, u)))
        elif i % 3 == 1:
            part = f"part:{fleet.sub_part(product, rng.choice(fleet.paths(3)))}"
            out.append(("where-used", f"/where-used/{part}", lambda s, p=part: where_used(s, p)))
        else:
            out.append(("entity", f"/entities/{uid}", lambda s, u=uid: get_entity(s, u)))
    return out


def example_questions(store: GraphStore) -> list[Question]:
    """The same mix on the example thread: traces of each top unit (one no unit contains,
    the pumps), where-used of each part, lookups of each unit, in turn."""

    def uids(cypher: str) -> list[str]:
        return [row["uid"] for row in store.read(cypher)]

    tops = uids(
        "MATCH (u:Unit) WHERE NOT (:Unit)-[:CONTAINS]->(u) RETURN u.uid AS uid ORDER BY uid"
    )
    parts = uids("MATCH (p:Part) RETURN p.uid AS uid ORDER BY uid")
    units = uids("MATCH (u:Unit) RETURN u.uid AS uid ORDER BY uid")
    out: list[Question] = []
    for i in range(3 * max(len(tops), len(parts), len(units))):
        if i % 3 == 0:
            uid = tops[i // 3 % len(tops)]
            out.append(("trace", f"/trace/{uid}", lambda s, u=uid: trace(s, u)))
        elif i % 3 == 1:
            part = parts[i // 3 % len(parts)]
            out.append(("where-used", f"/where-used/{part}", lambda s, p=part: where_used(s, p)))
        else:
            uid = units[i // 3 % len(units)]
            out.append(("entity", f"/entities/{uid}", lambda s, u=uid: get_entity(s, u)))
    return out


def baseline_tree(ref: str, scratch: Path) -> Path:
    """Thread's packages as git revision `ref` has them, unpacked under `scratch`."""
    target = scratch / "baseline"
    target.mkdir()
    tar = scratch / "baseline.tar"
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--output", str(tar), ref, *PACKAGES], check=True
    )
    subprocess.run(["tar", "-xf", str(tar), "-C", str(target)], check=True)
    return target


def serve(spec: str, port: int, code: Path | None) -> subprocess.Popen[bytes]:
    """`thread serve` on `port`, running this work tree's code, or the packages in `code`
    (first on the path, ahead of the editable install's finder)."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    # revisions before the one import namespace had the CLI as a top-level package
    old = code is not None and not (code / "thread" / "cli").exists()
    main = "cli.main" if old else "thread.cli.main"
    program = f"import sys; from {main} import run; sys.exit(run())"
    return subprocess.Popen(
        [sys.executable, "-c", program, "--store", spec, "serve", "--port", str(port)],
        stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env, cwd=code or ROOT,
    )  # fmt: skip


def wait_healthy(base: str) -> None:
    for _ in range(600):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server at {base} did not become healthy")


async def hammer(
    base: str, token: str, picks: list[Question], clients: int, seconds: float
) -> dict[str, Any]:
    """`clients` workers, each asking the next question until the time is up."""
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[int, int] = defaultdict(int)
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(offset: int, client: httpx.AsyncClient) -> None:
        i = offset
        while time.perf_counter() < deadline:
            kind, path, _ = picks[i % len(picks)]
            i += clients
            start = time.perf_counter()
            try:
                response = await client.get(base + path, headers=headers)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            latencies[kind].append((time.perf_counter() - start) * 1000)
            if status != 200:
                errors[status] += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        await asyncio.gather(*(worker(n, client) for n in range(clients)))
    return {
        "latencies": latencies,
        "errors": dict(errors),
        "elapsed": time.perf_counter() - started,
    }


def in_process(
    store: FalkorDBStore, picks: list[Question], per_kind: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    for kind, _, ask in picks:
        if len(times[kind]) >= per_kind:
            continue
        start = time.perf_counter()
        ask(store)
        times[kind].append((time.perf_counter() - start) * 1000)
    return times


def pct(values: list[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument(
        "--branching", type=int, default=2, help="BOM fan-out per level (the query bench uses 4)"
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--python-client", action="store_true", help="load with httpx even when wrk is installed"
    )
    parser.add_argument(
        "--example", action="store_true", help="the example thread instead of a generated fleet"
    )
    parser.add_argument("--only", choices=KINDS, help="ask only this kind of question")
    parser.add_argument(
        "--baseline", metavar="REF", help="also serve the code of this git revision, side by side"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="loads per server (the best is reported)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="thread-serve-bench-") as scratch:
        folder = Path(scratch) / "store"
        spec = f"embedded:{folder}"
        with open_store(spec) as store:
            assert isinstance(store, FalkorDBStore)
            start = time.perf_counter()
            if args.example:
                import_folder(store, EXAMPLE)
                picks = example_questions(store)
                what = "the example thread"
            else:
                fleet = query_bench.Fleet(args.units, products=100, branching=args.branching, lot_reach=100,
                                          work_orders=8, replaced=0.05, moved=0.10)  # fmt: skip
                query_bench.load(store, fleet)
                query_bench.settle(store)
                picks = questions(fleet, 3000)
                what = f"a fleet of {args.units:,} units"
            print(f"{what} loaded in {time.perf_counter() - start:.1f} s")
            if args.only:
                picks = [pick for pick in picks if pick[0] == args.only]
            _, token = TokenStore(tokens_file(StoreSpec("embedded", str(folder)))).create(
                "bench", "read", utc_now()
            )
            servers: dict[str, Path | None] = {"this work tree": None}
            if args.baseline:
                servers = {args.baseline: baseline_tree(args.baseline, Path(scratch)), **servers}
            wrk = shutil.which("wrk") if not args.python_client else None
            loads: dict[str, list[dict[str, Any]]] = defaultdict(list)
            single: dict[str, list[float]] = {}
            for round_ in range(args.rounds):
                for name, code in servers.items():
                    port = free_port()
                    server = serve(spec, port, code)
                    try:
                        base = f"http://127.0.0.1:{port}"
                        wait_healthy(base)
                        asyncio.run(hammer(base, token, picks[:60], 4, 2.0))  # warm-up
                        if wrk:
                            load = run_wrk(wrk, base, token, picks, args.clients, args.seconds)
                        else:
                            load = python_load(base, token, picks, args.clients, args.seconds)
                        loads[name].append(load)
                        if code is None and round_ == args.rounds - 1:
                            single = asyncio.run(hammer(base, token, picks, 1, 15.0))["latencies"]
                    finally:
                        server.terminate()
                        server.wait(timeout=120)
            local = in_process(store, picks, per_kind=100)

    mix = args.only or "the mix of " + ", ".join(KINDS)
    for name, runs in loads.items():
        load = max(runs, key=lambda run: run["requests"] / run["seconds"])
        rates = ", ".join(f"{run['requests'] / run['seconds']:,.0f}" for run in runs)
        print(f"{name}: load ({load['client']}, {mix}): {args.clients} clients for {load['seconds']:.1f} s, "
              f"{load['requests']:,} requests, {load['requests'] / load['seconds']:,.0f} requests/s "
              f"(best of {len(runs)}: {rates}), errors {load['errors']}")  # fmt: skip
        print(
            f"  latency under load: p50 {load['p50']:.1f} ms, p95 {load['p95']:.1f} ms, p99 {load['p99']:.1f} ms"
        )
    print(
        f"{'kind':<12}{'HTTP p50':>10}{'in-process p50':>16}{'limit 2x+5':>12}  ok   (one client at a time, this work tree)"
    )
    for kind in KINDS:
        if kind not in local:
            continue
        http_p50, own = statistics.median(single[kind]), statistics.median(local[kind])
        limit = 2 * own + 5
        print(
            f"{kind:<12}{http_p50:>10.1f}{own:>16.1f}{limit:>12.1f}  {'yes' if http_p50 <= limit else 'no'}"
        )
    print("targets: zero errors; HTTP p50 <= 2 x in-process p50 + 5 ms; >= 500 requests/s")


def python_load(
    base: str, token: str, picks: list[Question], clients: int, seconds: float
) -> dict[str, Any]:
    result = asyncio.run(hammer(base, token, picks, clients, seconds))
    times = [t for values in result["latencies"].values() for t in values]
    return {
        "client": "httpx in this process",
        "seconds": result["elapsed"],
        "requests": len(times),
        "errors": result["errors"] or 0,
        "p50": pct(times, 50),
        "p95": pct(times, 95),
        "p99": pct(times, 99),
    }


_WRK_SCRIPT = """
paths = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1], {["Authorization"] = "Bearer %s"})
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%f %%f %%f %%f\\n", summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3))
end
"""


def run_wrk(
    wrk: str, base: str, token: str, picks: list[Question], clients: int, seconds: float
) -> dict[str, Any]:
    """wrk with a script cycling through the same mix of questions."""
    paths = ", ".join(f'"{path}"' for _, path, _ in picks)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT % (paths, token))
    output = subprocess.run(
        [wrk, "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--timeout", "30s", "-s", script.name, base],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    Path(script.name).unlink()
    line = next(row for row in output.splitlines() if row.startswith("RESULT"))
    requests, status_errors, socket_errors, duration, p50, p95, p99 = line.split()[1:]
    return {
        "client": "wrk",
        "seconds": float(duration),
        "requests": int(requests),
        "errors": int(status_errors) + int(socket_errors),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
    }


if __name__ == "__main__":
    main()
