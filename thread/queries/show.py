"""One entity with its properties, provenance and neighbours (`thread show`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thread.entities import closest_uids, primary_label, public_props, refuse_impossible
from thread.errors import NotFoundError
from thread.stores.base import GraphStore

__all__ = ["EntityView", "Neighbour", "get_entity"]


@dataclass
class Neighbour:
    direction: str  # "out" or "in"
    type: str
    uid: str
    label: str
    name: str | None
    props: dict[str, Any]


@dataclass
class EntityView:
    uid: str
    label: str
    props: dict[str, Any]
    provenance: dict[str, Any]
    neighbours: list[Neighbour] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "label": self.label,
            "properties": self.props,
            "provenance": self.provenance,
            "neighbours": [n.__dict__ for n in self.neighbours],
        }


def get_entity(store: GraphStore, uid: str, neighbour_limit: int = 200) -> EntityView:
    """The node `uid` with its properties and up to `neighbour_limit` neighbours.

    Raises:
        NotFoundError: no node has this uid (the message lists the closest ones).
    """
    refuse_impossible(uid)
    rows = store.read("MATCH (n:Entity {uid: $uid}) RETURN n", {"uid": uid})
    if not rows:
        raise NotFoundError(uid, closest_uids(store, uid))
    node = rows[0]["n"]
    view = EntityView(
        uid=uid,
        label=primary_label(node["_labels"]),
        props=public_props(node),
        provenance={
            k: v
            for k, v in sorted(node.items())
            if k.startswith("_") and k not in ("_labels", "_hash")
        },
    )
    for direction, pattern in (("out", "(n)-[r]->(m)"), ("in", "(n)<-[r]-(m)")):
        for row in store.read(
            f"MATCH (n:Entity {{uid: $uid}}) MATCH {pattern} "
            "RETURN type(r) AS type, m.uid AS uid, labels(m) AS labels, m.name AS name, r AS r "
            "ORDER BY type, uid LIMIT $limit",
            {"uid": uid, "limit": neighbour_limit},
        ):
            view.neighbours.append(
                Neighbour(
                    direction,
                    row["type"],
                    row["uid"],
                    primary_label(row["labels"]),
                    row["name"],
                    public_props(row["r"]),
                )
            )
    return view
