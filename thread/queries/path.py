"""The shortest chain of relationships between two entities, in either direction, and why.

A bidirectional breadth-first search over parameterised neighbour reads: it behaves the
same on both stores (FalkorDB's shortestPath only follows one direction) and stops
expanding when a frontier grows past `max_frontier`, instead of sweeping a hub's fleet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thread.diagram import Diagram
from thread.entities import primary_label, require_entity
from thread.stores.base import GraphStore

__all__ = ["Hop", "PathResult", "shortest_path"]

_NEIGHBOURS = (
    "UNWIND $uids AS u MATCH (n:Entity {uid: u})-[r]-(m:Entity) "
    "RETURN u AS src, m.uid AS dst, type(r) AS type, startNode(r) = n AS outgoing, "
    "r {.valid_from, .valid_to, .quantity, .find_number} AS props"
)


@dataclass
class Hop:
    """One relationship on the path; `forward` when it points from the earlier node."""

    src: str
    dst: str
    type: str
    forward: bool
    props: dict[str, Any]

    def sentence(self) -> str:
        subject, obj = (self.src, self.dst) if self.forward else (self.dst, self.src)
        details = ", ".join(f"{k} {v}" for k, v in self.props.items() if v is not None)
        return f"{subject} {self.type} {obj}" + (f" ({details})" if details else "")


@dataclass
class PathResult:
    source: str
    target: str
    nodes: list[dict[str, Any]]
    hops: list[Hop]

    @property
    def found(self) -> bool:
        return bool(self.nodes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "found": self.found,
            "length": len(self.hops),
            "nodes": self.nodes,
            "hops": [{**h.__dict__, "why": h.sentence()} for h in self.hops],
        }

    def to_diagram(self) -> Diagram:
        diagram = Diagram()
        for node in self.nodes:
            diagram.node(node["uid"], f"{node['label']}\n{node['uid']}")
        for hop in self.hops:
            src, dst = (hop.src, hop.dst) if hop.forward else (hop.dst, hop.src)
            diagram.edge(src, dst, hop.type)
        return diagram


def _expand(store: GraphStore, frontier: list[str]) -> list[dict[str, Any]]:
    return store.read(_NEIGHBOURS, {"uids": frontier})


def shortest_path(
    store: GraphStore, source: str, target: str, *, max_hops: int = 12, max_frontier: int = 20000
) -> PathResult:
    """The shortest chain between two uids (not found: an empty result, not an error).

    Raises:
        NotFoundError: either uid does not exist.
    """
    require_entity(store, source)
    require_entity(store, target)
    if source == target:
        return PathResult(source, target, _describe(store, [source]), [])
    # parents[side][uid] = (previous uid, hop) on the way from that side's start
    parents: list[dict[str, tuple[str, Hop] | None]] = [{source: None}, {target: None}]
    frontiers = [[source], [target]]
    meeting = None
    for _ in range(max_hops):
        side = 0 if len(frontiers[0]) <= len(frontiers[1]) else 1
        if not frontiers[side] or len(frontiers[side]) > max_frontier:
            break
        following: list[str] = []
        for row in _expand(store, frontiers[side]):
            if row["dst"] in parents[side]:
                continue
            hop = Hop(
                row["src"], row["dst"], row["type"], bool(row["outgoing"]), row["props"] or {}
            )
            parents[side][row["dst"]] = (row["src"], hop)
            following.append(row["dst"])
            if row["dst"] in parents[1 - side]:
                meeting = row["dst"]
                break
        frontiers[side] = following
        if meeting:
            break
    if meeting is None:
        return PathResult(source, target, [], [])
    forward: list[Hop] = []
    uid = meeting
    while (step := parents[0][uid]) is not None:
        forward.insert(0, step[1])
        uid = step[0]
    uid = meeting
    while (step := parents[1][uid]) is not None:
        back = step[1]
        forward.append(Hop(back.dst, back.src, back.type, not back.forward, back.props))
        uid = step[0]
    order = [source, *(h.dst for h in forward)]
    return PathResult(source, target, _describe(store, order), forward)


def _describe(store: GraphStore, uids: list[str]) -> list[dict[str, Any]]:
    rows = store.read(
        "UNWIND $uids AS u MATCH (n:Entity {uid: u}) RETURN u AS uid, labels(n) AS labels, "
        "coalesce(n.name, n.serial, n.lot_id, n.work_order, n.uid) AS name",
        {"uids": uids},
    )
    found = {
        r["uid"]: {"uid": r["uid"], "label": primary_label(r["labels"]), "name": r["name"]}
        for r in rows
    }
    return [found[uid] for uid in uids]
