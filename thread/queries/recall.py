"""Recall: every unit a suspect lot, supplier, revision or serial reached, at any depth.

A unit is reached through a genealogy path (pump -> motor -> bearing lot). Each path has
the intervals of its CONTAINS relationships; the suspect is still installed when all of
them are open, and was removed on the earliest end on the path (by the work order that
ended it). Paths whose intervals never overlapped (the lot left the motor before the
motor went into the pump) did not expose the unit and are left out.

Units reached are top-level units or sub-units: a sub-unit sits inside another unit now
(on the `as_of` date when given), as a motor in its pump; the count of units to recall
is that of the top-level units. Each exposure names the lot, supplier and revision of
the suspect item that reached the unit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from thread.clock import parse_day
from thread.diagram import Diagram
from thread.entities import primary_label, require_entity
from thread.errors import ThreadError
from thread.stores.base import GraphStore

__all__ = ["Exposure", "Recall", "containers", "recall"]

_PATHS = (
    "UNWIND $suspects AS s MATCH (x:Entity {uid: s}) "
    "OPTIONAL MATCH (x)-[:SUPPLIED_BY]->(sup:Supplier) "
    "WITH x, collect(DISTINCT sup.uid) AS suppliers "
    "OPTIONAL MATCH (x)-[:OF_REVISION]->(rev:PartRevision) "
    "WITH x, suppliers, collect(DISTINCT rev.uid) AS revisions "
    "MATCH path = (u:Unit)-[:CONTAINS*]->(x) "
    "RETURN [n IN nodes(path) | n.uid] AS uids, "
    "[r IN relationships(path) | r {.valid_from, .valid_to, .installed_by, .removed_by, .quantity}] AS edges, "
    "u.part_number AS part_number, u.serial AS serial, "
    "CASE WHEN 'Lot' IN labels(x) THEN x.uid END AS lot, suppliers, revisions"
)
# the unit each reached unit sits in, now (`$as_of` null) or on `$as_of`
_WITHIN = (
    "UNWIND $units AS u MATCH (p:Unit)-[r:CONTAINS]->(:Entity {uid: u}) "
    "WHERE ($as_of IS NULL AND r.valid_to IS NULL) OR ($as_of IS NOT NULL "
    "AND coalesce(r.valid_from, '') <= $as_of AND (r.valid_to IS NULL OR r.valid_to > $as_of)) "
    "RETURN u AS unit, min(p.uid) AS within"
)
_SUSPECTS = {
    "Lot": "RETURN $uid AS uid",
    "Unit": "RETURN $uid AS uid",
    "Supplier": "MATCH (l:Lot)-[:SUPPLIED_BY]->(:Entity {uid: $uid}) RETURN l.uid AS uid",
    "PartRevision": "MATCH (i:Entity)-[:OF_REVISION]->(:Entity {uid: $uid}) RETURN i.uid AS uid",
}


@dataclass
class Exposure:
    """A unit that contained the suspect through one genealogy path: `lot`, `supplier`
    and `revision` are those of the suspect item (None when it has none, as a suspect
    serial has no lot); `within` is the unit it sits in (None for a top-level unit)."""

    unit: str
    part_number: str | None
    serial: str | None
    suspect: str
    path: list[str]
    edges: list[dict[str, Any]]
    status: str  # installed, removed
    removed_on: str | None = None
    removed_by: str | None = None
    site: list[dict[str, Any]] = field(default_factory=list)
    lot: str | None = None
    supplier: str | None = None
    revision: str | None = None
    within: str | None = None

    @property
    def depth(self) -> int:
        return len(self.edges)


def _open(edge: dict[str, Any], at: str | None) -> bool:
    if at is None:
        return edge["valid_to"] is None
    return (edge["valid_from"] or "") <= at and (edge["valid_to"] is None or edge["valid_to"] > at)


def _overlap(edges: list[dict[str, Any]]) -> bool:
    start = max(e["valid_from"] or "" for e in edges)
    ends = [e["valid_to"] for e in edges if e["valid_to"] is not None]
    return not ends or start < min(ends)


def containers(store: GraphStore, suspects: list[str], as_of: str | None = None) -> list[Exposure]:
    """Every (unit, path) through which a unit contained one of `suspects`.

    With `as_of`, only paths in effect on that date, all reported as installed."""
    exposures = []
    for row in store.read(_PATHS, {"suspects": suspects}):
        edges = row["edges"]
        if as_of is not None:
            if not all(_open(e, as_of) for e in edges):
                continue
        elif not _overlap(edges):
            continue
        exposure = Exposure(
            row["uids"][0],
            row["part_number"],
            row["serial"],
            row["uids"][-1],
            row["uids"],
            edges,
            "installed",
            lot=row["lot"],
            supplier=min(row["suppliers"], default=None),
            revision=min(row["revisions"], default=None),
        )
        closed = [
            e
            for e in edges
            if e["valid_to"] is not None and (as_of is None or e["valid_to"] <= as_of)
        ]
        if closed and as_of is None:
            first = min(closed, key=lambda e: e["valid_to"])
            exposure.status, exposure.removed_on, exposure.removed_by = (
                "removed",
                first["valid_to"],
                first["removed_by"],
            )
        exposures.append(exposure)
    units = sorted({e.unit for e in exposures})
    places: dict[str, list[dict[str, Any]]] = {}
    for row in store.read(
        "UNWIND $units AS u MATCH (:Entity {uid: u})-[r:LOCATED_IN]->(l) WHERE r.valid_to IS NULL "
        "RETURN u AS unit, l.uid AS uid, labels(l) AS labels, coalesce(l.name, l.code, l.uid) AS name",
        {"units": units},
    ):
        places.setdefault(row["unit"], []).append(
            {"uid": row["uid"], "label": primary_label(row["labels"]), "name": row["name"]}
        )
    within = {
        row["unit"]: row["within"] for row in store.read(_WITHIN, {"units": units, "as_of": as_of})
    }
    for exposure in exposures:
        exposure.site = places.get(exposure.unit, [])
        exposure.within = within.get(exposure.unit)
    exposures.sort(key=lambda e: (e.unit, e.depth, e.path))
    return exposures


@dataclass
class Recall:
    """`to_dict()` is the stable JSON shape: the suspect, the suspect items it stands for,
    the units reached, and one entry per unit and path.

    `units` and `still_installed` count every unit reached, sub-units included (a pump
    and the motor inside it are two); `top_units` and `sub_units` split them, and
    `top_still_installed` and `sub_still_installed` split `still_installed`."""

    uid: str
    label: str
    as_of: str | None
    suspects: list[str]
    exposures: list[Exposure]

    @property
    def units(self) -> list[str]:
        return sorted({e.unit for e in self.exposures})

    @property
    def still_installed(self) -> list[str]:
        return sorted({e.unit for e in self.exposures if e.status == "installed"})

    @property
    def top_units(self) -> list[str]:
        """Units reached that sit in no other unit: the items to recall."""
        return sorted({e.unit for e in self.exposures if e.within is None})

    @property
    def sub_units(self) -> list[str]:
        """Units reached that sit inside another unit (a motor in its pump)."""
        return sorted({e.unit for e in self.exposures if e.within is not None})

    @property
    def top_still_installed(self) -> list[str]:
        return sorted(set(self.still_installed) & set(self.top_units))

    @property
    def sub_still_installed(self) -> list[str]:
        return sorted(set(self.still_installed) & set(self.sub_units))

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "label": self.label,
            "as_of": self.as_of,
            "suspects": self.suspects,
            "units": self.units,
            "still_installed": self.still_installed,
            "top_units": self.top_units,
            "sub_units": self.sub_units,
            "top_still_installed": self.top_still_installed,
            "sub_still_installed": self.sub_still_installed,
            "exposures": [{**asdict(e), "depth": e.depth} for e in self.exposures],
        }

    def to_diagram(self) -> Diagram:
        diagram = Diagram()
        diagram.node(self.uid, f"{self.label}\n{self.uid}")
        for suspect in self.suspects:
            if suspect != self.uid:
                diagram.edge(diagram.node(suspect, suspect), self.uid, "from")
        for exposure in self.exposures:
            for parent, child, edge in zip(
                exposure.path, exposure.path[1:], exposure.edges, strict=False
            ):
                diagram.node(parent, parent)
                diagram.node(child, child)
                state = (
                    f"removed {edge['valid_to']}"
                    if edge["valid_to"]
                    else f"since {edge['valid_from']}"
                )
                diagram.edge(parent, child, f"CONTAINS ({state})")
        return diagram


def recall(store: GraphStore, uid: str, *, as_of: str | None = None) -> Recall:
    """Units reached by a suspect Lot, Supplier (its lots), PartRevision (its lots and
    units) or Unit (a suspect serial), at any depth; as of a date (YYYY-MM-DD) when given.

    Raises:
        UsageError: `as_of` is not a date (checked before the store is asked).
        NotFoundError: no entity has this uid.
        ThreadError: the entity is not something a recall can start from.
    """
    if as_of is not None:
        as_of = parse_day(as_of, "as-of date")
    label, _ = require_entity(store, uid)
    if label not in _SUSPECTS:
        raise ThreadError(
            f"{uid} is a {label}; a recall starts from a Lot, Supplier, PartRevision or Unit"
        )
    suspects = [row["uid"] for row in store.read(_SUSPECTS[label], {"uid": uid})]
    return Recall(uid, label, as_of, sorted(suspects), containers(store, suspects, as_of))
