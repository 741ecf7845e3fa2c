"""What a graph holds, for tests that check an import wrote (or did not write) something."""

from __future__ import annotations

from thread.stores import GraphStore

__all__ = ["counts"]


def counts(store: GraphStore) -> tuple[int, int]:
    """The numbers of nodes and relationships in the store's graph."""
    nodes = store.read("MATCH (n) RETURN count(n) AS c")[0]["c"]
    rels = store.read("MATCH ()-[r]->() RETURN count(r) AS c")[0]["c"]
    return nodes, rels
