"""Twins derived from the thread: an instance twin per unit, an aggregate twin per revision
that has units, with the fleet's counts.

Twins are derived data, so they are rebuilt from the units, revisions and work orders in
the graph after each import rather than imported; going through ThreadService keeps them
idempotent (unchanged twins are not rewritten) and recorded as an ImportRun of the source
"twins".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from thread.clock import utc_now
from thread.pipeline.write import ImportReport, ProgressCallback, Source, ThreadService
from thread.records import NodeRecord, Record, node, rel
from thread.stores.base import GraphStore

__all__ = ["refresh_twins", "repair_twins", "twin_records"]

_UNITS = (
    "MATCH (u:Unit) OPTIONAL MATCH (u)-[:OF_REVISION]->(r:PartRevision) "
    "RETURN u.uid AS uid, u.part_number AS part_number, u.serial AS serial, u.status AS status, "
    "r.part_number AS rev_part, r.revision AS revision ORDER BY uid"
)
_MAINTENANCE = (
    "MATCH (m:MaintenanceEvent)-[:PERFORMED_ON]->(u:Unit) "
    "RETURN u.uid AS uid, sum(CASE WHEN m.type = 'corrective' THEN 1 ELSE 0 END) AS failures, "
    "sum(CASE WHEN m.status = 'open' THEN 1 ELSE 0 END) AS open_work_orders, max(m.opened) AS last_maintenance"
)


def twin_records(store: GraphStore) -> Iterator[Record]:
    """The twin records the graph's units call for."""
    onto = store.ontology
    history: dict[str, dict[str, Any]] = {row["uid"]: row for row in store.read(_MAINTENANCE)}
    fleets: dict[tuple[str, str], dict[str, int]] = {}
    for unit in store.read(_UNITS):
        seen = history.get(unit["uid"], {})
        props: dict[str, Any] = {
            "part_number": unit["part_number"],
            "serial": unit["serial"],
            "failures": int(seen.get("failures") or 0),
            "open_work_orders": int(seen.get("open_work_orders") or 0),
        }
        for name in ("status",):
            if unit[name] is not None:
                props[name] = unit[name]
        if seen.get("last_maintenance"):
            props["last_maintenance"] = seen["last_maintenance"]
        twin = node(onto, "InstanceTwin", props)
        yield twin
        yield rel("TWIN_OF", twin, ("Unit", unit["uid"]))
        if unit["revision"] is None:
            continue
        fleet = fleets.setdefault(
            (unit["rev_part"], unit["revision"]), {"units": 0, "in_service": 0, "failures": 0}
        )
        fleet["units"] += 1
        fleet["in_service"] += int(unit["status"] == "in_service")
        fleet["failures"] += props["failures"]
        yield rel(
            "INSTANCE_OF",
            twin,
            ("AggregateTwin", onto.uid("AggregateTwin", unit["rev_part"], unit["revision"])),
        )
    for (part_number, revision), counts in fleets.items():
        aggregate: NodeRecord = node(
            onto, "AggregateTwin", {"part_number": part_number, "revision": revision, **counts}
        )
        yield aggregate
        yield rel(
            "TWIN_OF", aggregate, ("PartRevision", onto.uid("PartRevision", part_number, revision))
        )


# imports whose records twins never derive from: their runs never make the twins stale
_NOT_SOURCES = ["twins", "audit", "detector", "command", "sim"]
_UNDERIVED = (
    "MATCH (r:ImportRun) WHERE r.status = 'succeeded' AND NOT r.importer IN $derived "
    "AND r.twins_derived IS NULL RETURN r.uid AS uid ORDER BY uid"
)


def _underived(store: GraphStore) -> list[str]:
    """The import runs whose changes the twins have not been derived from yet."""
    return [row["uid"] for row in store.read(_UNDERIVED, {"derived": _NOT_SOURCES})]


def refresh_twins(store: GraphStore, progress: ProgressCallback | None = None) -> ImportReport:
    """Create or update every twin and its fleet counts; a no-op when nothing changed.

    Afterwards the import runs it derived from are marked (`twins_derived`), so a refresh
    that never happened (the process was killed between an import and its refresh) shows
    as runs without the mark, and `repair_twins` finds it."""
    runs = _underived(store)
    source = Source("twins", "derived from units, revisions and work orders", source_id="twins")
    report = ThreadService(store).import_records(twin_records(store), source, progress=progress)
    if runs:
        store.write(
            "UNWIND $runs AS run MATCH (r:ImportRun {uid: run}) SET r.twins_derived = $now",
            {"runs": runs, "now": utc_now()},
        )
    return report


def repair_twins(
    store: GraphStore, progress: ProgressCallback | None = None
) -> ImportReport | None:
    """Refresh the twins when an import's changes have not reached them; None when the
    twins are current."""
    return refresh_twins(store, progress) if _underived(store) else None
