"""ThreadService: validation before writing, idempotent writes, provenance."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.graph import counts
from support.processes import exited_pid

from thread import ontology
from thread.errors import Problem, SourceError, StoreError, ValidationError
from thread.importers.base import ImportContext, Importer
from thread.pipeline import imports
from thread.pipeline.write import Source, ThreadService
from thread.records import MAX_UID_BYTES, NodeRecord, Notice, Origin, Record, node, rel
from thread.stores import GraphStore

ONTO = ontology.load()
SOURCE = Source("test", "parts.csv", sha256="abc")


def parts(count: int, *, name: str = "Part", start: int = 0) -> Iterator[Record]:
    for i in range(start, start + count):
        origin = Origin("parts.csv", i + 2)
        part = node(ONTO, "Part", {"part_number": f"P-{i}", "name": f"{name} {i}"}, origin)
        revision = node(ONTO, "PartRevision", {"part_number": f"P-{i}", "revision": "A"}, origin)
        yield part
        yield revision
        yield rel("HAS_REVISION", part, revision, origin=origin)


def test_import_writes_records_with_provenance(store: GraphStore) -> None:
    report = ThreadService(store).import_records(parts(3), SOURCE)
    assert (report.nodes.created, report.relationships.created) == (6, 3)
    assert report.run is not None
    part = store.read("MATCH (n:Part {uid: 'part:P-1'}) RETURN n")[0]["n"]
    assert part["_run"] == report.run and part["_updated"].endswith("Z")
    assert part["_src"] == SOURCE.identity
    run = store.read("MATCH (r:ImportRun {uid: $uid}) RETURN r", {"uid": report.run})[0]["r"]
    assert run["status"] == "succeeded" and run["sha256"] == "abc"
    assert run["nodes_created"] == 6 and run["rels_created"] == 3
    rel_run = store.read("MATCH ()-[r:HAS_REVISION]->() RETURN r._run AS run LIMIT 1")[0]["run"]
    assert rel_run == report.run


def test_importing_the_same_records_twice_changes_nothing(store: GraphStore) -> None:
    service = ThreadService(store)
    service.import_records(parts(5), SOURCE)
    before = store.read("MATCH (n:Part) RETURN n.uid AS uid, n._updated AS t ORDER BY uid")
    second = service.import_records(parts(5), SOURCE)
    assert not second.changed and second.run is None
    assert (second.nodes.unchanged, second.relationships.unchanged) == (10, 5)
    assert store.read("MATCH (n:Part) RETURN n.uid AS uid, n._updated AS t ORDER BY uid") == before
    assert store.read("MATCH (r:ImportRun) RETURN count(r) AS c")[0]["c"] == 1


def test_a_changed_source_updates_and_reports_what_disappeared(store: GraphStore) -> None:
    service = ThreadService(store)
    service.import_records(parts(4), SOURCE)
    report = service.import_records(parts(3, name="Renamed"), SOURCE)
    assert report.nodes.updated == 3  # the three renamed parts
    assert report.nodes.disappeared == 2  # part and revision P-3
    assert report.relationships.disappeared == 1
    assert "part:P-3" in report.disappeared
    gone = store.read("MATCH (n:Part {uid: 'part:P-3'}) RETURN n._missing AS m")[0]
    assert gone["m"] is True, "disappeared records are kept and marked, not deleted"
    assert counts(store)[0] == 8 + 2  # 8 parts/revisions + 2 import runs
    back = service.import_records(parts(4, name="Renamed"), SOURCE)
    assert back.nodes.updated == 2 and back.nodes.disappeared == 0
    assert store.read("MATCH (n:Part {uid: 'part:P-3'}) RETURN n._missing AS m")[0]["m"] is None


def test_unknown_reference_is_an_error_and_nothing_is_written(store: GraphStore) -> None:
    service = ThreadService(store)
    service.import_records(parts(1), SOURCE)
    before = counts(store)
    line = rel(
        "HAS_COMPONENT",
        ("PartRevision", "rev:P-0/A"),
        ("Part", "part:NOPE"),
        {"quantity": 1},
        key="10",
        origin=Origin("bom.csv", 7),
    )
    with pytest.raises(ValidationError) as excinfo:
        service.import_records([*parts(2, start=5), line], Source("test", "bom.csv"))
    assert "bom.csv:7: unknown reference: Part part:NOPE does not exist" in str(excinfo.value)
    assert counts(store) == before


def test_create_missing_writes_placeholders_with_their_keys(store: GraphStore) -> None:
    line = rel(
        "OF_REVISION",
        ("Unit", "unit:P-9/SN-1"),
        ("PartRevision", "rev:P-9/C"),
        origin=Origin("units.csv", 2),
    )
    unit = node(ONTO, "Unit", {"part_number": "P-9", "serial": "SN-1"})
    report = ThreadService(store).import_records([unit, line], SOURCE, create_missing=True)
    assert report.placeholders == 1
    rev = store.read("MATCH (n:PartRevision) RETURN n")[0]["n"]
    assert (rev["part_number"], rev["revision"], rev["_placeholder"]) == ("P-9", "C", True)
    # importing the real revision later replaces the placeholder mark
    ThreadService(store).import_records(
        [node(ONTO, "PartRevision", {"part_number": "P-9", "revision": "C", "status": "released"})],
        Source("test", "revs.csv"),
    )
    rev = store.read("MATCH (n:PartRevision) RETURN n")[0]["n"]
    assert rev["status"] == "released" and "_placeholder" not in rev


def test_dry_run_reports_and_writes_nothing(store: GraphStore) -> None:
    report = ThreadService(store).import_records(parts(3), SOURCE, dry_run=True)
    assert report.dry_run and report.nodes.created == 6 and report.run is None
    assert counts(store) == (0, 0)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            NodeRecord("Widget", "w:1", {}, Origin("f.csv", 3)),
            "f.csv:3: unknown node label 'Widget'",
        ),
        (
            NodeRecord("Part", "part:X", {}, Origin("f.csv", 4)),
            "f.csv:4: Part part:X lacks part_number",
        ),
        (
            NodeRecord("Part", "rev:X", {"part_number": "X"}, Origin("f.csv", 5)),
            "must start with 'part:'",
        ),
        (
            NodeRecord(
                "Part", "part:X", {"part_number": "X", "dims": {"w": 1}}, Origin("f.csv", 6)
            ),
            "property 'dims': unsupported value of type dict",
        ),
        (
            NodeRecord(
                "Part", "part:X", {"part_number": "X", "m": float("nan")}, Origin("f.csv", 7)
            ),
            "not a finite number",
        ),
        (
            rel("CONTAINS", ("Part", "part:P-0"), ("Lot", "lot:L1"), origin=Origin("f.csv", 8)),
            "(Part)-[:CONTAINS]->(Lot) is not allowed",
        ),
        (
            rel("CONTAINS", ("Unit", "unit:A/1"), ("Unit", "unit:A/2"), origin=Origin("f.csv", 9)),
            "CONTAINS unit:A/1 -> unit:A/2 needs valid_from",
        ),
        (Problem("f.csv", "not a number", 10, "quantity"), "f.csv:10: quantity: not a number"),
    ],
    ids=["label", "required", "prefix", "nested", "nan", "triple", "temporal", "importer"],
)
def test_invalid_records_are_refused_before_any_write(
    store: GraphStore, record: Record, message: str
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        ThreadService(store).import_records([*parts(2), record], SOURCE)
    assert message in str(excinfo.value)
    assert "nothing was written" in str(excinfo.value)
    assert counts(store) == (0, 0)


def test_a_uid_that_exists_under_another_label_is_refused(store: GraphStore) -> None:
    store.upsert_nodes("Supplier", [{"uid": "part:P-0", "props": {"supplier_id": "odd"}}])
    with pytest.raises(ValidationError, match="already exists as Entity/Supplier, not Part"):
        ThreadService(store).import_records(parts(1), SOURCE)


def test_errors_are_collected_up_to_the_limit(store: GraphStore) -> None:
    bad = [Problem("big.csv", "bad value", line, "qty") for line in range(2, 200)]
    with pytest.raises(ValidationError) as excinfo:
        ThreadService(store, error_limit=25).import_records(bad, SOURCE)
    assert len(excinfo.value.problems) == 25 and excinfo.value.truncated


def test_warnings_are_reported_and_recorded(store: GraphStore) -> None:
    notice = Notice("prim /World/P binds serial SN-X, which matches no unit", Origin("scene.usda"))
    report = ThreadService(store).import_records([*parts(1), notice], SOURCE)
    assert report.warnings == ["scene.usda: prim /World/P binds serial SN-X, which matches no unit"]
    run = store.read("MATCH (r:ImportRun) RETURN r.warnings AS w")[0]
    assert run["w"] == report.warnings


def test_progress_is_reported_while_writing(store: GraphStore) -> None:
    seen: list[tuple[str, int, int | None]] = []
    ThreadService(store).import_records(parts(3), SOURCE, progress=lambda *a: seen.append(a))
    assert seen[-1] == ("writing", 9, 9)


def _unit(serial: str) -> NodeRecord:
    return node(ONTO, "Unit", {"part_number": "PUMP", "serial": serial})


def test_an_optional_relationship_to_nothing_is_skipped_with_a_warning(store: GraphStore) -> None:
    service = ThreadService(store)
    service.import_records([_unit("1")], SOURCE)
    prim = node(ONTO, "Prim", {"scene": "plant.usda", "prim_path": "/World/P1"})
    bound = rel("REPRESENTS", prim, ("Unit", "unit:PUMP/1"), optional=True)
    unbound = rel(
        "REPRESENTS", prim, ("Unit", "unit:PUMP/404"), optional=True, origin=Origin("plant.usda")
    )
    report = service.import_records(
        [prim, bound, unbound], Source("usd", "plant.usda"), create_missing=True
    )
    assert report.relationships.created == 1 and report.placeholders == 0
    assert report.warnings == [
        "plant.usda: REPRESENTS prim:plant.usda:/World/P1 -> unit:PUMP/404 skipped: no Unit unit:PUMP/404"
    ]


def _contains(parent: str, child: str, since: str, **props: object) -> Record:
    return rel(
        "CONTAINS",
        ("Unit", f"unit:PUMP/{parent}"),
        ("Unit", f"unit:PUMP/{child}"),
        {"valid_from": since, **props},
        key=since,
    )


def test_an_interval_end_closes_the_relationship_in_effect(store: GraphStore) -> None:
    from thread.records import IntervalEnd

    service = ThreadService(store)
    service.import_records(
        [_unit("P"), _unit("B1"), _unit("B2"), _contains("P", "B1", "2024-01-01")],
        Source("erp", "asbuilt.csv"),
    )
    end = IntervalEnd(
        "CONTAINS",
        "unit:PUMP/P",
        "Unit",
        "unit:PUMP/B1",
        "Unit",
        "2024-06-01",
        {"removed_by": "WO-1"},
    )
    work = [end, _contains("P", "B2", "2024-06-01", installed_by="WO-1")]
    report = service.import_records(work, Source("maintenance", "wo.csv"))
    assert (report.relationships.updated, report.relationships.created) == (1, 1)
    rows = store.read(
        "MATCH (:Unit {uid: 'unit:PUMP/P'})-[r:CONTAINS]->(c) RETURN c.uid AS child, r.valid_from AS f, r.valid_to AS t, r._src AS src ORDER BY f"
    )
    assert rows == [
        {"child": "unit:PUMP/B1", "f": "2024-01-01", "t": "2024-06-01", "src": "erp:asbuilt.csv"},
        {"child": "unit:PUMP/B2", "f": "2024-06-01", "t": None, "src": "maintenance:wo.csv"},
    ]
    assert not service.import_records(work, Source("maintenance", "wo.csv")).changed, (
        "a rerun converges"
    )
    late = IntervalEnd(
        "CONTAINS",
        "unit:PUMP/P",
        "Unit",
        "unit:PUMP/B1",
        "Unit",
        "2025-01-01",
        origin=Origin("wo.csv", 9),
    )
    with pytest.raises(
        ValidationError,
        match=re.escape(
            "wo.csv:9: CONTAINS unit:PUMP/P -> unit:PUMP/B1 is not in effect on 2025-01-01"
        ),
    ):
        service.import_records([late], Source("maintenance", "wo2.csv"))


def test_samples_go_to_parquet_and_summaries_to_the_channel(store: GraphStore) -> None:
    import pyarrow as pa

    from thread.records import Samples
    from thread.telemetry.datasets import read_channel

    channel = node(
        ONTO, "Channel", {"sensor_id": "S1", "channel": "temp", "unit_of_measure": "degC"}
    )
    times = ["2025-01-01T00:00:02", "2025-01-01T00:00:00", "2025-01-01T00:00:01"]
    t = pa.array(times).cast(pa.timestamp("us")).cast(pa.timestamp("us", "UTC"))
    table = pa.table({"t": t, "value": [3.0, 1.0, 2.0]})
    service = ThreadService(store)
    dry = service.import_records([channel, Samples(channel.uid, table)], SOURCE, dry_run=True)
    assert dry.samples == 3 and read_channel(store.data_dir, channel.uid).num_rows == 0
    service.import_records([channel, Samples(channel.uid, table)], SOURCE)
    node_props = store.read("MATCH (c:Channel) RETURN c")[0]["c"]
    assert (node_props["count"], node_props["first"], node_props["last"]) == (
        3,
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:02Z",
    )
    assert (node_props["min"], node_props["max"], node_props["mean"], node_props["last_value"]) == (
        1.0,
        3.0,
        2.0,
        3.0,
    )
    assert node_props["constant"] is False
    again = service.import_records([channel, Samples(channel.uid, table)], SOURCE)
    assert not again.changed and read_channel(store.data_dir, channel.uid).num_rows == 3


def test_reserved_property_names_are_refused(store: GraphStore) -> None:
    with pytest.raises(ValidationError, match="'_run'"):
        ThreadService(store).import_records(
            [NodeRecord("Part", "part:X", {"part_number": "X", "_run": "x"})], SOURCE
        )


def test_a_uid_with_outer_blanks_is_a_problem_not_a_crash(store: GraphStore) -> None:
    record = NodeRecord("Part", "part:P-1 ", {"part_number": "P-1 "}, Origin("parts.csv", 2))
    with pytest.raises(
        ValidationError, match=r"parts.csv:2: uid 'part:P-1 ' has leading or trailing blanks"
    ):
        ThreadService(store).import_records([record], SOURCE)


def test_a_uid_over_the_limit_is_a_problem_and_the_server_lives(store: GraphStore) -> None:
    """A key over 4,096 bytes used to crash the embedded server: it never reaches it now."""
    key = "K" * 5000
    records = [
        *parts(3),
        node(ONTO, "Part", {"part_number": key, "name": "long"}, Origin("parts.csv", 5)),
    ]
    with pytest.raises(ValidationError, match=r"parts.csv:5: uid 'part:KKK.*is 5005 bytes long"):
        ThreadService(store).import_records(records, SOURCE)
    assert counts(store) == (0, 0)
    longest = "K" * (MAX_UID_BYTES - len("part:"))
    ThreadService(store).import_records(
        [node(ONTO, "Part", {"part_number": longest, "name": "longest"})], SOURCE
    )
    found = store.read("MATCH (p:Part {part_number: $k}) RETURN p.uid AS uid", {"k": longest})
    assert found == [{"uid": "part:" + longest}]


def test_an_indexed_value_over_the_limit_is_a_problem(store: GraphStore) -> None:
    record = NodeRecord(
        "Sensor", "sensor:S-1", {"sensor_id": "S-1", "name": "x"}, Origin("sensors.csv", 2)
    )
    prim = NodeRecord(
        "Prim",
        "prim:scene.usda:/deep",
        {"scene": "scene.usda", "prim_path": "/a" * 1500},
        Origin("scene.usda", 9),
    )
    with pytest.raises(ValidationError, match=r"scene\.usda:9: Prim prim_path is 3000 bytes long"):
        ThreadService(store).import_records([record, prim], SOURCE)
    assert counts(store) == (0, 0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("bad\x00byte", "a NUL character at character 4"), ("bad\ud800", "a lone surrogate")],
    ids=["nul", "surrogate"],
)
def test_text_no_store_can_keep_is_refused_before_anything_is_written(
    store: GraphStore, text: str, reason: str
) -> None:
    """A NUL at row 11,000 of 12,000 used to write 10,000 parts, then fail."""
    records = [
        *parts(20),
        node(ONTO, "Part", {"part_number": "P-X", "name": text}, Origin("parts.csv", 99)),
    ]
    with pytest.raises(
        ValidationError, match=f"parts.csv:99: Part part:P-X: property 'name': text holds {reason}"
    ):
        ThreadService(store).import_records(records, SOURCE)
    assert counts(store) == (0, 0)


def test_a_run_whose_process_died_is_marked_interrupted(store: GraphStore) -> None:
    """A killed import used to leave its ImportRun 'running' for good."""
    from thread.pipeline.import_runs import process_identity
    from thread.queries.status import store_status

    gone = exited_pid()
    dead = {**process_identity(), "pid": gone, "process_started": "1"}
    alive = process_identity()
    for run, who in (("run:dead", dead), ("run:alive", alive)):
        store.upsert_nodes(
            "ImportRun",
            [
                {
                    "uid": run,
                    "props": {
                        "run_id": run[4:],
                        "source_id": "x",
                        "importer": "parts",
                        "started": "2025-01-01T00:00:00Z",
                        "status": "running",
                        **who,
                    },
                }
            ],
        )
    runs = {run["uid"]: run["status"] for run in store_status(store, repair=True).import_runs}
    assert runs == {"run:dead": "interrupted", "run:alive": "running"}
    error = store.read("MATCH (r:ImportRun {uid: 'run:dead'}) RETURN r.error AS e")[0]["e"]
    assert f"pid {gone}" in error and "run the import again" in error


def test_each_run_records_its_process(store: GraphStore) -> None:
    report = ThreadService(store).import_records(parts(1), SOURCE)
    run = store.read(
        "MATCH (r:ImportRun {uid: $u}) RETURN r.pid AS pid, r.status AS status", {"u": report.run}
    )
    assert run == [{"pid": os.getpid(), "status": "succeeded"}]


def test_a_run_that_fails_while_writing_says_how_far_it_got(store: GraphStore) -> None:
    """A revision deleted by someone else between the nodes and the relationships: the
    relationship write fails, and the run says failed with the rows it had written."""

    def meanwhile(phase: str, done: int, total: int) -> None:
        if phase == "writing" and done == 6:  # 3 parts and 3 revisions written
            store.write("MATCH (r:PartRevision {uid: 'rev:P-1/A'}) DETACH DELETE r")

    with pytest.raises(StoreError, match="lost an endpoint"):
        ThreadService(store).import_records(parts(3), SOURCE, progress=meanwhile)
    run = store.read("MATCH (r:ImportRun) RETURN r.status AS status, r.rows_written AS written")
    assert run == [{"status": "failed", "written": 6}]


class _Yields(Importer):
    """An importer that yields the records it is given, whatever the file holds."""

    kind = "stub"
    description = "Stub rows: one part per row."

    def __init__(self, records: list[Record]) -> None:
        self.given = records

    def records(self, path: Path, context: ImportContext) -> Iterator[Record]:
        yield from self.given


def _stub(monkeypatch: pytest.MonkeyPatch, records: list[Record]) -> None:
    monkeypatch.setattr(imports, "get_importer", lambda kind: _Yields(records))


def test_an_import_that_reads_no_record_is_an_error_and_writes_no_run(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "nothing.csv"
    source.write_text("whatever\n", encoding="utf-8")
    _stub(monkeypatch, [Notice("3 rows skipped: no part number")])
    for dry_run in (False, True):
        with pytest.raises(SourceError) as excinfo:
            imports.import_file(store, "stub", source, imports.ImportOptions(dry_run=dry_run))
        assert str(excinfo.value) == (
            f"{source}: nothing to import: the stub importer read no record from it "
            "(3 rows skipped: no part number); expected Stub rows: one part per row"
        )
    assert counts(store) == (0, 0)  # no ImportRun either, as for any import refused before writing
    _stub(monkeypatch, [Problem("nothing.csv", "no part number", 2)])
    with pytest.raises(ValidationError, match=r"nothing\.csv:2: no part number"):
        imports.import_file(store, "stub", source)  # the problems say more than 'nothing'
    _stub(monkeypatch, list(parts(2)))
    assert imports.import_file(store, "stub", source).changed
    again = imports.import_file(store, "stub", source)  # unchanged data is still data
    assert not again.changed and again.nodes.unchanged == 4
