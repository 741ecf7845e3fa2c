"""Where a part is used: every assembly revision that contains it, up to the top (as
designed), and every unit that contains one of its serials or lots (as built and now)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from thread.entities import require_entity
from thread.errors import ThreadError
from thread.queries.recall import Exposure, containers
from thread.stores.base import GraphStore

__all__ = ["Usage", "WhereUsed", "where_used"]

_DESIGN = (
    "MATCH (leaf:Part {uid: $uid}) "
    "MATCH path = (leaf)<-[:HAS_COMPONENT|HAS_REVISION*1..40]-(a:PartRevision) "
    "RETURN a.uid AS assembly, a.part_number AS part_number, a.revision AS revision, "
    "[n IN nodes(path) | n.uid] AS path, "
    "[r IN relationships(path) WHERE type(r) = 'HAS_COMPONENT' | r {.quantity, .find_number}] AS lines"
)
_ITEMS = (
    "MATCH (p:Part {uid: $uid})-[:HAS_REVISION]->(r:PartRevision) "
    "WHERE $revision IS NULL OR r.revision = $revision "
    "MATCH (i:Entity)-[:OF_REVISION]->(r) RETURN i.uid AS uid"
)


@dataclass
class Usage:
    """An assembly revision that contains the part, `level` BOM levels above it."""

    assembly: str
    part_number: str
    revision: str
    level: int
    path: list[str]
    lines: list[dict[str, Any]]
    top: bool


@dataclass
class WhereUsed:
    uid: str
    revision: str | None
    designed: list[Usage]
    built: list[Exposure]

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "revision": self.revision,
            "designed": [asdict(u) for u in self.designed],
            "built": [{**asdict(e), "depth": e.depth} for e in self.built],
            "units": sorted({e.unit for e in self.built}),
            "units_now": sorted({e.unit for e in self.built if e.status == "installed"}),
        }


def where_used(store: GraphStore, part: str, *, revision: str | None = None) -> WhereUsed:
    """`part` is a part uid (part:B-500) or a part number (B-500). BOM lines name parts,
    so the design view is the same for every revision; `revision` narrows the as-built
    view to serials and lots of that revision.

    Raises:
        NotFoundError: no such part.
    """
    uid = part if part.startswith("part:") else store.ontology.uid("Part", part)
    label, _ = require_entity(store, uid)
    if label != "Part":
        raise ThreadError(f"{uid} is a {label}, not a Part")
    rows = store.read(_DESIGN, {"uid": uid})
    assemblies = sorted({store.ontology.uid("Part", row["part_number"]) for row in rows})
    used = {
        row["uid"]
        for row in store.read(
            "UNWIND $parts AS p MATCH (:PartRevision)-[:HAS_COMPONENT]->(x:Entity {uid: p}) "
            "RETURN DISTINCT x.uid AS uid",
            {"parts": assemblies},
        )
    }
    designed = [
        Usage(
            row["assembly"],
            row["part_number"],
            row["revision"],
            len(row["lines"]),
            row["path"],
            row["lines"],
            top=store.ontology.uid("Part", row["part_number"]) not in used,
        )
        for row in rows
    ]
    designed.sort(key=lambda u: (u.level, u.assembly))
    items = [row["uid"] for row in store.read(_ITEMS, {"uid": uid, "revision": revision})]
    return WhereUsed(uid, revision, designed, containers(store, items) if items else [])
