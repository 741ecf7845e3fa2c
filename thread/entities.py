"""Looking up one entity by uid, with its neighbours, and suggesting uids that exist."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from thread.errors import NotFoundError
from thread.records import uid_problem
from thread.stores.base import GraphStore

__all__ = [
    "EntityView",
    "Neighbour",
    "closest_uids",
    "get_entity",
    "primary_label",
    "public_props",
    "require_entity",
]

_CANDIDATES = 20000


def public_props(props: dict[str, Any]) -> dict[str, Any]:
    """Properties without Thread's bookkeeping (`_run`, `_hash`, `_labels`, …)."""
    return {k: v for k, v in sorted(props.items()) if not k.startswith("_")}


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


def primary_label(labels: list[str]) -> str:
    """The ontology label of a node (its labels minus the shared `Entity`)."""
    return next((lb for lb in labels if lb != "Entity"), "Entity")


def require_entity(store: GraphStore, uid: str) -> tuple[str, dict[str, Any]]:
    """(label, public properties) of the node `uid`.

    Raises:
        NotFoundError: no node has this uid (with the closest ones).
    """
    _refuse_impossible(uid)
    rows = store.read(
        "MATCH (n:Entity {uid: $uid}) RETURN labels(n) AS labels, n AS n", {"uid": uid}
    )
    if not rows:
        raise NotFoundError(uid, closest_uids(store, uid))
    return primary_label(rows[0]["labels"]), public_props(rows[0]["n"])


def _refuse_impossible(uid: str) -> None:
    """A uid no node can have (a NUL or other control character, outer blanks, too long)
    is not found: asking the store would only give its parser's complaint."""
    if uid_problem(uid):
        raise NotFoundError(uid)


def closest_uids(store: GraphStore, uid: str, limit: int = 5) -> list[str]:
    """Existing uids that look like `uid` (same prefix first), for 'did you mean'."""
    prefix = uid.split(":", 1)[0] + ":" if ":" in uid else ""
    rows = store.read(
        "MATCH (n:Entity) WHERE n.uid STARTS WITH $prefix RETURN n.uid AS uid LIMIT $limit",
        {"prefix": prefix, "limit": _CANDIDATES},
    )
    candidates = [r["uid"] for r in rows]
    return difflib.get_close_matches(uid, candidates, n=limit, cutoff=0.5)


def get_entity(store: GraphStore, uid: str, neighbour_limit: int = 200) -> EntityView:
    """The node `uid` with its properties and up to `neighbour_limit` neighbours.

    Raises:
        NotFoundError: no node has this uid (the message lists the closest ones).
    """
    _refuse_impossible(uid)
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
