"""How a unit departs from its design (`thread diff`): as built against its revision's BOM
on its build date, as maintained against that build, and the change orders not applied."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from thread.entities import require_entity
from thread.errors import ThreadError
from thread.queries.as_of import Item, structure
from thread.stores.base import GraphStore

__all__ = ["ConfigurationDiff", "Difference", "diff"]


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
