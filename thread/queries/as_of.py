"""A unit's configuration as of any date (`thread as-of`), and the structure below a unit
that `trace` and `diff` read too, from the valid_from/valid_to intervals of its CONTAINS relationships.

Dates compare as ISO strings. An interval holds from valid_from (inclusive) to valid_to
(exclusive): a part removed on a date is no longer in the unit on that date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from thread.clock import parse_moment
from thread.entities import primary_label, require_entity
from thread.errors import ThreadError
from thread.stores.base import GraphStore

__all__ = [
    "Item",
    "as_of",
    "structure",
]

_CHILDREN = (
    "UNWIND $uids AS u MATCH (p:Entity {uid: u})-[r:CONTAINS]->(c:Entity) "
    "WHERE $at IS NULL OR (r.valid_from <= $at AND (r.valid_to IS NULL OR r.valid_to > $at)) "
    "OPTIONAL MATCH (c)-[:OF_REVISION]->(rev:PartRevision) "
    "OPTIONAL MATCH (c)-[:SUPPLIED_BY]->(s:Supplier) "
    "RETURN u AS parent, c.uid AS uid, labels(c) AS labels, c.part_number AS part_number, "
    "c.serial AS serial, c.lot_id AS lot_id, c.status AS status, rev.revision AS revision, "
    "s.uid AS supplier, s.name AS supplier_name, r.valid_from AS valid_from, r.valid_to AS valid_to, "
    "r.quantity AS quantity, r.find_number AS find_number, r.installed_by AS installed_by, "
    "r.removed_by AS removed_by ORDER BY parent, find_number, valid_from, uid"
)


@dataclass
class Item:
    """One thing contained in a unit over an interval, with what it contains in turn."""

    uid: str
    label: str
    part_number: str | None
    serial: str | None
    lot_id: str | None
    revision: str | None
    quantity: float | None
    find_number: str | None
    valid_from: str | None
    valid_to: str | None
    installed_by: str | None
    removed_by: str | None
    supplier: str | None
    supplier_name: str | None
    children: list[Item] = field(default_factory=list)

    @property
    def current(self) -> bool:
        return self.valid_to is None

    @property
    def name(self) -> str:
        """How people call it: 'B-500 lot LOT-B-2302', 'M-200 MSN-0012'."""
        if self.lot_id:
            return f"{self.part_number} lot {self.lot_id}"
        return f"{self.part_number} {self.serial}" if self.serial else self.uid

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["current"] = self.current
        data["children"] = [child.to_dict() for child in self.children]
        return data


def structure(
    store: GraphStore, uid: str, *, at: str | None = None, depth: int | None = None
) -> list[Item]:
    """What `uid` contains, level by level to `depth` (all levels when None).

    With `at`, only what was contained on that date; without, every interval (removed
    items included, with valid_to and removed_by)."""
    top: list[Item] = []
    by_uid: dict[str, list[Item]] = {uid: top}
    frontier, seen, level = [uid], {uid}, 0
    while frontier and (depth is None or level < depth):
        level += 1
        rows = store.read(_CHILDREN, {"uids": frontier, "at": at})
        frontier = []
        for row in rows:
            item = Item(
                uid=row["uid"],
                label=primary_label(row["labels"]),
                **{k: row[k] for k in ("part_number", "serial", "lot_id", "revision", "quantity", "find_number",
                                       "valid_from", "valid_to", "installed_by", "removed_by", "supplier", "supplier_name")},
            )  # fmt: skip
            by_uid[row["parent"]].append(item)
            if item.label == "Unit" and item.uid not in seen:
                seen.add(item.uid)
                by_uid[item.uid] = item.children
                frontier.append(item.uid)
    return top


@dataclass
class Configuration:
    uid: str
    date: str
    items: list[Item]
    location: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "date": self.date,
            "items": [item.to_dict() for item in self.items],
            "location": self.location,
        }


def as_of(store: GraphStore, uid: str, date: str) -> Configuration:
    """The configuration of a unit on a date (YYYY-MM-DD or a UTC time
    YYYY-MM-DDTHH:MM:SS[Z]).

    Raises:
        UsageError: `date` is neither (checked before the store is asked).
        NotFoundError: no entity has this uid.
    """
    date = parse_moment(date, "date")
    label, _ = require_entity(store, uid)
    if label != "Unit":
        raise ThreadError(f"{uid} is a {label}; a configuration as of a date belongs to a Unit")
    location = store.read(
        "MATCH (u:Entity {uid: $uid})-[r:LOCATED_IN]->(l) "
        "WHERE r.valid_from <= $at AND (r.valid_to IS NULL OR r.valid_to > $at) "
        "RETURN l.uid AS uid, labels(l) AS labels, coalesce(l.name, l.code) AS name, r.valid_from AS valid_from",
        {"uid": uid, "at": date},
    )
    places = [{**row, "label": primary_label(row.pop("labels"))} for row in location]
    return Configuration(uid, date, structure(store, uid, at=date), places)
