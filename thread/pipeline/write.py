"""The last step of an import: the plan run against the store, with the run's provenance.

An import is all-or-nothing per source because FalkorDB has no multi-statement
transactions: every record is collected and checked first (`thread.pipeline.validate`),
then every write is decided against the graph (`thread.pipeline.plan`), and only then does
the first write happen. Writes are MERGEs that a rerun repeats harmlessly, each node and
relationship carries the ImportRun (`_run`, `_updated`, `_src`), and the ImportRun node is
written `running` before the first write and `succeeded` or `failed` after the last, so a
rerun after any failure converges. Staged telemetry lands only if the graph write did.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from thread.clock import utc_now
from thread.errors import StoreError, ThreadError
from thread.ontology import Ontology
from thread.pipeline.import_runs import mark_interrupted, process_identity
from thread.pipeline.plan import Counts, Plan, add_summaries, plan_writes, resolve_ends
from thread.pipeline.validate import Collected, collect, validate
from thread.records import Notice, PropValue, Record
from thread.stores.base import GraphStore, chunked
from thread.telemetry.datasets import (
    StagedTelemetry,
    channel_folder,
    part_name,
    stage_samples,
    telemetry_lock,
)

__all__ = [
    "ImportReport",
    "ProgressCallback",
    "Source",
    "ThreadService",
    "file_sha256",
]

ProgressCallback = Callable[[str, int, int | None], None]
"""`progress(phase, done, total)`: called as work advances; total None when unknown."""

_READING_STEP = 10000  # records read between progress reports
_PROGRESS_STEP = 50000  # rows per store call between progress reports
_MARK_BATCH = 5000  # uids or relationships per statement marking them missing
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
    later run of the same source no longer yields are reported as disappeared.

    `previous_ids` are keys the same source may have had before (an earlier version of
    Thread keyed files by absolute path): when no run of the source's own key exists, the
    first of them that has runs is continued, and what it wrote moves to the new key."""

    importer: str
    path: str
    sha256: str = ""
    source_id: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None  # who asked for the import (a service token's name)
    previous_ids: tuple[str, ...] = ()

    @property
    def identity(self) -> str:
        return self.source_id or f"{self.importer}:{self.path}"


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
    source_id: str = ""
    new_source: bool = False
    """No earlier run of `source_id`: nothing could have disappeared, nothing is marked."""

    @property
    def changed(self) -> bool:
        return bool(self.nodes.changed or self.relationships.changed or self.placeholders)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed"] = self.changed
        return data


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
        collected = collect(_reading(records, progress), self.error_limit)
        validate(collected, self.ontology, self.error_limit)
        locked = telemetry_lock(self.store.data_dir) if collected.samples else nullcontext()
        with locked:
            return self._stage_and_write(collected, source, create_missing, dry_run, progress)

    def _stage_and_write(
        self,
        collected: Collected,
        source: Source,
        create_missing: bool,
        dry_run: bool,
        progress: ProgressCallback | None,
    ) -> ImportReport:
        """Stage the samples, plan, write; the samples land only if the write did."""
        staged = StagedTelemetry()
        previous = self._continued(source)
        try:
            if collected.samples:
                parts = source.identity
                if previous not in (None, source.identity):
                    parts = _adopt_parts(self.store.data_dir, collected, previous, parts, dry_run)
                staged = stage_samples(collected.samples, self.store.data_dir, parts)
                add_summaries(collected, staged.summaries, self.ontology)
            resolve_ends(self.store, collected, self.error_limit)
            plan = plan_writes(
                self.store,
                collected,
                previous or source.identity,
                create_missing=create_missing,
                error_limit=self.error_limit,
            )
            report = _report(collected, plan, source, dry_run)
            report.new_source = previous is None
            if not dry_run and report.changed:
                report.run = self._write(plan, source, report, progress, previous)
        except BaseException:
            staged.discard()
            raise
        if dry_run:
            staged.discard()
        else:
            staged.commit()
        return report

    def _continued(self, source: Source) -> str | None:
        """The key whose earlier records this run compares with: the source's own when it
        ran before, else the first of its `previous_ids` that did (the first import
        after an upgrade changed the key); None for a new source."""
        for key in (source.identity, *source.previous_ids):
            rows = self.store.read(
                "MATCH (r:ImportRun {source_id: $src}) WHERE r.importer = $importer "
                "RETURN count(r) AS runs",
                {"src": key, "importer": source.importer},
            )
            if rows and rows[0]["runs"]:
                return key
        return None

    def _adopt(self, previous: str, plan: Plan, src: str) -> None:
        """Move what the source wrote under its previous key to its key now, so later
        runs find it (once: afterwards the source has runs of its own key)."""
        keys = {"old": previous, "new": src}
        self.store.write("MATCH (n:Entity {_src: $old}) SET n._src = $new", keys)
        for rel_type in sorted(plan.rel_types & set(self.ontology.relations)):
            self.store.write(
                f"MATCH (:Entity)-[r:`{rel_type}`]->(:Entity) WHERE r._src = $old SET r._src = $new",
                keys,
            )

    def _write(
        self,
        plan: Plan,
        source: Source,
        report: ImportReport,
        progress: ProgressCallback | None,
        previous: str | None = None,
    ) -> str:
        """Write the plan under a new ImportRun; returns the run's uid. `previous` is the
        key the plan was made against, when not the source's own (see `_continued`)."""
        now = utc_now()
        run_uid = self._start_run(source, now)
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
            if previous not in (None, src):
                self._adopt(str(previous), plan, src)
            self._mark_missing(plan, run_uid, now)
            self._finish(run_uid, "succeeded", report, plan, None, done)
        except BaseException as exc:
            self._finish(run_uid, "failed", report, plan, exc, done)
            raise
        return run_uid

    def _start_run(self, source: Source, now: str) -> str:
        """Write the ImportRun node, `running`, before the first record; returns its uid."""
        run_uid = self.ontology.uid(
            "ImportRun", f"{now.replace('-', '').replace(':', '')}-{secrets.token_hex(3)}"
        )
        run_props: dict[str, PropValue] = {
            "run_id": run_uid.split(":", 1)[1],
            "importer": source.importer,
            "source": source.path,
            "source_id": source.identity,
            "sha256": source.sha256,
            "options": json.dumps(dict(source.options), sort_keys=True, default=str),
            "started": now,
            "status": "running",
            "actor": source.actor,
            **process_identity(),
            "_updated": now,
        }
        self.store.upsert_nodes("ImportRun", [{"uid": run_uid, "props": run_props}])
        return run_uid

    def _mark_missing(self, plan: Plan, run_uid: str, now: str) -> None:
        mark = {"missing": True, "run": run_uid, "now": now}
        for batch in chunked(plan.missing_nodes, _MARK_BATCH):
            self.store.write(
                "UNWIND $uids AS u MATCH (n:Entity {uid: u}) "
                "SET n._missing = $missing, n._missing_since = $now, n._run = $run, n._updated = $now",
                {"uids": list(batch), **mark},
            )
        for rel_type, rows in plan.missing_rels.items():
            for batch in chunked(rows, _MARK_BATCH):
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
        plan: Plan,
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


def _reading(records: Iterable[Record], progress: ProgressCallback | None) -> Iterator[Record]:
    """The records, reporting every `_READING_STEP` of them as read."""
    for count, record in enumerate(records, 1):
        yield record
        if progress and count % _READING_STEP == 0:
            progress("reading", count, None)


def _report(collected: Collected, plan: Plan, source: Source, dry_run: bool) -> ImportReport:
    """What the plan amounts to, as the import reports it."""
    report = ImportReport(source.path, source.importer, source.sha256, dry_run)
    report.source_id = source.identity
    report.samples = sum(batch.table.num_rows for batch in collected.samples)
    report.warnings = [_notice_text(n) for n in [*collected.notices, *plan.notices]]
    report.placeholders = sum(len(rows) for rows in plan.placeholders.values())
    report.by_label = plan.by_label
    report.by_type = plan.by_type
    report.nodes = _total(plan.by_label.values())
    report.relationships = _total(plan.by_type.values())
    listed = plan.missing_nodes + [
        f"{r['src']} -[{t}]-> {r['dst']}" for t, rows in plan.missing_rels.items() for r in rows
    ]
    report.disappeared = listed[:_DISAPPEARED_LISTED]
    return report


def _adopt_parts(
    data_dir: Path, collected: Collected, previous: str, identity: str, dry_run: bool
) -> str:
    """The key to stage this run's samples under when the source's key changed: each
    channel's Parquet part of the previous key is renamed to the new key's (a dry run
    renames nothing and stages under the previous key), so the samples are replaced,
    not stored twice."""
    if dry_run:
        return previous
    for channel in {batch.channel for batch in collected.samples}:
        folder = channel_folder(data_dir, channel)
        old = folder / part_name(previous)
        if old.exists():
            os.replace(old, folder / part_name(identity))
    return identity


def _notice_text(notice: Notice) -> str:
    if notice.origin is None:
        return notice.message
    return str(notice.origin.problem(notice.message))


def _total(parts: Iterable[Counts]) -> Counts:
    total = Counts()
    for part in parts:
        total.created += part.created
        total.updated += part.updated
        total.unchanged += part.unchanged
        total.disappeared += part.disappeared
    return total
