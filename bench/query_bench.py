"""Traceability query latency on a fleet graph of about 1,000,000 nodes (embedded store).

Generates a fleet in the shape of examples/pump-fleet, at scale:
- PLM: 100 product models, each a top part whose revision A has a BOM three levels deep
  (4 sub-assemblies of 4 sub-assemblies of 4 serialized leaf parts: HAS_COMPONENT lines
  with quantity and find number), each second-level assembly also takes a lot-tracked
  bearing part, the top a fastener kit (these 17 lot parts are common to every product);
  Part -HAS_REVISION-> PartRevision, a Document per product.
- ERP: 20 suppliers, 50 sites, lots of the lot parts (Lot -SUPPLIED_BY-> Supplier,
  -OF_REVISION-> PartRevision), each lot consumed by 100 consecutive builds, so that a lot
  reaches 1% of a 10,000-unit fleet; 10,000 top units (products built interleaved over
  four years) each with 84 serialized sub-units, every Unit -OF_REVISION-> its revision,
  top units -LOCATED_IN {valid_from}-> Site (10% moved: a closed interval and a new one).
- Genealogy: Unit -CONTAINS {valid_from, valid_to, quantity, find_number, installed_by,
  removed_by}-> child Unit or Lot; 5% of the top units had a replacement: a leaf serial
  and a bearing lot each removed (closed interval) and a new one installed.
- Maintenance: 8 MaintenanceEvent -PERFORMED_ON-> each top unit, replacement work orders
  -REMOVED/-INSTALLED-> what they took out and put in, -ADDRESSES-> FailureMode.
- Sensors: one Sensor -OBSERVES-> each top unit, -HAS_CHANNEL-> 4 Channels with summaries.

It is loaded with ThreadService.import_records, one import per source (PLM, ERP, genealogy,
maintenance, sensors), records built with thread.records.node/rel: the bulk path real
imports take, so the graph carries what an imported graph carries (provenance on every
node and relationship, ImportRun nodes) and its load time and memory are those a user
would see. Then it prints the load time, the embedded server's memory (INFO memory) and,
after a warm-up, p50/p95 over repeated runs (each run a different seeded pick) of:
- thread.trace.trace of a top unit (every section, the structure to full depth);
- thread.recall.recall of a bearing lot (reaches 1% of the top units, through 3 levels);
- thread.where_used.where_used of a leaf part (one product's serialized leaf);
- thread.queries.as_of.as_of of a top unit on 2025-01-01.

Targets (issue 5), embedded store: trace p50 < 50 ms, recall p50 < 200 ms, where-used
p50 < 50 ms, as-of p50 < 50 ms.

    python bench/query_bench.py [--units 10000] [--products 100] [--runs 50]
    python bench/query_bench.py --units 500 --products 10 --lot-reach 5 --runs 20  # quick
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from thread import ontology
from thread.ontology import Ontology
from thread.pipeline.write import Source, ThreadService
from thread.queries.as_of import as_of
from thread.queries.recall import recall
from thread.queries.trace import trace
from thread.queries.where_used import where_used
from thread.records import Record, node, rel
from thread.stores import open_store
from thread.stores.falkordb_store import FalkorDBStore

START = date(2021, 1, 4)
BUILD_SPAN_DAYS = 4 * 365
END = date(2025, 6, 30)
AS_OF = "2025-01-01"
SUPPLIERS = 20
SITES = 50
FAILURE_MODES = ("BRG-WEAR", "SEAL-LEAK", "MOTOR-OVERHEAT", "IMPELLER-EROSION", "SENSOR-FAULT")
CHANNELS = (("vibration", "mm/s"), ("temperature", "degC"), ("current", "A"), ("flow", "m3/h"))
FASTENERS = "FST-1"


@dataclass(frozen=True)
class Fleet:
    """The sizes of the generated fleet; everything else follows from them and the seed."""

    units: int
    products: int
    branching: int
    lot_reach: int
    work_orders: int
    replaced: float
    moved: float
    seed: int = 42

    def paths(self, level: int) -> list[str]:
        """Positions in the BOM at `level` (1..3): '1', '12', '123', …"""
        digits = [str(d) for d in range(1, self.branching + 1)]
        found = [""]
        for _ in range(level):
            found = [p + d for p in found for d in digits]
        return found

    def top_part(self, product: int) -> str:
        return f"X{product:03d}"

    def sub_part(self, product: int, path: str) -> str:
        return f"X{product:03d}-{path}"

    def bearing_part(self, path: str) -> str:
        return f"BRG-{path}"

    def product_of(self, unit: int) -> int:
        return unit % self.products  # products are built interleaved

    def build_day(self, unit: int) -> date:
        return START + timedelta(days=unit * BUILD_SPAN_DAYS / self.units)

    def lot_count(self) -> int:
        return -(-self.units // self.lot_reach)

    def lot_id(self, part: str, index: int) -> str:
        return f"{part}-L{index:04d}"

    def serial(self, unit: int, path: str = "") -> str:
        return f"SN-{unit:06d}-{path}" if path else f"SN-{unit:06d}"

    def replacements(self) -> dict[int, tuple[date, str, str, int]]:
        """Top units with a replacement: (date, leaf path, bearing path, new lot index)."""
        rng = random.Random(self.seed)
        chosen = rng.sample(range(self.units), int(self.units * self.replaced))
        out = {}
        for unit in sorted(chosen):
            built = self.build_day(unit)
            day = built + timedelta(days=rng.randint(60, max(61, (END - built).days)))
            later = int((day - START).days * self.units / BUILD_SPAN_DAYS)
            new_lot = min(
                max(later // self.lot_reach, unit // self.lot_reach + 1), self.lot_count() - 1
            )
            out[unit] = (day, rng.choice(self.paths(3)), rng.choice(self.paths(2)), new_lot)
        return out

    def moves(self) -> dict[int, tuple[date, int]]:
        """Top units moved to another site: (date, new site)."""
        rng = random.Random(self.seed + 1)
        chosen = rng.sample(range(self.units), int(self.units * self.moved))
        return {
            unit: (
                self.build_day(unit) + timedelta(days=rng.randint(100, 600)),
                rng.randrange(SITES),
            )
            for unit in chosen
        }


# ----------------------------------------------------------------------------- records


def plm_records(onto: Ontology, fleet: Fleet) -> Iterator[Record]:
    def part(pn: str, kind: str) -> Iterator[Record]:
        make_buy = "buy" if kind in ("component", "lot") else "make"
        p = node(
            onto,
            "Part",
            {
                "part_number": pn,
                "name": f"part {pn}",
                "type": kind,
                "uom": "EA",
                "make_buy": make_buy,
            },
        )
        r = node(
            onto,
            "PartRevision",
            {
                "part_number": pn,
                "revision": "A",
                "status": "released",
                "release_date": "2020-06-01",
            },
        )
        yield p
        yield r
        yield rel("HAS_REVISION", p, r)

    def line(parent: str, child: str, find: int, quantity: int = 1) -> Record:
        return rel(
            "HAS_COMPONENT",
            ("PartRevision", onto.uid("PartRevision", parent, "A")),
            ("Part", onto.uid("Part", child)),
            {"quantity": float(quantity), "uom": "EA", "find_number": str(find)},
            key=str(find),
        )

    yield from part(FASTENERS, "lot")
    for path in fleet.paths(2):
        yield from part(fleet.bearing_part(path), "lot")
    for product in range(fleet.products):
        top = fleet.top_part(product)
        yield from part(top, "assembly")
        document = node(
            onto,
            "Document",
            {
                "doc_number": f"DWG-{top}",
                "title": f"{top} general arrangement",
                "doc_revision": "1",
            },
        )
        yield document
        yield rel("DOCUMENTED_BY", ("PartRevision", onto.uid("PartRevision", top, "A")), document)
        yield line(top, FASTENERS, 90, 8)
        for level in (1, 2, 3):
            for path in fleet.paths(level):
                pn = fleet.sub_part(product, path)
                yield from part(pn, "assembly" if level < 3 else "component")
                parent = top if level == 1 else fleet.sub_part(product, path[:-1])
                yield line(parent, pn, int(path[-1]) * 10)
                if level == 2:
                    yield line(pn, fleet.bearing_part(path), 90, 2)


def erp_records(onto: Ontology, fleet: Fleet) -> Iterator[Record]:
    suppliers = [
        node(
            onto,
            "Supplier",
            {
                "supplier_id": f"SUP-{k:02d}",
                "name": f"Supplier {k}",
                "country": "DE",
                "approved": True,
            },
        )
        for k in range(SUPPLIERS)
    ]
    yield from suppliers
    sites = [
        node(onto, "Site", {"code": f"SITE-{k:02d}", "name": f"Plant {k}"}) for k in range(SITES)
    ]
    yield from sites
    for part in (FASTENERS, *(fleet.bearing_part(p) for p in fleet.paths(2))):
        revision = ("PartRevision", onto.uid("PartRevision", part, "A"))
        for index in range(fleet.lot_count()):
            received = fleet.build_day(index * fleet.lot_reach) - timedelta(days=20)
            lot = node(
                onto,
                "Lot",
                {
                    "lot_id": fleet.lot_id(part, index),
                    "part_number": part,
                    "revision": "A",
                    "supplier_id": suppliers[index % SUPPLIERS].props["supplier_id"],
                    "received_date": received.isoformat(),
                    "quantity": float(fleet.lot_reach * 2),
                    "status": "accepted",
                },
            )
            yield lot
            yield rel("OF_REVISION", lot, revision)
            yield rel("SUPPLIED_BY", lot, suppliers[index % SUPPLIERS])
    moves = fleet.moves()
    replacements = fleet.replacements()
    for unit in range(fleet.units):
        product, built = fleet.product_of(unit), fleet.build_day(unit)
        installed = (built + timedelta(days=10)).isoformat()
        site = sites[unit % SITES]
        top = fleet.top_part(product)
        pump = node(
            onto,
            "Unit",
            {
                "part_number": top,
                "serial": fleet.serial(unit),
                "revision": "A",
                "build_date": built.isoformat(),
                "install_date": installed,
                "site": site.props["code"],
                "status": "in_service",
            },
        )
        yield pump
        yield rel("OF_REVISION", pump, ("PartRevision", onto.uid("PartRevision", top, "A")))
        if unit in moves:
            day, other = moves[unit]
            moved = day.isoformat()
            yield rel(
                "LOCATED_IN",
                pump,
                site,
                {"valid_from": installed, "valid_to": moved},
                key=installed,
            )
            yield rel("LOCATED_IN", pump, sites[other], {"valid_from": moved}, key=moved)
        else:
            yield rel("LOCATED_IN", pump, site, {"valid_from": installed}, key=installed)
        sub_built = (built - timedelta(days=7)).isoformat()
        leaves = [(path, "") for level in (1, 2, 3) for path in fleet.paths(level)]
        if unit in replacements:
            leaves.append((replacements[unit][1], "-R1"))
        for path, suffix in leaves:
            pn = fleet.sub_part(product, path)
            sub = node(
                onto,
                "Unit",
                {
                    "part_number": pn,
                    "serial": fleet.serial(unit, path) + suffix,
                    "revision": "A",
                    "build_date": sub_built,
                    "status": "in_service",
                },
            )
            yield sub
            yield rel("OF_REVISION", sub, ("PartRevision", onto.uid("PartRevision", pn, "A")))


def contains(
    parent: str,
    child: tuple[str, str],
    find: str,
    since: str,
    quantity: float,
    swap: tuple[str, tuple[str, str], str] | None,
) -> Iterator[Record]:
    """Parent CONTAINS child from `since`; with `swap` (date, replacement, work order),
    that interval is closed on the date and the replacement's opens."""
    props: dict[str, Any] = {"valid_from": since, "quantity": quantity, "find_number": find}
    if swap is None:
        yield rel("CONTAINS", ("Unit", parent), child, props, key=since)
        return
    day, replacement, wo = swap
    closed = {**props, "valid_to": day, "removed_by": wo}
    opened = {**props, "valid_from": day, "installed_by": wo}
    yield rel("CONTAINS", ("Unit", parent), child, closed, key=since)
    yield rel("CONTAINS", ("Unit", parent), replacement, opened, key=day)


def genealogy_records(onto: Ontology, fleet: Fleet) -> Iterator[Record]:
    replacements = fleet.replacements()
    for unit in range(fleet.units):
        product, built = fleet.product_of(unit), fleet.build_day(unit)
        day, sub_day = built.isoformat(), (built - timedelta(days=7)).isoformat()
        lot_index = unit // fleet.lot_reach
        uids = {"": onto.uid("Unit", fleet.top_part(product), fleet.serial(unit))}
        for level in (1, 2, 3):
            for path in fleet.paths(level):
                pn = fleet.sub_part(product, path)
                uids[path] = onto.uid("Unit", pn, fleet.serial(unit, path))
        # what this unit's replacement work order swapped: removed uid -> (date, installed, wo)
        swaps: dict[str, tuple[str, tuple[str, str], str]] = {}
        if unit in replacements:
            when, leaf, bearing, new_lot = replacements[unit]
            wo, swap_day = f"WO-R{unit:06d}", when.isoformat()
            leaf_pn = fleet.sub_part(product, leaf)
            new_leaf = onto.uid("Unit", leaf_pn, fleet.serial(unit, leaf) + "-R1")
            swaps[uids[leaf]] = (swap_day, ("Unit", new_leaf), wo)
            part = fleet.bearing_part(bearing)
            old = onto.uid("Lot", fleet.lot_id(part, lot_index))
            swaps[old] = (swap_day, ("Lot", onto.uid("Lot", fleet.lot_id(part, new_lot))), wo)

        fasteners = onto.uid("Lot", fleet.lot_id(FASTENERS, lot_index))
        yield from contains(uids[""], ("Lot", fasteners), "90", day, 8.0, None)
        for level in (1, 2, 3):
            for path in fleet.paths(level):
                since = day if level == 1 else sub_day
                find = str(int(path[-1]) * 10)
                child = uids[path]
                yield from contains(
                    uids[path[:-1]], ("Unit", child), find, since, 1.0, swaps.get(child)
                )
                if level == 2:
                    lot = onto.uid("Lot", fleet.lot_id(fleet.bearing_part(path), lot_index))
                    yield from contains(child, ("Lot", lot), "90", sub_day, 2.0, swaps.get(lot))


def maintenance_records(onto: Ontology, fleet: Fleet) -> Iterator[Record]:
    modes = [node(onto, "FailureMode", {"code": code}) for code in FAILURE_MODES]
    yield from modes
    replacements = fleet.replacements()
    for unit in range(fleet.units):
        product, built = fleet.product_of(unit), fleet.build_day(unit)
        pump = ("Unit", onto.uid("Unit", fleet.top_part(product), fleet.serial(unit)))
        for k in range(fleet.work_orders):
            opened = built + timedelta(days=180 * (k + 1))
            event = node(
                onto,
                "MaintenanceEvent",
                {
                    "work_order": f"WO-{unit:06d}-{k}",
                    "type": "preventive",
                    "status": "closed",
                    "opened": f"{opened}T08:00:00Z",
                    "closed": f"{opened}T16:00:00Z",
                    "component": fleet.top_part(product),
                    "description": "Inspection: alignment, vibration, seals",
                    "labour_hours": 3.0,
                },
            )
            yield event
            yield rel("PERFORMED_ON", event, pump)
        if unit in replacements:
            day, leaf, bearing, new_lot = replacements[unit]
            wo = f"WO-R{unit:06d}"
            event = node(
                onto,
                "MaintenanceEvent",
                {
                    "work_order": wo,
                    "type": "corrective",
                    "status": "closed",
                    "opened": f"{day}T08:00:00Z",
                    "closed": f"{day}T16:00:00Z",
                    "component": fleet.bearing_part(bearing),
                    "failure_mode": "BRG-WEAR",
                    "description": "High vibration; bearings and one part replaced",
                    "labour_hours": 6.5,
                },
            )
            yield event
            yield rel("PERFORMED_ON", event, pump)
            yield rel("ADDRESSES", event, modes[0])
            leaf_pn = fleet.sub_part(product, leaf)
            part = fleet.bearing_part(bearing)
            leaf_parent = onto.uid(
                "Unit", fleet.sub_part(product, leaf[:-1]), fleet.serial(unit, leaf[:-1])
            )
            lot_parent = onto.uid(
                "Unit", fleet.sub_part(product, bearing), fleet.serial(unit, bearing)
            )
            for kind, target, parent in (
                (
                    "REMOVED",
                    ("Unit", onto.uid("Unit", leaf_pn, fleet.serial(unit, leaf))),
                    leaf_parent,
                ),
                (
                    "INSTALLED",
                    ("Unit", onto.uid("Unit", leaf_pn, fleet.serial(unit, leaf) + "-R1")),
                    leaf_parent,
                ),
                (
                    "REMOVED",
                    ("Lot", onto.uid("Lot", fleet.lot_id(part, unit // fleet.lot_reach))),
                    lot_parent,
                ),
                ("INSTALLED", ("Lot", onto.uid("Lot", fleet.lot_id(part, new_lot))), lot_parent),
            ):
                side = "from_unit" if kind == "REMOVED" else "into_unit"
                yield rel(kind, event, target, {"date": day.isoformat(), side: parent})


def sensor_records(onto: Ontology, fleet: Fleet) -> Iterator[Record]:
    rng = random.Random(fleet.seed + 2)
    for unit in range(fleet.units):
        product, built = fleet.product_of(unit), fleet.build_day(unit)
        serial = fleet.serial(unit)
        sensor = node(
            onto, "Sensor", {"sensor_id": f"PKG-{serial}", "type": "pump monitoring package"}
        )
        yield sensor
        yield rel("OBSERVES", sensor, ("Unit", onto.uid("Unit", fleet.top_part(product), serial)))
        for name, uom in CHANNELS:
            mean = rng.uniform(1, 100)
            channel = node(
                onto,
                "Channel",
                {
                    "sensor_id": f"PKG-{serial}",
                    "channel": name,
                    "quantity": name,
                    "unit_of_measure": uom,
                    "count": 5000,
                    "first": f"{built}T12:00:00Z",
                    "last": "2025-06-30T12:00:00Z",
                    "min": mean * 0.8,
                    "max": mean * 1.2,
                    "mean": mean,
                    "last_value": mean,
                    "constant": False,
                    "data_path": f"telemetry/{name}",
                },
            )
            yield channel
            yield rel("HAS_CHANNEL", sensor, channel)


# ----------------------------------------------------------------------------- measuring


def load(store: FalkorDBStore, fleet: Fleet) -> list[tuple[str, int, int, float]]:
    """Import each source; (source, nodes, relationships, seconds) of each."""
    service = ThreadService(store)
    out = []
    for name, records in (
        ("plm", plm_records),
        ("erp", erp_records),
        ("genealogy", genealogy_records),
        ("maintenance", maintenance_records),
        ("sensors", sensor_records),
    ):
        start = time.perf_counter()
        report = service.import_records(records(store.ontology, fleet), Source("bench", name))
        seconds = time.perf_counter() - start
        out.append((name, report.nodes.created, report.relationships.created, seconds))
    return out


def store_info(store: FalkorDBStore, section: str) -> dict[str, Any]:
    """A section of the embedded server's INFO (memory, persistence, …)."""
    import redis

    client = redis.Redis(unix_socket_path=str(store.server.socket_path))
    try:
        info: dict[str, Any] = client.info(section)
    finally:
        client.close()
    return info


def settle(store: FalkorDBStore, timeout_s: float = 600.0) -> float:
    """Wait until the server has no append-only-file rewrite running or scheduled (a
    rewrite forks and takes a core, which would show up in the latencies); seconds waited."""
    import redis

    client = redis.Redis(unix_socket_path=str(store.server.socket_path))
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < timeout_s:
            info = client.info("persistence")
            if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                break
            time.sleep(0.1)
    finally:
        client.close()
    return time.perf_counter() - start


def measure(
    work: Callable[[Any], Any],
    size: Callable[[Any], tuple[int, ...]],
    picks: list[Any],
    warmup: int,
) -> tuple[list[float], list[tuple[int, ...]]]:
    """Milliseconds of `work(pick)` for each pick, after `warmup` unmeasured runs, and the
    `size` of each answer (answers are not kept: a pile of them would slow Python's
    garbage collector down, and the latencies with it)."""
    for pick in picks[:warmup]:
        work(pick)
    times, sizes = [], []
    for pick in picks:
        start = time.perf_counter()
        answer = work(pick)
        times.append((time.perf_counter() - start) * 1000)
        sizes.append(size(answer))
    return times, sizes


def items(tree: list[Any]) -> int:
    """Items in a structure (configuration.Item trees), at every level."""
    return sum(1 + items(item.children) for item in tree)


def percentiles(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), statistics.quantiles(times, n=20, method="inclusive")[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=10_000, help="top-level units")
    parser.add_argument("--products", type=int, default=100, help="product models")
    parser.add_argument(
        "--branching", type=int, default=4, choices=range(2, 10), help="BOM fan-out per level"
    )
    parser.add_argument("--lot-reach", type=int, default=100, help="top units per lot")
    parser.add_argument("--work-orders", type=int, default=8, help="per top unit")
    parser.add_argument("--replaced", type=float, default=0.05, help="share with a replacement")
    parser.add_argument("--moved", type=float, default=0.10, help="share moved to another site")
    parser.add_argument("--runs", type=int, default=50, help="measured runs per query")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured runs first")
    args = parser.parse_args()
    fleet = Fleet(
        args.units,
        args.products,
        args.branching,
        args.lot_reach,
        args.work_orders,
        args.replaced,
        args.moved,
    )
    onto = ontology.load()

    rng = random.Random(7)
    pumps = [rng.randrange(fleet.units) for _ in range(args.runs)]
    pump_uids = [
        onto.uid("Unit", fleet.top_part(fleet.product_of(u)), fleet.serial(u)) for u in pumps
    ]
    bearings = fleet.paths(2)
    full_lots = max(1, fleet.units // fleet.lot_reach)  # lots that reach lot_reach units
    lots = [
        onto.uid(
            "Lot", fleet.lot_id(fleet.bearing_part(rng.choice(bearings)), rng.randrange(full_lots))
        )
        for _ in range(args.runs)
    ]
    leaves = [
        onto.uid("Part", fleet.sub_part(rng.randrange(fleet.products), rng.choice(fleet.paths(3))))
        for _ in range(args.runs)
    ]
    top_uids = {
        onto.uid("Unit", fleet.top_part(fleet.product_of(u)), fleet.serial(u))
        for u in range(fleet.units)
    }

    with (
        tempfile.TemporaryDirectory(prefix="thread-query-bench-") as folder,
        open_store(f"embedded:{Path(folder) / 'fleet'}") as store,
    ):
        assert isinstance(store, FalkorDBStore)
        empty = store_info(store, "memory")["used_memory"]
        loaded = load(store, fleet)
        waited = settle(store)
        info = store_info(store, "memory")
        rewrites = store_info(store, "persistence").get("aof_rewrites", "?")
        nodes = store.read("MATCH (n) RETURN count(n) AS c")[0]["c"]
        rels = store.read("MATCH ()-[r]->() RETURN count(r) AS c")[0]["c"]

        traces, traced = measure(
            lambda uid: trace(store, uid),
            lambda t: (items(t.sections["structure"]),),
            pump_uids,
            args.warmup,
        )
        recalls, recalled = measure(
            lambda uid: recall(store, uid),
            lambda r: (len(set(r.units) & top_uids), len(r.exposures)),
            lots,
            args.warmup,
        )
        used_times, used = measure(
            lambda uid: where_used(store, uid),
            lambda w: (len(w.designed), len({e.unit for e in w.built} & top_uids), len(w.built)),
            leaves,
            args.warmup,
        )
        as_ofs, configs = measure(
            lambda uid: as_of(store, uid, AS_OF),
            lambda c: (items(c.items),),
            pump_uids,
            args.warmup,
        )

    def median(sizes: list[tuple[int, ...]], i: int) -> int:
        return int(statistics.median(size[i] for size in sizes))

    print(f"{'source':<14}{'nodes':>11}{'rels':>11}{'seconds':>10}{'rows/s':>10}")
    for name, n, r, seconds in loaded:
        print(f"{name:<14}{n:>11,}{r:>11,}{seconds:>10.1f}{(n + r) / seconds:>10,.0f}")
    load_s = sum(row[3] for row in loaded)
    created = sum(row[1] + row[2] for row in loaded)
    print(
        f"{'load, total':<14}{sum(row[1] for row in loaded):>11,}{sum(row[2] for row in loaded):>11,}"
        f"{load_s:>10.1f}{created / load_s:>10,.0f}"
    )
    print(f"graph: {nodes:,} nodes, {rels:,} relationships")
    print(
        f"server memory: used_memory {info['used_memory'] / 2**20:,.0f} MiB "
        f"(empty store {empty / 2**20:,.1f} MiB), used_memory_rss {info['used_memory_rss'] / 2**20:,.0f} MiB, "
        f"peak {info['used_memory_peak'] / 2**20:,.0f} MiB"
    )
    print(
        f"append-only file rewrites during the load: {rewrites}; "
        f"waited {waited:.1f} s for the last one to end before measuring"
    )
    print()
    reach = {
        "trace": f"{median(traced, 0)} items in the structure",
        "recall": f"{median(recalled, 0)} top units, {median(recalled, 1)} paths",
        "where-used": f"{median(used, 0)} assemblies, {median(used, 1)} top units, {median(used, 2)} paths",
        "as-of": f"{median(configs, 0)} items",
    }
    print(f"{'query':<12}{'p50 ms':>9}{'p95 ms':>9}{'target p50':>12}   median answer")
    for name, times, target in (
        ("trace", traces, 50),
        ("recall", recalls, 200),
        ("where-used", used_times, 50),
        ("as-of", as_ofs, 50),
    ):
        p50, p95 = percentiles(times)
        verdict = "ok" if p50 < target else "MISSED"
        print(f"{name:<12}{p50:>9.1f}{p95:>9.1f}{'< ' + str(target):>9} {verdict:<6} {reach[name]}")
    print(f"({args.runs} runs each after {args.warmup} warm-up runs, {fleet.units:,} top units)")


if __name__ == "__main__":
    main()
