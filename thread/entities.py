"""Entities by uid, for every reader: the label and public properties of one, and uids that
exist when one does not."""

from __future__ import annotations

import difflib
from typing import Any

from thread.errors import NotFoundError
from thread.records import uid_problem
from thread.stores.base import GraphStore

__all__ = [
    "closest_uids",
    "primary_label",
    "public_props",
    "refuse_impossible",
    "require_entity",
]

_CANDIDATES = 20000


def public_props(props: dict[str, Any]) -> dict[str, Any]:
    """Properties without Thread's bookkeeping (`_run`, `_hash`, `_labels`, …)."""
    return {k: v for k, v in sorted(props.items()) if not k.startswith("_")}


def primary_label(labels: list[str]) -> str:
    """The ontology label of a node (its labels minus the shared `Entity`)."""
    return next((lb for lb in labels if lb != "Entity"), "Entity")


def require_entity(store: GraphStore, uid: str) -> tuple[str, dict[str, Any]]:
    """(label, public properties) of the node `uid`.

    Raises:
        NotFoundError: no node has this uid (with the closest ones).
    """
    refuse_impossible(uid)
    rows = store.read(
        "MATCH (n:Entity {uid: $uid}) RETURN labels(n) AS labels, n AS n", {"uid": uid}
    )
    if not rows:
        raise NotFoundError(uid, closest_uids(store, uid))
    return primary_label(rows[0]["labels"]), public_props(rows[0]["n"])


def refuse_impossible(uid: str) -> None:
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
