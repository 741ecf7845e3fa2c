"""The second step of an import: validated records turned into the writes they need, decided
against the graph before any of them happens.

Planning only reads the store. It compares each record with what the graph holds, so that
a rerun writes only what changed and an unchanged source writes nothing: a node or
relationship is merged (by uid, or by its endpoints and `_key`) only when it is new or one
of its properties differs, and an update clears the `_missing` and `_placeholder` marks.
It resolves what records name but do not hold: references (placeholders with
`--create-missing`, skipped when only optional relationships name them), interval ends
(the relationship in effect at that time) and what this source wrote before and no longer
yields (to be marked missing, never deleted). What only the graph can tell is wrong (a
reference that does not exist, a uid that is already another label) is raised here, still
before the first write. The writing itself, with the run's provenance, is
`thread.pipeline.write`'s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from thread.errors import Problem, ThreadError
from thread.ontology import Ontology
from thread.pipeline.validate import Collected, problem_at, raise_problems
from thread.records import IntervalEnd, NodeRecord, Notice, PropValue, RelRecord
from thread.stores.base import GraphStore, chunked

__all__ = ["Counts", "Plan", "add_summaries", "plan_writes", "resolve_ends"]

_READ_BATCH = 5000


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    disappeared: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.disappeared


@dataclass
class Plan:
    """The writes an import needs, decided before any of them happens, and what they
    amount to per label and relationship type."""

    nodes: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    placeholders: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    rels: dict[tuple[str, str, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    missing_nodes: list[str] = field(default_factory=list)
    missing_rels: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    rel_types: set[str] = field(default_factory=set)
    notices: list[Notice] = field(default_factory=list)
    new_uids: set[str] = field(default_factory=set)
    """Nodes the plan creates (records and placeholders): their relationships are new too."""
    by_label: dict[str, Counts] = field(default_factory=dict)
    by_type: dict[str, Counts] = field(default_factory=dict)


def add_summaries(
    collected: Collected, summaries: Mapping[str, Mapping[str, PropValue]], ontology: Ontology
) -> None:
    """Channel summaries (of the staged samples) become properties of the Channel nodes."""
    for uid, summary in summaries.items():
        record = collected.nodes.get(uid)
        if record is None:
            key = ontology.key_from_uid("Channel", uid)
            collected.nodes[uid] = NodeRecord("Channel", uid, {**key, **summary})
        else:
            collected.nodes[uid] = replace(record, props={**record.props, **summary})


def resolve_ends(store: GraphStore, collected: Collected, error_limit: int) -> None:
    """Turn each IntervalEnd into an update of the relationship it closes: one of this
    import's own records, else the one in the graph that is valid at that time.

    Raises:
        ValidationError: an end names a relationship that is not in effect at its time.
    """
    if not collected.ends:
        return
    open_here: dict[tuple[str, str, str], list[RelRecord]] = defaultdict(list)
    for rec in collected.rels.values():
        open_here[(rec.type, rec.src, rec.dst)].append(rec)
    pending: dict[str, list[tuple[int, IntervalEnd]]] = defaultdict(list)
    for i, end in enumerate(collected.ends):
        candidates = [
            r
            for r in open_here.get((end.type, end.src, end.dst), [])
            if str(r.props.get("valid_from", "")) <= end.at
            and (r.props.get("valid_to") is None or str(r.props["valid_to"]) >= end.at)
        ]
        if candidates:
            rec = max(candidates, key=lambda r: str(r.props.get("valid_from", "")))
            closed = {**rec.props, "valid_to": end.at, **end.props}
            collected.rels[(rec.type, rec.src, rec.dst, rec.key)] = replace(rec, props=closed)
        else:
            pending[end.type].append((i, end))
    problems: list[Problem] = []
    for rel_type, ends in pending.items():
        problems += _end_in_graph(store, collected, rel_type, ends)
    raise_problems(problems, error_limit)


def _end_in_graph(
    store: GraphStore, collected: Collected, rel_type: str, ends: Sequence[tuple[int, IntervalEnd]]
) -> list[Problem]:
    """Close the relationships of one type in the graph that `ends` name; returns the ends
    that name none in effect at their time."""
    query = (
        "UNWIND $rows AS row MATCH (a:Entity {uid: row.src}) MATCH (b:Entity {uid: row.dst}) "
        f"MATCH (a)-[r:`{rel_type}`]->(b) "
        "WHERE r.valid_from <= row.at AND (r.valid_to IS NULL OR r.valid_to >= row.at) "
        "RETURN row.i AS i, r._key AS key, r.valid_from AS valid_from, r._src AS src "
        "ORDER BY i, valid_from"
    )
    rows = [{"i": i, "src": e.src, "dst": e.dst, "at": e.at} for i, e in ends]
    found: dict[int, dict[str, Any]] = {}
    for batch in chunked(rows, _READ_BATCH):
        for row in store.read(query, {"rows": list(batch)}):
            found[row["i"]] = row  # the latest interval that covers `at`
    problems: list[Problem] = []
    for i, end in ends:
        match = found.get(i)
        if match is None:
            problems.append(
                problem_at(
                    end.origin,
                    f"{end.type} {end.src} -> {end.dst} is not in effect on {end.at}: nothing to end",
                )
            )
            continue
        # the relationship keeps the source that created it
        props = {
            "valid_from": match["valid_from"],
            "valid_to": end.at,
            **end.props,
            "_src": match["src"],
        }
        key = (end.type, end.src, end.dst, match["key"])
        collected.rels[key] = RelRecord(
            end.type,
            end.src,
            end.src_label,
            end.dst,
            end.dst_label,
            match["key"],
            props,
            end.origin,
        )
    return problems


def plan_writes(
    store: GraphStore,
    collected: Collected,
    source_id: str,
    *,
    create_missing: bool,
    error_limit: int,
) -> Plan:
    """Decide every write the collected records need; `source_id` is the source's identity
    across runs (what it wrote before and no longer yields is planned as missing).

    Raises:
        ValidationError: a record clashes with the graph, or names a node that does not
            exist (and `create_missing` is off); nothing was written.
    """
    plan = Plan()
    problems = _plan_nodes(store, collected, plan)
    skipped, unresolved = _plan_references(store, collected, create_missing, plan)
    problems += unresolved
    problems.sort(key=lambda p: (p.source, p.line or 0))
    raise_problems(problems, error_limit)
    _plan_relationships(store, collected, skipped, plan)
    _plan_disappeared_nodes(store, collected, source_id, plan)
    _plan_disappeared_rels(store, collected, source_id, plan)
    return plan


def _plan_nodes(store: GraphStore, collected: Collected, plan: Plan) -> list[Problem]:
    """Plan the node records that are new or changed; returns the records whose uid is
    another label in the graph."""
    problems: list[Problem] = []
    state = _record_state(store, collected)
    misfits = [uid for uid, (fits, _) in state.items() if not fits]
    labels = _labels_of(store, misfits) if misfits else {}
    for record in collected.nodes.values():
        counts = plan.by_label.setdefault(record.label, Counts())
        old = state.get(record.uid)
        if old is None:
            counts.created += 1
            plan.new_uids.add(record.uid)
            extra: dict[str, PropValue] = {}
        elif not old[0]:
            found = "/".join(labels.get(record.uid, ["?"]))
            problems.append(
                problem_at(
                    record.origin,
                    f"uid {record.uid} already exists as {found}, not {record.label}",
                )
            )
            continue
        elif old[1]:
            counts.unchanged += 1
            continue
        else:
            counts.updated += 1
            extra = {"_missing": None, "_placeholder": None}
        props = {**record.props, **extra}
        plan.nodes[record.label].append({"uid": record.uid, "props": props})
    return problems


def _plan_references(
    store: GraphStore, collected: Collected, create_missing: bool, plan: Plan
) -> tuple[set[str], list[Problem]]:
    """Plan placeholders for the absent nodes that relationships name; returns the uids
    whose relationships are skipped (only optional ones name them) and the problems."""
    absent = _absent_references(store, collected)
    labels = _labels_of(store, sorted(absent)) if absent else {}
    skipped: set[str] = set()
    problems: list[Problem] = []
    for uid, (label, rec) in absent.items():
        if rec.optional and uid not in labels:
            skipped.add(uid)  # only optional relationships name it: they are skipped
        elif uid in labels:
            problems.append(
                problem_at(
                    rec.origin,
                    f"{rec.type} expects {uid} to be a {label}, it is a {'/'.join(labels[uid])}",
                )
            )
        elif create_missing:
            try:
                key = store.ontology.key_from_uid(label, uid)
            except ThreadError as exc:
                problems.append(problem_at(rec.origin, str(exc)))
                continue
            plan.placeholders[label].append({"uid": uid, "props": key})
            plan.new_uids.add(uid)
        else:
            problems.append(
                problem_at(
                    rec.origin,
                    f"unknown reference: {label} {uid} does not exist (import it first, or pass --create-missing)",
                )
            )
    return skipped, problems


def _plan_relationships(
    store: GraphStore, collected: Collected, skipped: set[str], plan: Plan
) -> None:
    """Plan the relationships that are new or changed; those naming a skipped uid become
    notices."""
    existing_types = _relationship_types(store) if collected.rels else set()
    by_triple: dict[tuple[str, str, str], list[RelRecord]] = defaultdict(list)
    for rec in collected.rels.values():
        if rec.src in skipped or rec.dst in skipped:
            missing = rec.dst if rec.dst in skipped else rec.src
            label = rec.dst_label if missing == rec.dst else rec.src_label
            message = f"{rec.type} {rec.src} -> {rec.dst} skipped: no {label} {missing}"
            plan.notices.append(Notice(message, rec.origin))
            continue
        by_triple[(rec.src_label, rec.type, rec.dst_label)].append(rec)
    for triple, records in by_triple.items():
        rel_type = triple[1]
        counts = plan.by_type.setdefault(rel_type, Counts())
        payload: list[dict[str, Any]] = [
            {"src": r.src, "dst": r.dst, "key": r.key, "props": r.props} for r in records
        ]
        old_rels = {}
        if rel_type in existing_types:
            known = [
                {**row, "i": i}
                for i, row in enumerate(payload)
                if row["src"] not in plan.new_uids and row["dst"] not in plan.new_uids
            ]
            old_rels = _unchanged_rels(store, rel_type, known) if known else {}
        if not old_rels:
            counts.created += len(payload)
            plan.rels[triple] = payload
        for i, row in enumerate(payload if old_rels else ()):
            same = old_rels.get(i)
            if same is None:
                counts.created += 1
            elif same:
                counts.unchanged += 1
                continue
            else:
                counts.updated += 1
                row = {**row, "props": {**row["props"], "_missing": None}}
            plan.rels[triple].append(row)
        plan.rel_types.add(rel_type)


def _plan_disappeared_nodes(
    store: GraphStore, collected: Collected, source_id: str, plan: Plan
) -> None:
    """The nodes this source wrote before and no longer yields (kept, marked missing)."""
    for row in store.read(
        "MATCH (n:Entity {_src: $src}) WHERE n._missing IS NULL RETURN n.uid AS uid, labels(n) AS labels",
        {"src": source_id},
    ):
        if row["uid"] not in collected.nodes:
            plan.missing_nodes.append(row["uid"])
            label = next((lb for lb in row["labels"] if lb != "Entity"), "Entity")
            plan.by_label.setdefault(label, Counts()).disappeared += 1


def _plan_disappeared_rels(
    store: GraphStore, collected: Collected, source_id: str, plan: Plan
) -> None:
    """The relationships this source wrote before and no longer yields, looked for among
    the types its last successful run wrote."""
    previous_types = store.read(
        "MATCH (r:ImportRun {source_id: $src}) WHERE r.status = 'succeeded' "
        "RETURN r.rel_types AS types ORDER BY r.finished DESC LIMIT 1",
        {"src": source_id},
    )
    types = set(previous_types[0]["types"] or []) if previous_types else set()
    current = {(r.type, r.src, r.dst, r.key) for r in collected.rels.values()} if types else set()
    for rel_type in sorted(types & set(store.ontology.relations)):
        for row in store.read(
            f"MATCH (a:Entity)-[r:`{rel_type}`]->(b:Entity) "
            "WHERE r._src = $src AND r._missing IS NULL "
            "RETURN a.uid AS src, b.uid AS dst, r._key AS key",
            {"src": source_id},
        ):
            if (rel_type, row["src"], row["dst"], row["key"]) not in current:
                plan.missing_rels[rel_type].append(row)
                plan.by_type.setdefault(rel_type, Counts()).disappeared += 1
    plan.rel_types |= types


# ------------------------------------------------------------------ read state


def _record_state(store: GraphStore, collected: Collected) -> dict[str, tuple[bool, bool]]:
    """For each record uid already in the graph: (has the record's label, unchanged).

    Unchanged means every property of the record already holds that value (and the
    node is neither marked missing nor a placeholder), so `SET n += props` would change
    nothing. Comparing in the store needs no content hash on every node."""
    by_label: dict[str, list[NodeRecord]] = defaultdict(list)
    for record in collected.nodes.values():
        by_label[record.label].append(record)
    state: dict[str, tuple[bool, bool]] = {}
    for label, records in by_label.items():
        exists = (
            f"UNWIND $uids AS u MATCH (n:Entity {{uid: u}}) RETURN u AS uid, n:`{label}` AS fits"
        )
        compare = (
            "UNWIND $rows AS row MATCH (n:Entity {uid: row.uid}) "
            "RETURN row.uid AS uid, (n._missing IS NULL AND n._placeholder IS NULL "
            "AND all(k IN keys(row.props) WHERE n[k] = row.props[k])) AS same"
        )
        for batch in chunked(records, _READ_BATCH):
            found = store.read(exists, {"uids": [r.uid for r in batch]})
            fits = {row["uid"] for row in found if row["fits"]}
            state.update((row["uid"], (False, False)) for row in found if not row["fits"])
            rows = [{"uid": r.uid, "props": r.props} for r in batch if r.uid in fits]
            if rows:
                for row in store.read(compare, {"rows": rows}):
                    state[row["uid"]] = (True, bool(row["same"]))
    return state


def _absent_references(store: GraphStore, collected: Collected) -> dict[str, tuple[str, RelRecord]]:
    """Relationship endpoints that are neither records of this import nor in the graph
    with the expected label: uid -> (expected label, first relationship naming it)."""
    expected: dict[str, dict[str, RelRecord]] = defaultdict(dict)
    for rec in collected.rels.values():
        for uid, label in ((rec.src, rec.src_label), (rec.dst, rec.dst_label)):
            if uid in collected.nodes:
                continue
            first = expected[label].get(uid)
            if first is None or (first.optional and not rec.optional):
                expected[label][uid] = rec  # a required reference decides
    absent: dict[str, tuple[str, RelRecord]] = {}
    for label, refs in expected.items():
        count = (
            f"UNWIND $uids AS u MATCH (n:Entity {{uid: u}}) WHERE n:`{label}` RETURN count(n) AS c"
        )
        which = (
            f"UNWIND $uids AS u OPTIONAL MATCH (n:Entity {{uid: u}}) WHERE n:`{label}` "
            "WITH u, n WHERE n IS NULL RETURN u AS uid"
        )
        for batch in chunked(sorted(refs), _READ_BATCH):
            params = {"uids": list(batch)}
            if store.read(count, params)[0]["c"] == len(batch):
                continue  # the common case, four times cheaper than listing the absent
            for row in store.read(which, params):
                absent[row["uid"]] = (label, refs[row["uid"]])
    return absent


def _labels_of(store: GraphStore, uids: Sequence[str]) -> dict[str, list[str]]:
    """Labels of existing nodes, for messages about a uid under the wrong label."""
    rows = store.read(
        "UNWIND $uids AS u MATCH (n:Entity {uid: u}) RETURN u AS uid, labels(n) AS labels",
        {"uids": list(uids)},
    )
    return {row["uid"]: sorted(row["labels"]) for row in rows}


def _relationship_types(store: GraphStore) -> set[str]:
    rows = store.read("CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType")
    return {row["relationshipType"] for row in rows}


def _unchanged_rels(
    store: GraphStore, rel_type: str, rows: Sequence[dict[str, Any]]
) -> dict[int, bool]:
    """For each row (by index) whose relationship exists: is it unchanged?"""
    query = (
        "UNWIND $rows AS row MATCH (a:Entity {uid: row.src}) MATCH (b:Entity {uid: row.dst}) "
        f"MATCH (a)-[r:`{rel_type}` {{_key: row.key}}]->(b) "
        "RETURN row.i AS i, (r._missing IS NULL "
        "AND all(k IN keys(row.props) WHERE r[k] = row.props[k])) AS same"
    )
    found: dict[int, bool] = {}
    for batch in chunked(rows, _READ_BATCH):
        for row in store.read(query, {"rows": list(batch)}):
            found[row["i"]] = bool(row["same"])
    return found
