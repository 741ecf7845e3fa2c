"""A unit's configuration: as designed (its revision's BOM), as built, as maintained, and
as of any date, from the valid_from/valid_to intervals of its CONTAINS relationships.

Dates compare as ISO strings. An interval holds from valid_from (inclusive) to valid_to
(exclusive): a part removed on a date is no longer in the unit on that date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from thread.entities import primary_label, require_entity
from thread.errors import ThreadError
from thread.stores.base import GraphStore

__all__ = [
    "ConfigurationDiff",
    "Difference",
    "Item",
    "as_of",
    "diff",
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
    """The configuration of a unit on a date (YYYY-MM-DD or a UTC ISO datetime).

    Raises:
        NotFoundError: no entity has this uid.
    """
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


@dataclass
class Difference:
    """One way a unit departs from its design."""

    kind: str  # missing, extra, substituted, quantity, revision
    find_number: str | None
    expected: str | None  # part number the design asks for
    actual: str | None  # part number found
    detail: str
    items: list[str] = field(default_factory=list)  # uids of what was found


@dataclass
class ConfigurationDiff:
    uid: str
    revision: str | None
    build_date: str | None
    designed: list[dict[str, Any]]
    built: list[Difference]
    maintained: list[Difference]
    unapplied_change_orders: list[dict[str, Any]]

    @property
    def clean(self) -> bool:
        return not (self.built or self.maintained or self.unapplied_change_orders)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "revision": self.revision,
            "build_date": self.build_date,
            "designed": self.designed,
            "built": [asdict(d) for d in self.built],
            "maintained": [asdict(d) for d in self.maintained],
            "unapplied_change_orders": self.unapplied_change_orders,
            "clean": self.clean,
        }


def _designed(
    store: GraphStore, uid: str, build_date: str | None
) -> tuple[str | None, list[dict[str, Any]]]:
    rows = store.read(
        "MATCH (u:Entity {uid: $uid})-[:OF_REVISION]->(r:PartRevision) "
        "OPTIONAL MATCH (r)-[l:HAS_COMPONENT]->(p:Part) "
        "WHERE l IS NULL OR ((l.effective_from IS NULL OR l.effective_from <= $day) "
        "AND (l.effective_to IS NULL OR l.effective_to >= $day)) "
        "RETURN r.uid AS revision, p.part_number AS part_number, l.quantity AS quantity, "
        "l.find_number AS find_number, l.child_revision AS child_revision ORDER BY find_number, part_number",
        {"uid": uid, "day": build_date or "9999"},
    )
    revision = rows[0]["revision"] if rows else None
    return revision, [
        {k: v for k, v in row.items() if k != "revision"} for row in rows if row["part_number"]
    ]


def _compare(designed: list[dict[str, Any]], found: list[Item]) -> list[Difference]:
    """Design lines against contained items, matched by find number, else by part number."""
    differences: list[Difference] = []
    remaining = list(found)
    for line in designed:
        same_place = [
            i for i in remaining if line["find_number"] and i.find_number == line["find_number"]
        ]
        same_part = [i for i in remaining if i.part_number == line["part_number"]]
        matched = same_place or same_part
        if not matched:
            differences.append(Difference("missing", line["find_number"], line["part_number"], None,
                                          f"the design has {line['quantity']:g} x {line['part_number']}"))  # fmt: skip
            continue
        for item in matched:
            remaining.remove(item)
        parts = {i.part_number for i in matched}
        uids = [i.uid for i in matched]
        if line["part_number"] not in parts:
            found_parts = ", ".join(sorted(p or "?" for p in parts))
            differences.append(Difference("substituted", line["find_number"], line["part_number"], found_parts,
                                          f"{found_parts} where the design has {line['part_number']}", uids))  # fmt: skip
            continue
        quantity = sum(i.quantity or 1 for i in matched)
        if line["quantity"] is not None and abs(quantity - line["quantity"]) > 1e-9:
            differences.append(Difference("quantity", line["find_number"], line["part_number"], line["part_number"],
                                          f"{quantity:g} where the design has {line['quantity']:g}", uids))  # fmt: skip
        wanted = line.get("child_revision")
        wrong = [i for i in matched if wanted and i.revision and i.revision != wanted]
        if wrong:
            differences.append(Difference("revision", line["find_number"], line["part_number"], line["part_number"],
                                          f"revision {', '.join(sorted({str(i.revision) for i in wrong}))} where the design has {wanted}",
                                          [i.uid for i in wrong]))  # fmt: skip
    for item in remaining:
        differences.append(Difference("extra", item.find_number, None, item.part_number,
                                      f"{item.name} is not in the design", [item.uid]))  # fmt: skip
    return differences


def _unapplied(store: GraphStore, uid: str, unit: dict[str, Any]) -> list[dict[str, Any]]:
    """Released change orders to another revision of the unit's part whose effectivity
    (by date or serial range) covers the unit."""
    rows = store.read(
        "MATCH (u:Entity {uid: $uid})-[:OF_REVISION]->(mine:PartRevision)<-[:HAS_REVISION]-(p:Part) "
        "MATCH (co:ChangeOrder)-[e:CHANGES_TO]->(target:PartRevision)<-[:HAS_REVISION]-(p) "
        "WHERE target.uid <> mine.uid AND coalesce(co.status, 'released') = 'released' "
        "RETURN co.uid AS uid, co.co_number AS co_number, co.title AS title, target.revision AS to_revision, "
        "e.effective_date AS effective_date, e.serial_from AS serial_from, e.serial_to AS serial_to",
        {"uid": uid},
    )
    serial, built = unit.get("serial") or "", unit.get("build_date") or ""
    covering = []
    for row in rows:
        by_serial = row["serial_from"] is not None or row["serial_to"] is not None
        if by_serial:
            covers = (row["serial_from"] or "") <= serial and (
                row["serial_to"] is None or serial <= row["serial_to"]
            )
        else:
            covers = row["effective_date"] is not None and row["effective_date"] <= built
        if covers:
            covering.append({k: v for k, v in row.items() if v is not None})
    return covering


def diff(store: GraphStore, uid: str) -> ConfigurationDiff:
    """As designed vs as built vs as maintained now, and change orders not applied.

    As built is what the unit contained on its build date; as maintained is what it
    contains now; both are compared with the BOM lines of its revision effective on the
    build date.

    Raises:
        NotFoundError: no entity has this uid.
    """
    label, unit = require_entity(store, uid)
    if label != "Unit":
        raise ThreadError(f"{uid} is a {label}; only a Unit has a configuration to compare")
    build_date = unit.get("build_date")
    revision, designed = _designed(store, uid, build_date)
    built = structure(store, uid, at=build_date, depth=1) if build_date else []
    now = [item for item in structure(store, uid, depth=1) if item.current]
    return ConfigurationDiff(
        uid=uid,
        revision=revision,
        build_date=build_date,
        designed=designed,
        built=_compare(designed, built),
        maintained=_compare(designed, now),
        unapplied_change_orders=_unapplied(store, uid, unit),
    )
