"""Twins as people look at them: the aggregate twins with their fleets, and one twin."""

from __future__ import annotations

from typing import Any

from thread.entities import require_entity
from thread.errors import ThreadError
from thread.stores.base import GraphStore

__all__ = ["list_twins", "show_twin"]


def list_twins(store: GraphStore) -> dict[str, Any]:
    """Every aggregate twin with its fleet counts, and how many instance twins exist."""
    aggregates = store.read(
        "MATCH (a:AggregateTwin) OPTIONAL MATCH (a)-[:TWIN_OF]->(:PartRevision)<-[:HAS_REVISION]-(p:Part) "
        "RETURN a.uid AS uid, a.part_number AS part_number, a.revision AS revision, p.name AS name, "
        "a.units AS units, a.in_service AS in_service, a.failures AS failures ORDER BY uid"
    )
    instances = store.read("MATCH (t:InstanceTwin) RETURN count(t) AS n")[0]["n"]
    return {"aggregates": aggregates, "instance_twins": instances}


def show_twin(store: GraphStore, uid: str) -> dict[str, Any]:
    """An aggregate twin with its fleet (one row per unit), or an instance twin with its
    unit, aggregate and latest state.

    Raises:
        NotFoundError: no such uid; ThreadError: it is not a twin.
    """
    label, props = require_entity(store, uid)
    if label == "AggregateTwin":
        fleet = store.read(
            "MATCH (t:InstanceTwin)-[:INSTANCE_OF]->(:AggregateTwin {uid: $uid}) "
            "MATCH (t)-[:TWIN_OF]->(u:Unit) "
            "OPTIONAL MATCH (u)-[r:LOCATED_IN]->(l) WHERE r.valid_to IS NULL "
            "RETURN u.uid AS unit, u.serial AS serial, u.status AS status, u.build_date AS build_date, "
            "t.failures AS failures, t.open_work_orders AS open_work_orders, "
            "t.last_maintenance AS last_maintenance, collect(coalesce(l.name, l.code)) AS location "
            "ORDER BY serial",
            {"uid": uid},
        )
        return {"uid": uid, "label": label, "properties": props, "fleet": fleet}
    if label == "InstanceTwin":
        rows = store.read(
            "MATCH (t:InstanceTwin {uid: $uid})-[:TWIN_OF]->(u:Unit) "
            "OPTIONAL MATCH (t)-[:INSTANCE_OF]->(a:AggregateTwin) "
            "RETURN u.uid AS unit, a.uid AS aggregate",
            {"uid": uid},
        )
        unit = rows[0] if rows else {"unit": None, "aggregate": None}
        channels = store.read(
            "MATCH (t:InstanceTwin {uid: $uid})-[:TWIN_OF]->(u:Unit)<-[:OBSERVES]-(:Sensor)-[:HAS_CHANNEL]->(c) "
            "RETURN c.uid AS uid, c.channel AS channel, c.last_value AS last_value, c.last AS last, "
            "c.unit_of_measure AS unit_of_measure ORDER BY uid",
            {"uid": uid},
        )
        return {"uid": uid, "label": label, "properties": props, **unit, "channels": channels}
    raise ThreadError(f"{uid} is a {label}, not a twin (see `thread twin list`)")
