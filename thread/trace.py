"""The whole thread of a unit: design, structure, place, sensors, maintenance, twin, runs.

Every section is a handful of parameterised reads, so a trace costs the same on a fleet
of ten units or a hundred thousand. For other entities the trace is the entity with its
neighbours grouped by relationship.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from thread.alerts import alerts_for_unit
from thread.configuration import Item, structure
from thread.diagram import Diagram
from thread.entities import get_entity, primary_label, require_entity
from thread.stores.base import GraphStore

__all__ = ["SECTIONS", "Section", "Trace", "trace"]

Section = Literal[
    "revision", "structure", "location", "sensors", "maintenance", "alerts", "twin", "simulations"
]
SECTIONS: tuple[Section, ...] = get_args(Section)


@dataclass
class Trace:
    """A trace's stable JSON shape is `to_dict()`: uid, label, properties, and one key per
    section that was asked for (or `neighbours` for entities other than units)."""

    uid: str
    label: str
    properties: dict[str, Any]
    sections: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {"uid": self.uid, "label": self.label, "properties": self.properties}
        for name, value in self.sections.items():
            if name == "structure":
                data[name] = [item.to_dict() for item in value]
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


def _revision(store: GraphStore, uid: str) -> dict[str, Any] | None:
    rows = store.read(
        "MATCH (u:Entity {uid: $uid})-[:OF_REVISION]->(r:PartRevision) "
        "RETURN r.uid AS uid, r.part_number AS part_number, r.revision AS revision, r.status AS status, "
        "r.release_date AS release_date",
        {"uid": uid},
    )
    if not rows:
        return None
    revision = rows[0]
    params = {"rev": revision["uid"]}
    revision["documents"] = store.read(
        "MATCH (:PartRevision {uid: $rev})-[:DOCUMENTED_BY]->(d:Document) "
        "RETURN d.uid AS uid, d.doc_number AS doc_number, d.title AS title, d.doc_revision AS doc_revision "
        "ORDER BY uid",
        params,
    )
    revision["requirements"] = store.read(
        "MATCH (:PartRevision {uid: $rev})-[:SATISFIES]->(q:Requirement) "
        "RETURN q.uid AS uid, q.req_id AS req_id, q.text AS text ORDER BY uid",
        params,
    )
    revision["change_orders"] = store.read(
        "MATCH (co:ChangeOrder)-[e]->(:PartRevision {uid: $rev}) "
        "WHERE type(e) IN ['CHANGES_TO', 'CHANGES_FROM'] "
        "RETURN co.uid AS uid, co.co_number AS co_number, co.title AS title, co.status AS status, "
        "type(e) AS role, e.effective_date AS effective_date, e.serial_from AS serial_from, "
        "e.serial_to AS serial_to ORDER BY uid",
        params,
    )
    return revision


def _location(store: GraphStore, uid: str) -> list[dict[str, Any]]:
    places = store.read(
        "MATCH (:Entity {uid: $uid})-[r:LOCATED_IN]->(l) "
        "RETURN l.uid AS uid, labels(l) AS labels, coalesce(l.name, l.code, l.uid) AS name, "
        "r.valid_from AS valid_from, r.valid_to AS valid_to ORDER BY valid_from",
        {"uid": uid},
    )
    for place in places:
        place["label"] = primary_label(place.pop("labels"))
        place["within"] = [
            {"uid": row["uid"], "label": primary_label(row["labels"]), "name": row["name"]}
            for row in store.read(
                "MATCH path = (a:Entity)-[:AGGREGATES*1..8]->(:Entity {uid: $uid}) "
                "RETURN a.uid AS uid, labels(a) AS labels, coalesce(a.name, a.code, a.uid) AS name, "
                "length(path) AS hops ORDER BY hops",
                {"uid": place["uid"]},
            )
        ]
    return places


def _representations(store: GraphStore, uid: str) -> list[dict[str, Any]]:
    rows = store.read(
        "MATCH (x:Entity)-[:REPRESENTS]->(:Entity {uid: $uid}) "
        "RETURN x.uid AS uid, labels(x) AS labels, coalesce(x.name, x.prim_path, x.uid) AS name ORDER BY uid",
        {"uid": uid},
    )
    return [{"uid": r["uid"], "label": primary_label(r["labels"]), "name": r["name"]} for r in rows]


def _sensors(store: GraphStore, uid: str) -> list[dict[str, Any]]:
    return store.read(
        "MATCH (s:Sensor)-[:OBSERVES]->(:Entity {uid: $uid}) "
        "OPTIONAL MATCH (s)-[:HAS_CHANNEL]->(c:Channel) "
        "WITH s, c ORDER BY c.channel "
        "RETURN s.uid AS uid, s.sensor_id AS sensor_id, s.type AS type, "
        "collect(c {.uid, .channel, .quantity, .unit_of_measure, .last_value, .last, .count, .min, .max, "
        ".mean, .constant}) AS channels ORDER BY uid",
        {"uid": uid},
    )


def _maintenance(store: GraphStore, uid: str) -> list[dict[str, Any]]:
    return store.read(
        "MATCH (m:MaintenanceEvent)-[:PERFORMED_ON]->(:Entity {uid: $uid}) "
        "OPTIONAL MATCH (m)-[:ADDRESSES]->(f:FailureMode) "
        "OPTIONAL MATCH (m)-[:REMOVED]->(x) "
        "OPTIONAL MATCH (m)-[:INSTALLED]->(y) "
        "RETURN m.uid AS uid, m.work_order AS work_order, m.type AS type, m.status AS status, "
        "m.opened AS opened, m.closed AS closed, m.component AS component, m.description AS description, "
        "f.code AS failure_mode, collect(DISTINCT x.uid) AS removed, collect(DISTINCT y.uid) AS installed "
        "ORDER BY opened, uid",
        {"uid": uid},
    )


def _twin(store: GraphStore, uid: str) -> dict[str, Any] | None:
    rows = store.read(
        "MATCH (t:InstanceTwin)-[:TWIN_OF]->(:Entity {uid: $uid}) "
        "OPTIONAL MATCH (t)-[:INSTANCE_OF]->(a:AggregateTwin) "
        "RETURN t.uid AS uid, t.failures AS failures, t.open_work_orders AS open_work_orders, "
        "t.last_maintenance AS last_maintenance, a.uid AS aggregate, a.units AS fleet_units, "
        "a.failures AS fleet_failures",
        {"uid": uid},
    )
    return rows[0] if rows else None


def _simulations(store: GraphStore, uid: str) -> list[dict[str, Any]]:
    rows = store.read(
        "MATCH (s:SimulationRun)-[:SIMULATED]->(:InstanceTwin)-[:TWIN_OF]->(:Entity {uid: $uid}) "
        "RETURN s AS run ORDER BY s.finished DESC",
        {"uid": uid},
    )
    # a detector's calibration keeps its whole fitted model as JSON in `parameters`
    return [
        {k: v for k, v in row["run"].items() if not k.startswith("_") and k != "parameters"}
        for row in rows
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
    label, props = require_entity(store, uid)
    result = Trace(uid, label, props)
    if label != "Unit":
        result.sections["neighbours"] = [n.__dict__ for n in get_entity(store, uid).neighbours]
        return result
    readers = {
        "revision": _revision,
        "structure": lambda s, u: structure(s, u, depth=depth),
        "location": lambda s, u: {
            "places": _location(s, u),
            "representations": _representations(s, u),
        },
        "sensors": _sensors,
        "maintenance": _maintenance,
        "alerts": alerts_for_unit,
        "twin": _twin,
        "simulations": _simulations,
    }
    for section in sections:
        result.sections[section] = readers[section](store, uid)
    return result
