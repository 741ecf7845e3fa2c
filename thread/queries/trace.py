"""The whole thread of a unit: design, structure, place, sensors, maintenance, twin, runs.

A trace is one parameterised read, anchored at the unit's uid, so it costs the same on a
fleet of ten units or a hundred thousand. For other entities the trace is the entity with
its neighbours grouped by relationship.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

from thread.diagram import Diagram
from thread.entities import closest_uids, primary_label, public_props
from thread.errors import NotFoundError
from thread.queries.as_of import Item
from thread.queries.health import (
    HEALTH_READS,
    alert_facts,
    health_from,
    health_params,
    order_facts,
    rul_facts,
)
from thread.queries.show import get_entity
from thread.records import uid_problem
from thread.stores.base import GraphStore

__all__ = ["SECTIONS", "Section", "Trace", "trace"]

Section = Literal[
    "revision", "structure", "location", "sensors", "maintenance", "alerts", "twin", "simulations"
]
SECTIONS: tuple[Section, ...] = get_args(Section)


@dataclass
class Trace:
    """A trace's stable JSON shape is `to_dict()`: uid, label, properties, and one key per
    section that was asked for (or `neighbours` for entities other than units). The twin
    section holds the unit's `health` (`thread.queries.health`: level and reasons); it is
    null for a unit without an instance twin."""

    uid: str
    label: str
    properties: dict[str, Any]
    sections: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"uid": self.uid, "label": self.label, "properties": self.properties}
        for name, value in self.sections.items():
            if name == "structure":
                data[name] = [_item_dict(item) for item in value]
            else:
                data[name] = value
        return data

    def to_diagram(self) -> Diagram:
        diagram = Diagram()
        root = diagram.node(self.uid, f"{self.label}\n{self.uid}")
        revision = self.sections.get("revision")
        if revision:
            diagram.edge(
                root,
                diagram.node(revision["uid"], f"PartRevision\n{revision['uid']}"),
                "OF_REVISION",
            )
            for doc in revision["documents"]:
                diagram.edge(
                    revision["uid"],
                    diagram.node(doc["uid"], f"Document\n{doc['uid']}"),
                    "DOCUMENTED_BY",
                )
            for co in revision["change_orders"]:
                diagram.edge(
                    diagram.node(co["uid"], f"ChangeOrder\n{co['uid']}"),
                    revision["uid"],
                    co["role"],
                )

        def add_items(parent: str, items: list[Item]) -> None:
            for item in items:
                diagram.node(item.uid, f"{item.label}\n{item.name}")
                span = f"{item.valid_from or ''}..{item.valid_to or ''}"
                diagram.edge(parent, item.uid, f"CONTAINS {span}")
                if item.supplier:
                    diagram.edge(
                        item.uid,
                        diagram.node(item.supplier, f"Supplier\n{item.supplier_name}"),
                        "SUPPLIED_BY",
                    )
                add_items(item.uid, item.children)

        add_items(root, self.sections.get("structure", []))
        location = self.sections.get("location") or {"places": [], "representations": []}
        for place in location["places"]:
            diagram.edge(
                root, diagram.node(place["uid"], f"{place['label']}\n{place['name']}"), "LOCATED_IN"
            )
        for shape in location["representations"]:
            diagram.edge(
                diagram.node(shape["uid"], f"{shape['label']}\n{shape['name']}"), root, "REPRESENTS"
            )
        for sensor in self.sections.get("sensors", []):
            diagram.edge(
                diagram.node(sensor["uid"], f"Sensor\n{sensor['sensor_id']}"), root, "OBSERVES"
            )
        for alert in self.sections.get("alerts", []):
            caption = f"Alert\n{alert['status']} {alert['start']}"
            diagram.edge(diagram.node(alert["uid"], caption), root, "RAISED_ON")
        for event in self.sections.get("maintenance", []):
            diagram.edge(
                diagram.node(event["uid"], f"MaintenanceEvent\n{event['work_order']}"),
                root,
                "PERFORMED_ON",
            )
        for neighbour in self.sections.get("neighbours", []):
            other = diagram.node(neighbour["uid"], f"{neighbour['label']}\n{neighbour['uid']}")
            if neighbour["direction"] == "out":
                diagram.edge(root, other, neighbour["type"])
            else:
                diagram.edge(other, root, neighbour["type"])
        return diagram


# One query answers a whole trace: the entity, then one `CALL (u) {}` per section asked for,
# each aggregating to a single row, so that a trace is one round trip to the store
# (it used to be fifteen, and the round trips were most of its cost). Each section keeps
# the ordering and grouping of the read it replaces. Nested pattern comprehensions are
# avoided on purpose: FalkorDB ignores an inner comprehension's binding to an outer
# variable and matches the whole graph.
_ENTITY = "MATCH (u:Entity {uid: $uid}) "

_READS: dict[Section, tuple[str, tuple[str, ...]]] = {
    "revision": (
        "CALL (u) { "
        "MATCH (u)-[:OF_REVISION]->(r:PartRevision) WITH r LIMIT 1 "
        "CALL (r) { MATCH (r)-[:DOCUMENTED_BY]->(d:Document) WITH d ORDER BY d.uid "
        "RETURN collect([d.uid, d.doc_number, d.title, d.doc_revision]) AS documents } "
        "CALL (r) { MATCH (r)-[:SATISFIES]->(q:Requirement) WITH q ORDER BY q.uid "
        "RETURN collect([q.uid, q.req_id, q.text]) AS requirements } "
        "CALL (r) { MATCH (co:ChangeOrder)-[e]->(r) "
        "WHERE type(e) IN ['CHANGES_TO', 'CHANGES_FROM'] WITH co, e ORDER BY co.uid "
        "RETURN collect([co.uid, co.co_number, co.title, co.status, type(e), e.effective_date, "
        "e.serial_from, e.serial_to]) AS change_orders } "
        "RETURN collect([r.uid, r.part_number, r.revision, r.status, r.release_date, documents, "
        "requirements, change_orders]) AS revision } ",
        ("revision",),
    ),
    # every containment below the unit, through the units it contains, in the order of
    # `as_of.structure`'s reads (by parent, find number, start, uid)
    "structure": (
        "CALL (u) { "
        "MATCH (u)-[:CONTAINS*0..]->(p:Unit) WITH DISTINCT p "
        "MATCH (p)-[r:CONTAINS]->(c:Entity) "
        "OPTIONAL MATCH (c)-[:OF_REVISION]->(rev:PartRevision) "
        "OPTIONAL MATCH (c)-[:SUPPLIED_BY]->(s:Supplier) "
        "WITH p, r, c, rev, s ORDER BY p.uid, r.find_number, r.valid_from, c.uid "
        "RETURN collect([p.uid, c.uid, labels(c), c.part_number, c.serial, c.lot_id, rev.revision, "
        "r.quantity, r.find_number, r.valid_from, r.valid_to, r.installed_by, r.removed_by, "
        "s.uid, s.name]) AS structure } ",
        ("structure",),
    ),
    "location": (
        "CALL (u) { "
        "MATCH (u)-[r:LOCATED_IN]->(l) "
        "CALL (l) { MATCH path = (a:Entity)-[:AGGREGATES*1..8]->(l:Entity) "
        "WITH a, length(path) AS hops ORDER BY hops "
        "RETURN collect([a.uid, labels(a), coalesce(a.name, a.code, a.uid)]) AS within } "
        "WITH r, l, within ORDER BY r.valid_from "
        "RETURN collect([l.uid, labels(l), coalesce(l.name, l.code, l.uid), r.valid_from, "
        "r.valid_to, within]) AS places } "
        "CALL (u) { "
        "MATCH (x:Entity)-[:REPRESENTS]->(u) WITH x ORDER BY x.uid "
        "RETURN collect([x.uid, labels(x), coalesce(x.name, x.prim_path, x.uid)]) AS representations } ",
        ("places", "representations"),
    ),
    "sensors": (
        "CALL (u) { "
        "MATCH (s:Sensor)-[:OBSERVES]->(u) "
        "OPTIONAL MATCH (s)-[:HAS_CHANNEL]->(c:Channel) "
        "WITH s, c ORDER BY c.channel "
        "WITH s.uid AS uid, s.sensor_id AS sensor_id, s.type AS type, "
        "collect(c {.uid, .channel, .quantity, .unit_of_measure, .last_value, .last, .count, .min, "
        ".max, .mean, .constant}) AS channels ORDER BY uid "
        "RETURN collect([uid, sensor_id, type, channels]) AS sensors } ",
        ("sensors",),
    ),
    "maintenance": (
        "CALL (u) { "
        "MATCH (m:MaintenanceEvent)-[pr:PERFORMED_ON]->(u) "
        "OPTIONAL MATCH (m)-[:ADDRESSES]->(f:FailureMode) "
        "OPTIONAL MATCH (m)-[:REMOVED]->(x) "
        "OPTIONAL MATCH (m)-[:INSTALLED]->(y) "
        "WITH m, pr, f.code AS failure_mode, collect(DISTINCT x.uid) AS removed, "
        "collect(DISTINCT y.uid) AS installed ORDER BY m.opened, m.uid "
        "RETURN collect([m.uid, m.work_order, m.type, m.status, m.opened, m.closed, m.component, "
        "m.description, failure_mode, removed, installed, "
        "m._missing IS NULL AND pr._missing IS NULL]) AS maintenance } ",  # last: still current
        ("maintenance",),
    ),
    # `alerts.alerts_for_unit`'s read, anchored at the unit
    "alerts": (
        "CALL (u) { "
        "MATCH (a:Alert)-[:RAISED_ON]->(u) "
        "OPTIONAL MATCH (a)-[:DETECTED_BY]->(det:SimulationRun) "
        "WITH a, det ORDER BY a.start DESC, a.uid "
        "RETURN collect([a.uid, a.status, a.severity, a.start, a.end, a.peak_score, a.threshold, "
        "a.contributors, det.uid]) AS alerts } ",
        ("alerts",),
    ),
    "twin": (
        "CALL (u) { "
        "MATCH (t:InstanceTwin)-[:TWIN_OF]->(u) "
        "OPTIONAL MATCH (t)-[:INSTANCE_OF]->(a:AggregateTwin) WITH t, a LIMIT 1 "
        "RETURN collect([t.uid, t.failures, t.open_work_orders, t.last_maintenance, a.uid, a.units, "
        "a.failures]) AS twin } ",
        ("twin",),
    ),
    "simulations": (
        "CALL (u) { "
        "MATCH (s:SimulationRun)-[:SIMULATED]->(:InstanceTwin)-[:TWIN_OF]->(u) "
        "WITH s ORDER BY s.finished DESC RETURN collect(s) AS simulations } ",
        ("simulations",),
    ),
}


_ITEM_FIELDS = tuple(f.name for f in fields(Item))


def _item_dict(item: Item) -> dict[str, Any]:
    """`Item.to_dict()` without `dataclasses.asdict`, whose deep copy of every level below
    each item was a tenth of the service's time per trace (a test holds the two equal)."""
    data = {name: getattr(item, name) for name in _ITEM_FIELDS}
    data["children"] = [_item_dict(child) for child in item.children]
    data["current"] = item.current
    return data


def _health_facts(asked: frozenset[Section]) -> dict[str, tuple[str, Any]]:
    """Health facts taken from sections read anyway: column -> (section, derivation)."""
    derived: dict[str, tuple[str, Any]] = {
        "health_orders": ("maintenance", order_facts),
        "health_alerts": ("alerts", alert_facts),
        "health_rul": ("simulations", rul_facts),
    }
    return {c: d for c, d in derived.items() if d[0] in asked}


@functools.lru_cache(maxsize=256)
def _trace_query(asked: frozenset[Section]) -> str:
    """The query for the sections `asked` (in a fixed order: one text per set)."""
    reads = "".join(_READS[s][0] for s in SECTIONS if s in asked)
    columns = [column for s in SECTIONS if s in asked for column in _READS[s][1]]
    if "twin" in asked:  # the twin's health, from the facts no other section reads
        health = [c for c in HEALTH_READS if c not in _health_facts(asked)]
        reads += "".join(HEALTH_READS[c] for c in health)
        columns += health
    return _ENTITY + reads + "RETURN " + ", ".join(["labels(u) AS labels", "u AS node", *columns])


def _revision(rows: list[list[Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    uid, part_number, revision, status, release_date, documents, requirements, changes = rows[0]
    return {
        "uid": uid,
        "part_number": part_number,
        "revision": revision,
        "status": status,
        "release_date": release_date,
        "documents": [
            {"uid": d[0], "doc_number": d[1], "title": d[2], "doc_revision": d[3]}
            for d in documents
        ],
        "requirements": [{"uid": q[0], "req_id": q[1], "text": q[2]} for q in requirements],
        "change_orders": [dict(zip(_CHANGE_ORDER_KEYS, change, strict=True)) for change in changes],
    }


_CHANGE_ORDER_KEYS = (
    "uid", "co_number", "title", "status", "role", "effective_date", "serial_from", "serial_to"
)  # fmt: skip
_MAINTENANCE_KEYS = (
    "uid", "work_order", "type", "status", "opened", "closed", "component", "description",
    "failure_mode", "removed", "installed",
)  # fmt: skip
_ALERT_KEYS = (
    "uid", "status", "severity", "start", "end", "peak_score", "threshold", "contributors",
    "unit", "detected_by",
)  # fmt: skip
_TWIN_KEYS = (
    "uid", "failures", "open_work_orders", "last_maintenance", "aggregate", "fleet_units",
    "fleet_failures",
)  # fmt: skip


def _structure(rows: list[list[Any]], uid: str, depth: int | None) -> list[Item]:
    """What `as_of.structure` builds, from every containment below the unit:
    level by level to `depth`, each unit expanded once (at its first level)."""
    children: dict[str, list[list[Any]]] = {}
    for row in rows:  # grouped by parent, keeping the query's order
        children.setdefault(row[0], []).append(row)
    rank = {parent: n for n, parent in enumerate(children)}
    top: list[Item] = []
    by_uid: dict[str, list[Item]] = {uid: top}
    frontier, seen, level = [uid], {uid}, 0
    while frontier and (depth is None or level < depth):
        level += 1
        below: list[str] = []
        for parent in sorted((p for p in frontier if p in rank), key=rank.__getitem__):
            for row in children[parent]:
                item = Item(row[1], primary_label(row[2]), *row[3:])
                by_uid[parent].append(item)
                if item.label == "Unit" and item.uid not in seen:
                    seen.add(item.uid)
                    by_uid[item.uid] = item.children
                    below.append(item.uid)
        frontier = below
    return top


def _places(rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [
        {
            "uid": uid,
            "name": name,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "label": primary_label(labels),
            "within": [{"uid": a[0], "label": primary_label(a[1]), "name": a[2]} for a in within],
        }
        for uid, labels, name, valid_from, valid_to, within in rows
    ]


def _section(section: Section, row: dict[str, Any], uid: str, depth: int | None) -> Any:
    """One section of the trace from the query's row."""
    if section == "revision":
        return _revision(row["revision"])
    if section == "structure":
        return _structure(row["structure"], uid, depth) if "structure" in row else []
    if section == "location":
        return {
            "places": _places(row["places"]),
            "representations": [
                {"uid": r[0], "label": primary_label(r[1]), "name": r[2]}
                for r in row["representations"]
            ],
        }
    if section == "sensors":
        return [
            {"uid": s[0], "sensor_id": s[1], "type": s[2], "channels": s[3]} for s in row["sensors"]
        ]
    if section == "maintenance":
        return [dict(zip(_MAINTENANCE_KEYS, m[:-1], strict=True)) for m in row["maintenance"]]
    if section == "alerts":
        return [dict(zip(_ALERT_KEYS, [*a[:8], uid, a[8]], strict=True)) for a in row["alerts"]]
    if section == "twin":
        if not row["twin"]:
            return None
        twin = dict(zip(_TWIN_KEYS, row["twin"][0], strict=True))
        asked = frozenset(s for s in SECTIONS if _READS[s][1][0] in row)
        facts = {c: derive(row[s]) for c, (s, derive) in _health_facts(asked).items()}
        twin["health"] = health_from({**row, **facts}).to_dict()
        return twin
    # a detector's calibration keeps its whole fitted model as JSON in `parameters`
    return [
        {k: v for k, v in run.items() if not k.startswith("_") and k != "parameters"}
        for run in row["simulations"]
    ]


def trace(
    store: GraphStore,
    uid: str,
    *,
    sections: tuple[Section, ...] = SECTIONS,
    depth: int | None = None,
) -> Trace:
    """The thread of `uid`: for a unit, the sections asked for (structure to `depth`
    levels, all when None); for any other entity, its neighbours.

    Raises:
        NotFoundError: no entity has this uid (with the closest ones).
    """
    if uid_problem(uid):  # no node can have it; the store would only give a parser error
        raise NotFoundError(uid)
    asked = frozenset(s for s in sections if s != "structure" or depth is None or depth > 0)
    params = {"uid": uid, **(health_params() if "twin" in asked else {})}
    rows = store.read(_trace_query(asked), params)
    if not rows:
        raise NotFoundError(uid, closest_uids(store, uid))
    row = rows[0]
    label = primary_label(row["labels"])
    result = Trace(uid, label, public_props(row["node"]))
    if label != "Unit":
        result.sections["neighbours"] = [n.__dict__ for n in get_entity(store, uid).neighbours]
        return result
    for section in sections:
        result.sections[section] = _section(section, row, uid, depth)
    return result
