"""What a store holds: counts per label and relationship type, and recent import runs;
and, when asked, the repair of what a killed process left behind."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from thread.clock import utc_now
from thread.pipeline.import_runs import mark_interrupted
from thread.pipeline.twins import repair_twins
from thread.stores.base import GraphStore

__all__ = ["StoreStatus", "store_status"]


@dataclass
class StoreStatus:
    store: str
    kind: str
    server: dict[str, Any]
    labels: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)
    import_runs: list[dict[str, Any]] = field(default_factory=list)
    audit_runs: list[dict[str, Any]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def nodes(self) -> int:
        return sum(self.labels.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "nodes": self.nodes,
            "relationship_count": sum(self.relationships.values()),
        }


def store_status(store: GraphStore, runs: int = 10, *, repair: bool = False) -> StoreStatus:
    """Counts per label (without the shared Entity label), per relationship type, and the
    latest `runs` import runs and audit runs, newest first.

    With `repair`, first mend what killed processes left: import runs whose process died
    are marked `interrupted`, and twins an import's changes never reached are refreshed
    (`repaired` says what was done). The HTTP service asks without it: a read changes
    nothing."""
    status = StoreStatus(store.description, store.kind, store.server_status())
    if repair:
        interrupted = mark_interrupted(store, utc_now())
        if interrupted:
            status.repaired.append(
                f"marked {len(interrupted)} import run(s) whose process died as interrupted"
            )
        twins = repair_twins(store)
        if twins is not None:
            status.repaired.append(
                f"refreshed the twins, which an import's changes had not reached "
                f"({twins.nodes.created} created, {twins.nodes.updated} updated)"
            )
    for row in store.read(
        "MATCH (n:Entity) UNWIND labels(n) AS label WITH label WHERE label <> 'Entity' "
        "RETURN label, count(*) AS count ORDER BY label"
    ):
        status.labels[row["label"]] = row["count"]
    for row in store.read(
        "MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS count ORDER BY type"
    ):
        status.relationships[row["type"]] = row["count"]
    status.import_runs = store.read(
        "MATCH (r:ImportRun) WHERE r.importer <> 'audit' RETURN r.uid AS uid, r.importer AS importer, r.source AS source, "
        "r.status AS status, r.started AS started, r.finished AS finished, "
        # nodes and relationships alike: a BOM import creates relationships only
        "coalesce(r.nodes_created, 0) + coalesce(r.rels_created, 0) AS created, "
        "coalesce(r.nodes_updated, 0) + coalesce(r.rels_updated, 0) AS updated, "
        "coalesce(r.nodes_disappeared, 0) + coalesce(r.rels_disappeared, 0) AS disappeared "
        "ORDER BY r.started DESC, r.uid DESC LIMIT $runs",
        {"runs": runs},
    )
    status.audit_runs = store.read(
        "MATCH (a:AuditRun) RETURN a.uid AS uid, a.status AS status, a.as_of AS as_of, "
        "a.finished AS finished, a.failed AS failed, a.violations AS violations, "
        "a.new_violations AS new ORDER BY a.finished DESC, a.uid DESC LIMIT $runs",
        {"runs": runs},
    )
    return status
