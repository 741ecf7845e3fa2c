"""ThreadService: validated records in, an idempotent graph with provenance out.

An import is all-or-nothing per source because FalkorDB has no multi-statement
transactions: every record is collected and checked (ontology, properties, references)
before the first write, writes are MERGEs that a rerun repeats harmlessly, and the
ImportRun node records whether the run finished. Each node and relationship carries a
hash of its properties, so a rerun writes only what changed and an unchanged source
writes nothing at all.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from thread.clock import utc_now
from thread.errors import Problem, StoreError, ThreadError, ValidationError
from thread.ontology import Ontology
from thread.ontology.errors import OntologyError
from thread.pipeline.import_runs import mark_interrupted, process_identity
from thread.records import (
    MAX_INDEXED_BYTES,
    IntervalEnd,
    NodeRecord,
    Notice,
    Origin,
    PropValue,
    Record,
    RelRecord,
    Samples,
    check_props,
    text_too_long,
    uid_problem,
)
from thread.stores.base import GraphStore, chunked
from thread.telemetry.datasets import StagedTelemetry, stage_samples, telemetry_lock

__all__ = [
    "Counts",
    "ImportReport",
    "ProgressCallback",
    "Source",
    "ThreadService",
    "file_sha256",
]

ProgressCallback = Callable[[str, int, int | None], None]
"""`progress(phase, done, total)`: called as work advances; total None when unknown."""

_READ_BATCH = 5000
_PROGRESS_STEP = 50000  # rows per store call between progress reports
_DISAPPEARED_LISTED = 200


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Source:
    """What an import reads. `source_id` is its identity across runs: records that a
    later run of the same source no longer yields are reported as disappeared."""

    importer: str
    path: str
    sha256: str = ""
    source_id: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None  # who asked for the import (a service token's name)

    @property
    def identity(self) -> str:
        return self.source_id or f"{self.importer}:{self.path}"


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
class ImportReport:
    """What an import did (or, on a dry run, would do)."""

    source: str
    importer: str
    sha256: str
    dry_run: bool
    run: str | None = None
    nodes: Counts = field(default_factory=Counts)
    relationships: Counts = field(default_factory=Counts)
    placeholders: int = 0
    samples: int = 0
    by_label: dict[str, Counts] = field(default_factory=dict)
    by_type: dict[str, Counts] = field(default_factory=dict)
    disappeared: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.nodes.changed or self.relationships.changed or self.placeholders)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed"] = self.changed
        return data


@dataclass
class _Collected:
    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    rels: dict[tuple[str, str, str, str], RelRecord] = field(default_factory=dict)
    ends: list[IntervalEnd] = field(default_factory=list)
    samples: list[Samples] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    truncated: bool = False


@dataclass
class _Plan:
    """The writes an import needs, decided before any of them happens."""

    nodes: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    placeholders: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    rels: dict[tuple[str, str, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    missing_nodes: list[str] = field(default_factory=list)
    missing_rels: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    rel_types: set[str] = field(default_factory=set)
    notices: list[Notice] = field(default_factory=list)


class ThreadService:
    """Writes records into a store with validation, idempotence and provenance."""

    def __init__(self, store: GraphStore, *, error_limit: int = 50) -> None:
        self.store = store
        self.ontology: Ontology = store.ontology
        self.error_limit = error_limit

    # ------------------------------------------------------------------ public

    def import_records(
        self,
        records: Iterable[Record],
        source: Source,
        *,
        create_missing: bool = False,
        dry_run: bool = False,
        progress: ProgressCallback | None = None,
    ) -> ImportReport:
        """Validate every record, then write what changed, all or nothing.

        Raises:
            ValidationError: with every problem found (up to the error limit); nothing
                was written.
            SourceError: the importer could not read the source at all.
        """
        mark_interrupted(self.store, utc_now())
        collected = self._collect(records, progress)
        self._validate(collected)
        locked = telemetry_lock(self.store.data_dir) if collected.samples else nullcontext()
        with locked:
            return self._stage_and_write(collected, source, create_missing, dry_run, progress)

    def _stage_and_write(
        self,
        collected: _Collected,
        source: Source,
        create_missing: bool,
        dry_run: bool,
        progress: ProgressCallback | None,
    ) -> ImportReport:
        """Stage the samples, plan, write; the samples land only if the write did."""
        staged = StagedTelemetry()
        try:
            if collected.samples:
                staged = stage_samples(collected.samples, self.store.data_dir, source.identity)
                self._add_summaries(collected, staged)
            self._resolve_ends(collected)
            report = ImportReport(source.path, source.importer, source.sha256, dry_run)
            report.samples = sum(batch.table.num_rows for batch in collected.samples)
            report.warnings = [self._notice_text(n) for n in collected.notices]
            plan = self._plan(collected, source, create_missing, report)
            report.warnings += [self._notice_text(n) for n in plan.notices]
            if not dry_run and report.changed:
                report.run = self._write(plan, source, report, progress)
        except BaseException:
            staged.discard()
            raise
        if dry_run:
            staged.discard()
        else:
            staged.commit()
        return report

    def _add_summaries(self, collected: _Collected, staged: StagedTelemetry) -> None:
        """Channel summaries become properties of the Channel nodes."""
        for uid, summary in staged.summaries.items():
            record = collected.nodes.get(uid)
            if record is None:
                key = self.ontology.key_from_uid("Channel", uid)
                collected.nodes[uid] = NodeRecord("Channel", uid, {**key, **summary})
            else:
                collected.nodes[uid] = replace(record, props={**record.props, **summary})

    def _resolve_ends(self, collected: _Collected) -> None:
        """Turn each IntervalEnd into an update of the relationship it closes: one of this
        import's own records, else the one in the graph that is valid at that time."""
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
                for row in self.store.read(query, {"rows": list(batch)}):
                    found[row["i"]] = row  # the latest interval that covers `at`
            for i, end in ends:
                row = found.get(i)
                if row is None:
                    problems.append(
                        _problem(
                            end.origin,
                            f"{end.type} {end.src} -> {end.dst} is not in effect on {end.at}: nothing to end",
                        )
                    )
                    continue
                # the relationship keeps the source that created it
                props = {
                    "valid_from": row["valid_from"],
                    "valid_to": end.at,
                    **end.props,
                    "_src": row["src"],
                }
                key = (end.type, end.src, end.dst, row["key"])
                collected.rels[key] = RelRecord(
                    end.type,
                    end.src,
                    end.src_label,
                    end.dst,
                    end.dst_label,
                    row["key"],
                    props,
                    end.origin,
                )
        if problems:
            raise ValidationError(problems[: self.error_limit], len(problems) > self.error_limit)

    # ------------------------------------------------------------------ collect

    def _collect(self, records: Iterable[Record], progress: ProgressCallback | None) -> _Collected:
        out = _Collected()
        for count, record in enumerate(records, 1):
            if isinstance(record, NodeRecord):
                self._add_node(out, record)
            elif isinstance(record, RelRecord):
                key = (record.type, record.src, record.dst, record.key)
                previous = out.rels.get(key)
                out.rels[key] = (
                    record
                    if previous is None
                    else replace(record, props={**previous.props, **record.props})
                )
            elif isinstance(record, IntervalEnd):
                out.ends.append(record)
            elif isinstance(record, Samples):
                out.samples.append(record)
            elif isinstance(record, Problem):
                out.problems.append(record)
            elif isinstance(record, Notice):
                out.notices.append(record)
            else:
                raise TypeError(f"importers yield records, not {type(record).__name__}")
            if len(out.problems) >= self.error_limit:
                out.truncated = True
                break
            if progress and count % 10000 == 0:
                progress("reading", count, None)
        if out.problems:
            raise ValidationError(out.problems, out.truncated)
        return out

    def _add_node(self, out: _Collected, record: NodeRecord) -> None:
        previous = out.nodes.get(record.uid)
        if previous is None:
            out.nodes[record.uid] = record
        elif previous.label != record.label:
            out.problems.append(
                _problem(
                    record.origin,
                    f"uid {record.uid} is a {previous.label} above, not a {record.label}",
                )
            )
        else:
            merged = {**previous.props, **record.props}
            out.nodes[record.uid] = NodeRecord(record.label, record.uid, merged, previous.origin)

    # ------------------------------------------------------------------ validate

    def _validate(self, collected: _Collected) -> None:
        problems: list[Problem] = []
        onto = self.ontology
        by_label: dict[str, list[NodeRecord]] = defaultdict(list)
        for record in collected.nodes.values():
            by_label[record.label].append(record)
        for label, records in by_label.items():
            try:
                info = onto.node_class(label)
            except ThreadError as exc:
                problems.append(_problem(records[0].origin, str(exc)))
                continue
            indexed = [prop for index_label, prop in onto.indexes if index_label == label]
            for record in records:
                wrong = uid_problem(record.uid)
                if wrong:
                    problems.append(_problem(record.origin, f"uid {_shown(record.uid)} {wrong}"))
                    continue
                for prop in indexed:
                    value = record.props.get(prop)
                    size = text_too_long(value, MAX_INDEXED_BYTES) if type(value) is str else None
                    if size:
                        problems.append(
                            _problem(
                                record.origin,
                                f"{label} {prop} is {size} bytes long; an indexed property may "
                                f"hold at most {MAX_INDEXED_BYTES} bytes",
                            )
                        )
                if not record.uid.startswith(info.uid_prefix + ":"):
                    problems.append(
                        _problem(
                            record.origin,
                            f"uid {record.uid!r} of a {label} must start with '{info.uid_prefix}:'",
                        )
                    )
                missing = [p for p in info.required if record.props.get(p) in (None, "")]
                if missing:
                    problems.append(
                        _problem(record.origin, f"{label} {record.uid} lacks {', '.join(missing)}")
                    )
                bad = check_props(record.props)
                if bad:
                    problems.append(_problem(record.origin, f"{label} {record.uid}: {bad}"))
        by_triple: dict[tuple[str, str, str], list[RelRecord]] = defaultdict(list)
        for rec in collected.rels.values():
            by_triple[(rec.src_label, rec.type, rec.dst_label)].append(rec)
        for (src_label, rel_type, dst_label), records in by_triple.items():
            try:
                onto.check_triple(src_label, rel_type, dst_label)
            except ThreadError as exc:
                problems.append(_problem(records[0].origin, str(exc)))
                continue
            temporal = onto.relation(rel_type).temporal
            nodes = collected.nodes
            for rec in records:
                src, dst = rec.src, rec.dst
                for uid in (src, dst):
                    wrong = uid_problem(uid)
                    if wrong:
                        problems.append(
                            _problem(
                                rec.origin, f"{rel_type} names uid {_shown(uid)}, which {wrong}"
                            )
                        )
                if nodes:
                    for uid, label in ((src, src_label), (dst, dst_label)):
                        known = nodes.get(uid)
                        if known is not None and known.label != label:
                            problems.append(
                                _problem(
                                    rec.origin,
                                    f"{rel_type} expects {uid} to be a {label}, it is a {known.label}",
                                )
                            )
                if temporal and not rec.props.get("valid_from"):
                    problems.append(
                        _problem(rec.origin, f"{rel_type} {rec.src} -> {rec.dst} needs valid_from")
                    )
                bad = check_props(rec.props) if rec.props else None
                if bad:
                    problems.append(
                        _problem(rec.origin, f"{rel_type} {rec.src} -> {rec.dst}: {bad}")
                    )
            if len(problems) >= self.error_limit:
                break
        for end in collected.ends:
            try:
                onto.check_triple(end.src_label, end.type, end.dst_label)
                if not onto.relation(end.type).temporal:
                    raise OntologyError(f"{end.type} has no interval to end")
            except ThreadError as exc:
                problems.append(_problem(end.origin, str(exc)))
            bad = check_props(end.props)
            if bad:
                problems.append(_problem(end.origin, f"{end.type} {end.src} -> {end.dst}: {bad}"))
        if problems:
            raise ValidationError(problems[: self.error_limit], len(problems) > self.error_limit)

    # ------------------------------------------------------------------ read state

    def _record_state(self, collected: _Collected) -> dict[str, tuple[bool, bool]]:
        """For each record uid already in the graph: (has the record's label, unchanged).

        Unchanged means every property of the record already holds that value (and the
        node is neither marked missing nor a placeholder), so `SET n += props` would change
        nothing. Comparing in the store needs no content hash on every node."""
        by_label: dict[str, list[NodeRecord]] = defaultdict(list)
        for record in collected.nodes.values():
            by_label[record.label].append(record)
        state: dict[str, tuple[bool, bool]] = {}
        for label, records in by_label.items():
            exists = f"UNWIND $uids AS u MATCH (n:Entity {{uid: u}}) RETURN u AS uid, n:`{label}` AS fits"
            compare = (
                "UNWIND $rows AS row MATCH (n:Entity {uid: row.uid}) "
                "RETURN row.uid AS uid, (n._missing IS NULL AND n._placeholder IS NULL "
                "AND all(k IN keys(row.props) WHERE n[k] = row.props[k])) AS same"
            )
            for batch in chunked(records, _READ_BATCH):
                found = self.store.read(exists, {"uids": [r.uid for r in batch]})
                fits = {row["uid"] for row in found if row["fits"]}
                state.update((row["uid"], (False, False)) for row in found if not row["fits"])
                rows = [{"uid": r.uid, "props": r.props} for r in batch if r.uid in fits]
                if rows:
                    for row in self.store.read(compare, {"rows": rows}):
                        state[row["uid"]] = (True, bool(row["same"]))
        return state

    def _absent_references(self, collected: _Collected) -> dict[str, tuple[str, RelRecord]]:
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
            count = f"UNWIND $uids AS u MATCH (n:Entity {{uid: u}}) WHERE n:`{label}` RETURN count(n) AS c"
            which = (
                f"UNWIND $uids AS u OPTIONAL MATCH (n:Entity {{uid: u}}) WHERE n:`{label}` "
                "WITH u, n WHERE n IS NULL RETURN u AS uid"
            )
            for batch in chunked(sorted(refs), _READ_BATCH):
                params = {"uids": list(batch)}
                if self.store.read(count, params)[0]["c"] == len(batch):
                    continue  # the common case, four times cheaper than listing the absent
                for row in self.store.read(which, params):
                    absent[row["uid"]] = (label, refs[row["uid"]])
        return absent

    def _labels_of(self, uids: Sequence[str]) -> dict[str, list[str]]:
        """Labels of existing nodes, for messages about a uid under the wrong label."""
        rows = self.store.read(
            "UNWIND $uids AS u MATCH (n:Entity {uid: u}) RETURN u AS uid, labels(n) AS labels",
            {"uids": list(uids)},
        )
        return {row["uid"]: sorted(row["labels"]) for row in rows}

    def _relationship_types(self) -> set[str]:
        rows = self.store.read(
            "CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType"
        )
        return {row["relationshipType"] for row in rows}

    def _unchanged_rels(self, rel_type: str, rows: Sequence[dict[str, Any]]) -> dict[int, bool]:
        """For each row (by index) whose relationship exists: is it unchanged?"""
        query = (
            "UNWIND $rows AS row MATCH (a:Entity {uid: row.src}) MATCH (b:Entity {uid: row.dst}) "
            f"MATCH (a)-[r:`{rel_type}` {{_key: row.key}}]->(b) "
            "RETURN row.i AS i, (r._missing IS NULL "
            "AND all(k IN keys(row.props) WHERE r[k] = row.props[k])) AS same"
        )
        found: dict[int, bool] = {}
        for batch in chunked(rows, _READ_BATCH):
            for row in self.store.read(query, {"rows": list(batch)}):
                found[row["i"]] = bool(row["same"])
        return found

    # ------------------------------------------------------------------ plan

    def _plan(
        self, collected: _Collected, source: Source, create_missing: bool, report: ImportReport
    ) -> _Plan:
        plan = _Plan()
        problems: list[Problem] = []
        state = self._record_state(collected)
        misfits = [uid for uid, (fits, _) in state.items() if not fits]
        labels = self._labels_of(misfits) if misfits else {}
        new_uids: set[str] = set()
        for record in collected.nodes.values():
            counts = report.by_label.setdefault(record.label, Counts())
            old = state.get(record.uid)
            if old is None:
                counts.created += 1
                new_uids.add(record.uid)
                extra: dict[str, PropValue] = {}
            elif not old[0]:
                found = "/".join(labels.get(record.uid, ["?"]))
                problems.append(
                    _problem(
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

        absent = self._absent_references(collected)
        labels = self._labels_of(sorted(absent)) if absent else {}
        skipped: set[str] = set()
        for uid, (label, rec) in absent.items():
            if rec.optional and uid not in labels:
                skipped.add(uid)  # only optional relationships name it: they are skipped
            elif uid in labels:
                problems.append(
                    _problem(
                        rec.origin,
                        f"{rec.type} expects {uid} to be a {label}, it is a {'/'.join(labels[uid])}",
                    )
                )
            elif create_missing:
                try:
                    key = self.ontology.key_from_uid(label, uid)
                except ThreadError as exc:
                    problems.append(_problem(rec.origin, str(exc)))
                    continue
                plan.placeholders[label].append({"uid": uid, "props": key})
                new_uids.add(uid)
            else:
                problems.append(
                    _problem(
                        rec.origin,
                        f"unknown reference: {label} {uid} does not exist (import it first, or pass --create-missing)",
                    )
                )
        if problems:
            problems.sort(key=lambda p: (p.source, p.line or 0))
            raise ValidationError(problems[: self.error_limit], len(problems) > self.error_limit)
        report.placeholders = sum(len(rows) for rows in plan.placeholders.values())

        existing_types = self._relationship_types() if collected.rels else set()
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
            counts = report.by_type.setdefault(rel_type, Counts())
            payload = [
                {"src": r.src, "dst": r.dst, "key": r.key, "props": r.props} for r in records
            ]
            old_rels = {}
            if rel_type in existing_types:
                known = [
                    {**row, "i": i}
                    for i, row in enumerate(payload)
                    if row["src"] not in new_uids and row["dst"] not in new_uids
                ]
                old_rels = self._unchanged_rels(rel_type, known) if known else {}
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

        self._plan_disappeared(collected, source, plan, report)
        for label_counts in report.by_label.values():
            _add(report.nodes, label_counts)
        for type_counts in report.by_type.values():
            _add(report.relationships, type_counts)
        return plan

    def _plan_disappeared(
        self, collected: _Collected, source: Source, plan: _Plan, report: ImportReport
    ) -> None:
        """Find what this source wrote before and no longer yields (kept, marked missing)."""
        src = source.identity
        for row in self.store.read(
            "MATCH (n:Entity {_src: $src}) WHERE n._missing IS NULL RETURN n.uid AS uid, labels(n) AS labels",
            {"src": src},
        ):
            if row["uid"] not in collected.nodes:
                plan.missing_nodes.append(row["uid"])
                label = next((lb for lb in row["labels"] if lb != "Entity"), "Entity")
                report.by_label.setdefault(label, Counts()).disappeared += 1
        previous_types = self.store.read(
            "MATCH (r:ImportRun {source_id: $src}) WHERE r.status = 'succeeded' "
            "RETURN r.rel_types AS types ORDER BY r.finished DESC LIMIT 1",
            {"src": src},
        )
        types = set(previous_types[0]["types"] or []) if previous_types else set()
        current = (
            {(r.type, r.src, r.dst, r.key) for r in collected.rels.values()} if types else set()
        )
        for rel_type in sorted(types & set(self.ontology.relations)):
            for row in self.store.read(
                f"MATCH (a:Entity)-[r:`{rel_type}`]->(b:Entity) "
                "WHERE r._src = $src AND r._missing IS NULL "
                "RETURN a.uid AS src, b.uid AS dst, r._key AS key",
                {"src": src},
            ):
                if (rel_type, row["src"], row["dst"], row["key"]) not in current:
                    plan.missing_rels[rel_type].append(row)
                    report.by_type.setdefault(rel_type, Counts()).disappeared += 1
        plan.rel_types |= types
        listed = plan.missing_nodes + [
            f"{r['src']} -[{t}]-> {r['dst']}" for t, rows in plan.missing_rels.items() for r in rows
        ]
        report.disappeared = listed[:_DISAPPEARED_LISTED]

    # ------------------------------------------------------------------ write

    def _write(
        self, plan: _Plan, source: Source, report: ImportReport, progress: ProgressCallback | None
    ) -> str:
        now = utc_now()
        run_uid = self.ontology.uid(
            "ImportRun", f"{now.replace('-', '').replace(':', '')}-{secrets.token_hex(3)}"
        )
        src = source.identity
        total = (
            sum(len(r) for r in plan.nodes.values())
            + sum(len(r) for r in plan.placeholders.values())
            + sum(len(r) for r in plan.rels.values())
        )
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            if progress:
                progress("writing", done, total)

        run_props: dict[str, PropValue] = {
            "run_id": run_uid.split(":", 1)[1],
            "importer": source.importer,
            "source": source.path,
            "source_id": src,
            "sha256": source.sha256,
            "options": json.dumps(dict(source.options), sort_keys=True, default=str),
            "started": now,
            "status": "running",
            "actor": source.actor,
            **process_identity(),
            "_updated": now,
        }
        self.store.upsert_nodes("ImportRun", [{"uid": run_uid, "props": run_props}])
        try:
            common = {"_run": run_uid, "_updated": now, "_src": src}
            for label, rows in plan.nodes.items():
                for batch in chunked(rows, _PROGRESS_STEP):
                    self.store.upsert_nodes(label, batch, common)
                    advance(len(batch))
            holder = {"_run": run_uid, "_updated": now, "_placeholder": True}
            for label, rows in plan.placeholders.items():
                self.store.upsert_nodes(label, rows, holder)
                advance(len(rows))
            for (src_label, rel_type, dst_label), rows in plan.rels.items():
                for batch in chunked(rows, _PROGRESS_STEP):
                    written = self.store.upsert_relationships(
                        rel_type, src_label, dst_label, batch, common
                    )
                    if written != len(batch):
                        raise StoreError(
                            f"{rel_type}: {len(batch) - written} relationship(s) lost an endpoint "
                            "while importing (deleted concurrently?); rerun the import"
                        )
                    advance(len(batch))
            self._mark_missing(plan, run_uid, now)
            self._finish(run_uid, "succeeded", report, plan, None, done)
        except BaseException as exc:
            self._finish(run_uid, "failed", report, plan, exc, done)
            raise
        return run_uid

    def _mark_missing(self, plan: _Plan, run_uid: str, now: str) -> None:
        mark = {"missing": True, "run": run_uid, "now": now}
        for batch in chunked(plan.missing_nodes, _READ_BATCH):
            self.store.write(
                "UNWIND $uids AS u MATCH (n:Entity {uid: u}) "
                "SET n._missing = $missing, n._missing_since = $now, n._run = $run, n._updated = $now",
                {"uids": list(batch), **mark},
            )
        for rel_type, rows in plan.missing_rels.items():
            for batch in chunked(rows, _READ_BATCH):
                self.store.write(
                    f"UNWIND $rows AS row MATCH (a:Entity {{uid: row.src}})-[r:`{rel_type}` {{_key: row.key}}]->"
                    "(b:Entity {uid: row.dst}) "
                    "SET r._missing = $missing, r._missing_since = $now, r._run = $run, r._updated = $now",
                    {"rows": list(batch), **mark},
                )

    def _finish(
        self,
        run_uid: str,
        status: str,
        report: ImportReport,
        plan: _Plan,
        exc: BaseException | None,
        written: int,
    ) -> None:
        """Record how the run ended; `written` is how many nodes and relationships were
        written before it did, so a failed run says how far it got (a rerun converges)."""
        props: dict[str, PropValue] = {
            "status": status,
            "rows_written": written,
            "finished": utc_now(),
            "nodes_created": report.nodes.created,
            "nodes_updated": report.nodes.updated,
            "nodes_unchanged": report.nodes.unchanged,
            "nodes_disappeared": report.nodes.disappeared,
            "rels_created": report.relationships.created,
            "rels_updated": report.relationships.updated,
            "rels_unchanged": report.relationships.unchanged,
            "rels_disappeared": report.relationships.disappeared,
            "placeholders": report.placeholders,
            "samples": report.samples,
            "warnings": report.warnings[:_DISAPPEARED_LISTED],
            "rel_types": sorted(plan.rel_types),
            "error": None if exc is None else f"{type(exc).__name__}: {exc}"[:2000],
        }
        try:
            self.store.upsert_nodes("ImportRun", [{"uid": run_uid, "props": props}])
        except ThreadError:
            if exc is None:
                raise
            # the store is gone too; the run stays 'running' and the original error wins

    @staticmethod
    def _notice_text(notice: Notice) -> str:
        if notice.origin is None:
            return notice.message
        return str(notice.origin.problem(notice.message))


def _shown(uid: str) -> str:
    """A uid as a message shows it: quoted, and cut after 60 characters."""
    return repr(uid) if len(uid) <= 60 else f"{uid[:60]!r}…"


def _problem(origin: Origin | None, message: str) -> Problem:
    return origin.problem(message) if origin else Problem("<records>", message)


def _add(total: Counts, part: Counts) -> None:
    total.created += part.created
    total.updated += part.updated
    total.unchanged += part.unchanged
    total.disappeared += part.disappeared
