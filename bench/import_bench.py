"""Import throughput of Thread's importers against raw ceilings, measured side by side.

In one run:
- BOM: a generated BOM CSV of 100,000 lines (the columns of importers/mappings/bom.toml)
  imported through Thread, `thread.pipeline.imports.import_file(store, "bom", path)` (CSV parsing,
  row validation, reference checks, planning, provenance included), against the raw store
  ceiling: the same relationships (the importer's own rows, built before the clock starts)
  written straight through the falkordb client with
  `UNWIND $rows ... MERGE (a)-[r:HAS_COMPONENT {_key: row.key}]->(b) SET r += row.props`
  in batches of 5,000. Each side gets a fresh embedded store holding the same parts and
  revisions, imported first and not timed; each keeps its best of three interleaved rounds.
- Telemetry: a long-form CSV (sensor_id, channel, timestamp, value) of 1,000,000 samples
  (50 sensors x 4 channels x 5,000 timestamps) imported through Thread,
  `import_file(store, "telemetry", path)` with the default mapping (Parquet per channel,
  Channel summaries in the graph), against a bare `pyarrow.csv.read_csv` of the same file.
  Each side runs in a fresh Python process of its own and is timed twice: the first run in
  the process (what one `thread import` command sees, allocator and caches cold) and a
  warm one (Thread: the same ingest into a second fresh store; raw: the median of three
  more reads). The page cache holds the file for both. The Thread process also reports
  its peak memory over the first ingest: the RSS high-water mark of that process (VmHWM,
  which a fresh exec starts from zero; the embedded server is a process of its own and is
  not counted).

Targets (issue 3): BOM Thread >= 0.7 x raw; telemetry Thread >= 0.5 x raw read; peak
memory of the telemetry ingest < 1 GB.

    python bench/import_bench.py [--bom-lines 100000] [--sensors 50] [--channels 4]
                                 [--timestamps 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from thread.importers import get_importer
from thread.importers.base import ImportContext
from thread.pipeline.imports import import_file
from thread.records import RelRecord
from thread.stores import open_store
from thread.stores.falkordb_store import FalkorDBStore

BATCH = 5000
LINES_PER_ASSEMBLY = 20
COMPONENTS_PER_ASSEMBLY = 4  # component parts in the catalogue per assembly
RAW_BOM = (
    "UNWIND $rows AS row MATCH (a:Entity {uid: row.src}) MATCH (b:Entity {uid: row.dst}) "
    "MERGE (a)-[r:HAS_COMPONENT {_key: row.key}]->(b) SET r += row.props"
)
CHANNELS = ("vibration", "temperature", "current", "flow")


# ----------------------------------------------------------------------------- BOM


def write_plm(folder: Path, lines: int) -> tuple[Path, Path, Path]:
    """parts.csv, revisions.csv and bom.csv: assemblies of 20 lines each, over a
    catalogue of components; every part has revision A."""
    rng = random.Random(11)
    assemblies = -(-lines // LINES_PER_ASSEMBLY)
    components = assemblies * COMPONENTS_PER_ASSEMBLY
    numbers = [f"A-{i:06d}" for i in range(assemblies)] + [f"C-{i:06d}" for i in range(components)]
    parts, revisions, bom = folder / "parts.csv", folder / "revisions.csv", folder / "bom.csv"
    with open(parts, "w", encoding="utf-8") as handle:
        handle.write("part_number,name,type,uom,make_buy,description\n")
        for pn in numbers:
            kind, make_buy = ("assembly", "make") if pn[0] == "A" else ("component", "buy")
            handle.write(f"{pn},part {pn},{kind},EA,{make_buy},\n")
    with open(revisions, "w", encoding="utf-8") as handle:
        handle.write("part_number,revision,status,release_date\n")
        for pn in numbers:
            handle.write(f"{pn},A,released,2024-01-15\n")
    with open(bom, "w", encoding="utf-8") as handle:
        handle.write(
            "parent_part_number,parent_revision,child_part_number,quantity,uom,"
            "find_number,effective_from,effective_to\n"
        )
        for i in range(lines):
            parent = f"A-{i // LINES_PER_ASSEMBLY:06d}"
            find = (i % LINES_PER_ASSEMBLY + 1) * 10
            child = f"C-{rng.randrange(components):06d}"
            effective_from = "2024-01-15" if i % 3 else ""
            effective_to = "2026-12-31" if i % 7 == 0 else ""
            handle.write(
                f"{parent},A,{child},{rng.randint(1, 8)},EA,{find},{effective_from},{effective_to}\n"
            )
    return parts, revisions, bom


def bom_rows(store: FalkorDBStore, path: Path) -> list[dict[str, Any]]:
    """The relationships the BOM importer yields for `path`, as raw UNWIND rows."""
    context = ImportContext(onto=store.ontology, display=str(path))
    rows = []
    for record in get_importer("bom").records(path, context):
        assert isinstance(record, RelRecord), record
        rows.append({"src": record.src, "dst": record.dst, "key": record.key, "props": dict(record.props)})  # fmt: skip
    return rows


def bom_thread(folder: Path, parts: Path, revisions: Path, bom: Path) -> tuple[int, float]:
    with open_store(f"embedded:{folder}") as store:
        import_file(store, "parts", parts)
        import_file(store, "revisions", revisions)
        start = time.perf_counter()
        report = import_file(store, "bom", bom)
        seconds = time.perf_counter() - start
        assert report.relationships.created > 0, report
        return report.relationships.created, seconds


def bom_raw(folder: Path, parts: Path, revisions: Path, bom: Path) -> tuple[int, float]:
    with open_store(f"embedded:{folder}") as store:
        assert isinstance(store, FalkorDBStore)
        import_file(store, "parts", parts)
        import_file(store, "revisions", revisions)
        rows = bom_rows(store, bom)
        graph = store._graph
        start = time.perf_counter()
        for first in range(0, len(rows), BATCH):
            graph.query(RAW_BOM, {"rows": rows[first : first + BATCH]})
        seconds = time.perf_counter() - start
        count = store.read("MATCH ()-[r:HAS_COMPONENT]->() RETURN count(r) AS c")[0]["c"]
        assert count == len(rows), (count, len(rows))
        return len(rows), seconds


# ----------------------------------------------------------------------------- telemetry


def write_telemetry(path: Path, sensors: int, channels: int, timestamps: int) -> int:
    """Long-form samples, sensor by sensor, then by time, then by channel (like
    examples/pump-fleet/sensors/telemetry.csv)."""
    rng = random.Random(5)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    stamps = [
        (start + timedelta(minutes=10 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for i in range(timestamps)
    ]
    names = [CHANNELS[c] if c < len(CHANNELS) else f"ch{c}" for c in range(channels)]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("sensor_id,channel,timestamp,value\n")
        for s in range(sensors):
            sensor = f"PKG-SN-{s:04d}"
            base = [rng.uniform(1.0, 100.0) for _ in names]
            lines = []
            for stamp in stamps:
                for name, level in zip(names, base, strict=True):
                    lines.append(f"{sensor},{name},{stamp},{level + rng.gauss(0, 1):.3f}\n")
            handle.write("".join(lines))
    return sensors * channels * timestamps


def _status_kb(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def raw_child(csv_path: Path) -> dict[str, Any]:
    """In a fresh process: the first read (cold), then the median of three more (warm)."""
    import pyarrow.csv as pacsv

    times = []
    for _ in range(4):
        start = time.perf_counter()
        table = pacsv.read_csv(csv_path)
        times.append(time.perf_counter() - start)
        assert table.num_rows > 0
        del table
    return {"cold": times[0], "warm": statistics.median(times[1:])}


def thread_child(csv_path: Path, folder: Path) -> dict[str, Any]:
    """In a fresh process: the ingest into a fresh store (cold, with its peak memory),
    then the same ingest again into another fresh store (warm)."""
    result: dict[str, Any] = {}
    for run in ("cold", "warm"):
        with open_store(f"embedded:{folder / run}") as store:
            if run == "cold":
                result["rss_before_kb"] = _status_kb("VmRSS")
            start = time.perf_counter()
            report = import_file(store, "telemetry", csv_path)
            result[run] = time.perf_counter() - start
            if run == "cold":
                result["peak_kb"] = _status_kb("VmHWM")
            result["samples"] = report.samples
            result["channels"] = store.read("MATCH (c:Channel) RETURN count(c) AS c")[0]["c"]
    return result


def in_child(*args: str) -> dict[str, Any]:
    """Run this script's `--child ARGS` in a fresh Python process; its JSON answer."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{done.stderr}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bom-lines", type=int, default=100_000)
    parser.add_argument("--sensors", type=int, default=50)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--timestamps", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3, help="BOM: each side's best of this many")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *paths = args.child
        if kind == "raw":
            print(json.dumps(raw_child(Path(paths[0]))))
        else:
            print(json.dumps(thread_child(Path(paths[0]), Path(paths[1]))))
        return

    with tempfile.TemporaryDirectory(prefix="thread-import-bench-") as temp:
        folder = Path(temp)
        csv_path = folder / "telemetry.csv"
        samples = write_telemetry(csv_path, args.sensors, args.channels, args.timestamps)
        size_mb = csv_path.stat().st_size / 1e6
        raw = in_child("raw", str(csv_path))
        tele = in_child("thread", str(csv_path), str(folder / "telemetry-stores"))
        assert tele["samples"] == samples, (tele, samples)
        assert tele["channels"] == args.sensors * args.channels, tele

        parts, revisions, bom = write_plm(folder, args.bom_lines)
        # each side's best of interleaved rounds, so the machine's drifting noise does
        # not favour whichever side ran first
        thread_s = raw_bom_s = float("inf")
        for round_no in range(args.rounds):
            thread_rows, seconds = bom_thread(
                folder / f"bom-thread-{round_no}", parts, revisions, bom
            )
            thread_s = min(thread_s, seconds)
            raw_rows, seconds = bom_raw(folder / f"bom-raw-{round_no}", parts, revisions, bom)
            raw_bom_s = min(raw_bom_s, seconds)
            assert thread_rows == raw_rows == args.bom_lines, (thread_rows, raw_rows)

    print(f"{'path':<52}{'rows':>11}{'seconds':>9}{'rows/s':>13}")
    for name, rows, seconds in (
        ("BOM, Thread import_file", thread_rows, thread_s),
        ("BOM, raw UNWIND MERGE (batches of 5000)", raw_rows, raw_bom_s),
        ("telemetry, Thread import_file, first in process", samples, tele["cold"]),
        ("telemetry, raw read_csv, first in process", samples, raw["cold"]),
        ("telemetry, Thread import_file, second in process", samples, tele["warm"]),
        ("telemetry, raw read_csv, median of 3 more", samples, raw["warm"]),
    ):
        print(f"{name:<52}{rows:>11,}{seconds:>9.3f}{rows / seconds:>13,.0f}")
    print()
    print(f"telemetry file: {size_mb:.1f} MB, {args.sensors * args.channels} channels")
    print(f"BOM Thread / raw:                  {raw_bom_s / thread_s:.2f}x   (target >= 0.7x)")
    print(
        f"telemetry Thread / raw, first:     {raw['cold'] / tele['cold']:.2f}x   (target >= 0.5x)"
    )
    print(
        f"telemetry Thread / raw, warm:      {raw['warm'] / tele['warm']:.2f}x   (target >= 0.5x)"
    )
    print(
        f"telemetry ingest peak RSS:         {tele['peak_kb'] / 1024:.0f} MB "
        f"(process before the import: {tele['rss_before_kb'] / 1024:.0f} MB)   (target < 1024 MB)"
    )


if __name__ == "__main__":
    main()
