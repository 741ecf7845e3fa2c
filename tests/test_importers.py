"""Lifecycle importers on small files: mappings, bad input, idempotence, replacements."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.graph import counts

from thread.errors import SourceError, ThreadError, ValidationError
from thread.pipeline.imports import ImportOptions, import_file
from thread.stores import GraphStore


@pytest.fixture
def lifecycle(test_data: Path, tmp_path: Path) -> Path:
    """A private copy of tests/data/lifecycle, so tests can edit files."""
    return Path(shutil.copytree(test_data / "lifecycle", tmp_path / "lifecycle"))


def load(store: GraphStore, folder: Path, *kinds: str) -> None:
    for kind in kinds:
        import_file(store, kind, folder / f"{kind}.csv")


def test_plm_and_erp_files_build_the_thread(store: GraphStore, lifecycle: Path) -> None:
    load(store, lifecycle, "parts", "revisions", "bom", "units", "genealogy")
    bom = store.read(
        "MATCH (:PartRevision {uid: 'rev:P-1/A'})-[r:HAS_COMPONENT]->(p:Part) "
        "RETURN p.uid AS part, r.quantity AS qty, r.find_number AS find ORDER BY find"
    )
    assert bom == [
        {"part": "part:B-1", "qty": 2.0, "find": "10"},
        {"part": "part:S-1", "qty": 1.0, "find": "20"},
    ]
    unit = store.read(
        "MATCH (u:Unit {uid: 'unit:P-1/SN-1'})-[:OF_REVISION]->(r) RETURN u, r.uid AS rev"
    )[0]
    assert unit["rev"] == "rev:P-1/A" and unit["u"]["build_date"] == "2024-02-01"
    located = store.read(
        "MATCH (:Unit {uid: 'unit:P-1/SN-1'})-[r:LOCATED_IN]->(s:Site) RETURN s.code AS site, r.valid_from AS since"
    )
    assert located == [{"site": "PLANT", "since": "2024-02-01"}]
    contained = store.read(
        "MATCH (:Unit {uid: 'unit:P-1/SN-1'})-[r:CONTAINS]->(c) RETURN c.uid AS child, r.valid_from AS since"
    )
    assert contained == [{"child": "unit:B-1/BRG-1", "since": "2024-02-01"}]


def test_importing_a_file_twice_changes_nothing(store: GraphStore, lifecycle: Path) -> None:
    load(store, lifecycle, "parts", "revisions", "bom")
    before = counts(store)
    again = import_file(store, "bom", lifecycle / "bom.csv")
    assert not again.changed and again.relationships.unchanged == 2 and again.run is None
    assert counts(store) == before


def test_a_changed_file_updates_and_reports_disappeared(store: GraphStore, lifecycle: Path) -> None:
    load(store, lifecycle, "parts", "revisions", "bom")
    (lifecycle / "bom.csv").write_text(
        "parent_part_number,parent_revision,child_part_number,quantity,find_number\nP-1,A,B-1,4,10\n"
    )
    report = import_file(store, "bom", lifecycle / "bom.csv")
    assert report.relationships.updated == 1 and report.relationships.disappeared == 1
    assert report.disappeared == ["rev:P-1/A -[HAS_COMPONENT]-> part:S-1"]
    kept = store.read("MATCH ()-[r:HAS_COMPONENT {_key: '20'}]->() RETURN r._missing AS missing")
    assert kept == [{"missing": True}]


def test_a_replacement_moves_the_configuration_interval(store: GraphStore, lifecycle: Path) -> None:
    load(
        store, lifecycle, "parts", "revisions", "units", "genealogy", "work-orders", "replacements"
    )
    rows = store.read(
        "MATCH (:Unit {uid: 'unit:P-1/SN-1'})-[r:CONTAINS]->(c) "
        "RETURN c.uid AS child, r.valid_from AS since, r.valid_to AS until, r.removed_by AS removed_by, "
        "r.installed_by AS installed_by ORDER BY since, child"
    )
    assert rows == [
        {
            "child": "unit:B-1/BRG-1",
            "since": "2024-02-01",
            "until": "2024-06-02",
            "removed_by": "WO-1",
            "installed_by": None,
        },
        {
            "child": "unit:B-1/BRG-2",
            "since": "2024-06-02",
            "until": None,
            "removed_by": None,
            "installed_by": "WO-1",
        },
    ]
    event = store.read(
        "MATCH (m:MaintenanceEvent {uid: 'wo:WO-1'})-[:REMOVED]->(r) MATCH (m)-[:INSTALLED]->(i) "
        "MATCH (m)-[:ADDRESSES]->(f) RETURN r.uid AS removed, i.uid AS installed, f.code AS mode, m.status AS status"
    )
    assert event == [
        {
            "removed": "unit:B-1/BRG-1",
            "installed": "unit:B-1/BRG-2",
            "mode": "BRG-WEAR",
            "status": "closed",
        }
    ]
    assert not import_file(store, "replacements", lifecycle / "replacements.csv").changed


def test_a_mapping_reads_a_foreign_export(store: GraphStore, lifecycle: Path) -> None:
    """';' separators, cp1252, day-first dates, decimal commas, keys from several columns."""
    load(store, lifecycle, "parts", "revisions", "suppliers")
    report = import_file(
        store, "lots", lifecycle / "lots-de.csv", ImportOptions(mapping=lifecycle / "lots-de.toml")
    )
    assert report.nodes.created == 2
    lots = store.read(
        "MATCH (l:Lot)-[:SUPPLIED_BY]->(s) RETURN l, s.name AS supplier ORDER BY l.uid"
    )
    first = lots[0]["l"]
    assert first["uid"] == "lot:L-B-1-0815"
    assert (first["received_date"], first["quantity"], first["inspector"]) == (
        "2024-02-03",
        12.5,
        "Jürgen Weiß",
    )
    assert lots[1]["l"]["quantity"] == 1012.75
    assert lots[0]["supplier"] == "Müller Wälzlager GmbH"


def test_a_mapping_reads_a_headerless_file_by_position(store: GraphStore, lifecycle: Path) -> None:
    load(store, lifecycle, "parts", "revisions")
    options = ImportOptions(mapping=lifecycle / "units-positional.toml")
    report = import_file(store, "units", lifecycle / "units-positional.txt", options)
    assert report.nodes.created == 2
    revisions = store.read(
        "MATCH (u:Unit)-[:OF_REVISION]->(r) RETURN u.serial AS s, r.revision AS rev ORDER BY s"
    )
    assert revisions == [{"s": "SN-7", "rev": "A"}, {"s": "SN-8", "rev": "A"}]


BAD_INPUT = [
    ("malformed row", "part_number,serial,revision,build_date\nP-1,SN-9,A,2024-01-01\nP-1,SN-10,A\n",
     "units.csv:3: expected 4 columns, found 3"),
    ("wrong type", "part_number,serial,revision,build_date\nP-1,SN-9,A,2024-01-01\nP-1,SN-10,A,yesterday\n",
     "units.csv:3: build_date: 'yesterday' is not a date in the format ISO 8601 (2025-03-01)"),
    ("missing reference", "part_number,serial,revision,build_date\nP-1,SN-9,A,2024-01-01\nP-1,SN-10,Z,2024-01-01\n",
     "units.csv:3: unknown reference: PartRevision rev:P-1/Z does not exist"),
    ("missing value", "part_number,serial,revision,build_date\nP-1,,A,2024-01-01\n",
     "units.csv:2: serial: a value is required"),
    ("bad date order", "part_number,serial,revision,build_date,install_date\nP-1,SN-9,A,2024-05-01,2024-04-01\n",
     "units.csv:2: install_date 2024-04-01 is before build_date 2024-05-01"),
    ("empty file", "", "units.csv: the file is empty"),
    ("header only", "part_number,serial,revision,build_date\n", "units.csv: the file has no data rows"),
    ("unknown column", "part_nr,serial,revision,build_date\nP-1,SN-9,A,2024-01-01\n",
     "units.csv: nothing gives the required field 'part_number'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "message"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_a_clear_error_and_writes_nothing(
    store: GraphStore, lifecycle: Path, name: str, text: str, message: str
) -> None:
    load(store, lifecycle, "parts", "revisions")
    before = counts(store)
    bad = lifecycle / "units.csv"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ThreadError) as excinfo:
        import_file(store, "units", bad)
    assert message in str(excinfo.value)
    assert counts(store) == before


def test_a_file_in_the_wrong_encoding_names_the_line(store: GraphStore, lifecycle: Path) -> None:
    load(store, lifecycle, "parts", "revisions")
    before = counts(store)
    mapping = lifecycle / "lots-de.toml"
    mapping.write_text(mapping.read_text().replace('encoding = "cp1252"', 'encoding = "utf-8"'))
    with pytest.raises(SourceError, match=r"lots-de.csv:1: not valid utf-8 text \(byte 0xfc\)"):
        import_file(store, "lots", lifecycle / "lots-de.csv", ImportOptions(mapping=mapping))
    assert counts(store) == before


def test_every_bad_row_is_reported_not_just_the_first(store: GraphStore, lifecycle: Path) -> None:
    load(store, lifecycle, "parts", "revisions")
    rows = "".join(f"P-1,SN-{i},A,not-a-date\n" for i in range(5))
    (lifecycle / "units.csv").write_text("part_number,serial,revision,build_date\n" + rows)
    with pytest.raises(ValidationError) as excinfo:
        import_file(store, "units", lifecycle / "units.csv")
    assert [p.line for p in excinfo.value.problems] == [2, 3, 4, 5, 6]


def test_a_mapping_for_another_kind_or_with_typos_is_refused(
    store: GraphStore, lifecycle: Path
) -> None:
    with pytest.raises(SourceError, match="this mapping is for 'lots', not 'units'"):
        import_file(
            store,
            "units",
            lifecycle / "units.csv",
            ImportOptions(mapping=lifecycle / "lots-de.toml"),
        )
    typo = lifecycle / "typo.toml"
    typo.write_text('[colums]\npart_number = "x"\n')
    with pytest.raises(SourceError, match="colums: Extra inputs are not permitted"):
        import_file(store, "units", lifecycle / "units.csv", ImportOptions(mapping=typo))


def test_dry_run_reports_without_writing(store: GraphStore, lifecycle: Path) -> None:
    report = import_file(store, "parts", lifecycle / "parts.csv", ImportOptions(dry_run=True))
    assert report.dry_run and report.nodes.created == 3
    assert counts(store) == (0, 0)


def test_telemetry_errors_name_the_line(store: GraphStore, tmp_path: Path) -> None:
    data = tmp_path / "samples.csv"
    data.write_text(
        "sensor_id,channel,timestamp,value\n"
        "S1,temp,2025-01-01T00:00:00Z,20.5\n"
        "S1,temp,2025-01-01T00:01:00Z,warm\n"
    )
    with pytest.raises(ValidationError, match=r"samples.csv:3: value: 'warm' is not a number"):
        import_file(store, "telemetry", data)
    assert counts(store) == (0, 0)


@pytest.mark.parametrize("value", ["inf", "-Infinity", "1e400"])
def test_telemetry_that_is_not_finite_names_the_line_and_writes_nothing(
    store: GraphStore, tmp_path: Path, value: str
) -> None:
    """The sensor used to be written, then the channel's summary write failed."""
    data = tmp_path / "samples.csv"
    data.write_text(
        "sensor_id,channel,timestamp,value\n"
        "S1,temp,2025-01-01T00:00:00Z,20.5\n"
        f"S1,temp,2025-01-01T00:01:00Z,{value}\n"
    )
    with pytest.raises(ValidationError, match=r"samples.csv:3: value: .*is not a finite number"):
        import_file(store, "telemetry", data)
    assert counts(store) == (0, 0)


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        (
            "sensor_id,channel,timestamp,value",
            "S1,temp,yesterday,20.5",
            "samples.csv:3: timestamp: 'yesterday' is not a datetime in the format ISO 8601",
        ),
        (
            "sensor_id,channel,timestamp,value",
            "S1,temp,,20.5",
            "samples.csv:3: timestamp: a value is required",
        ),
    ],
    ids=["bad time", "no time"],
)
def test_telemetry_clock_errors_name_the_line(
    store: GraphStore, tmp_path: Path, header: str, row: str, message: str
) -> None:
    data = tmp_path / "samples.csv"
    data.write_text(f"{header}\nS1,temp,2025-01-01T00:00:00Z,20.0\n{row}\n")
    with pytest.raises(ValidationError) as excinfo:
        import_file(store, "telemetry", data)
    assert message in str(excinfo.value)


def test_an_indexed_telemetry_file_with_a_bad_index(store: GraphStore, tmp_path: Path) -> None:
    data = tmp_path / "cycles.txt"
    data.write_text("1 1 0.5\n1 2 0.6\n1 x 0.7\n")
    mapping = tmp_path / "cycles.toml"
    mapping.write_text(
        'kind = "telemetry"\n[source]\nseparator = "whitespace"\nheader = false\nnames = ["unit", "cycle", "s1"]\n'
        '[telemetry]\nlayout = "wide"\nindex = "cycle"\nsensor = "E-{unit}"\n'
    )
    with pytest.raises(ValidationError, match=r"cycles.txt:3: cycle: 'x' is not an integer index"):
        import_file(store, "telemetry", data, ImportOptions(mapping=mapping))


def test_long_telemetry_out_of_order_and_repeated(store: GraphStore, tmp_path: Path) -> None:
    from thread.telemetry.datasets import read_channel

    data = tmp_path / "samples.csv"
    data.write_text(
        "sensor_id,channel,timestamp,value\n"
        "S1,temp,2025-01-01T00:02:00Z,3.0\n"
        "S2,temp,2025-01-01T00:00:00Z,9.0\n"
        "S1,temp,2025-01-01T00:00:00Z,1.0\n"
        "S1,temp,2025-01-01T00:01:00Z,2.0\n"
        "S1,temp,2025-01-01T00:01:00Z,2.5\n"
    )
    report = import_file(store, "telemetry", data)
    assert report.samples == 5
    samples = read_channel(store.data_dir, "channel:S1/temp")
    assert samples.column("value").to_pylist() == [
        1.0,
        2.5,
        3.0,
    ]  # sorted, the repeated t keeps its last value
    channel = store.read("MATCH (c:Channel {uid: 'channel:S1/temp'}) RETURN c")[0]["c"]
    assert (channel["count"], channel["first"], channel["last_value"]) == (
        3,
        "2025-01-01T00:00:00Z",
        3.0,
    )


def _long_samples(path: Path, rows: int, bad: dict[int, str] | None = None) -> None:
    """`rows` samples of two channels; `bad` puts text in the value column at file lines."""
    lines = ["sensor_id,channel,timestamp,value"]
    for i in range(rows):
        line = len(lines) + 1
        value = (bad or {}).get(line, f"{i % 97}.5")
        minute = i // 2
        lines.append(
            f"S1,{'ab'[i % 2]},2025-01-01T{minute // 60:02d}:{minute % 60:02d}:00Z,{value}"
        )
    path.write_text("\n".join(lines) + "\n")


def test_telemetry_is_read_in_blocks_with_the_same_result(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from thread.importers import telemetry
    from thread.telemetry.datasets import read_channel

    data = tmp_path / "samples.csv"
    _long_samples(data, 2000)
    whole = import_file(store, "telemetry", data)
    samples = read_channel(store.data_dir, "channel:S1/a")
    monkeypatch.setattr(telemetry, "_BLOCK_BYTES", 4096)  # about 100 rows a block
    again = import_file(store, "telemetry", data)
    assert (whole.samples, again.samples, again.changed) == (2000, 2000, False)
    assert read_channel(store.data_dir, "channel:S1/a").equals(samples)


def test_bad_values_in_later_blocks_are_found_with_their_lines(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from thread.importers import telemetry

    monkeypatch.setattr(telemetry, "_BLOCK_BYTES", 4096)
    data = tmp_path / "samples.csv"
    # the first block is all numbers, so the reader types the column as such
    _long_samples(data, 2000, bad={900: "warm", 1801: "high"})
    with pytest.raises(ValidationError) as excinfo:
        import_file(store, "telemetry", data)
    text = str(excinfo.value)
    assert "samples.csv:900: value: 'warm' is not a number" in text
    assert "samples.csv:1801: value: 'high' is not a number" in text
    assert counts(store) == (0, 0)


def test_an_unterminated_quote_names_the_line_it_opened_on(
    store: GraphStore, lifecycle: Path
) -> None:
    """Python's csv would take the rest of the file as one value; it is an error."""
    load(store, lifecycle, "parts", "revisions")
    before = counts(store)
    (lifecycle / "units.csv").write_text(
        "part_number,serial,revision,build_date,status\n"
        'P-1,SN-1,A,2024-02-01,"in_service\n'
        "P-1,SN-2,A,2024-02-01,in_service\n"
        "P-1,SN-3,A,2024-02-01,in_service\n"
    )
    with pytest.raises(SourceError, match=r"units.csv:2: a quoted field starts on this line"):
        import_file(store, "units", lifecycle / "units.csv")
    assert counts(store) == before


def test_a_quoted_field_may_span_lines_before_the_unterminated_one(
    store: GraphStore, lifecycle: Path
) -> None:
    load(store, lifecycle, "parts")
    (lifecycle / "parts.csv").write_text(
        'part_number,name\nP-7,"two\nlines"\nP-8,"never closed\nP-9,x\n'
    )
    with pytest.raises(SourceError, match=r"parts.csv:4: a quoted field"):
        import_file(store, "parts", lifecycle / "parts.csv")


@pytest.mark.parametrize(
    ("kind", "header", "row", "allowed"),
    [
        ("units", "part_number,serial,revision,build_date,status",
         "P-1,SN-9,A,2024-02-01,bogus_status", "'in_service', 'in_stock', 'failed' or 'scrapped'"),
        ("work-orders", "work_order,part_number,serial,opened,status",
         "WO-9,P-1,SN-1,2024-03-01T08:00:00Z,bogus_status", "'open' or 'closed'"),
    ],
    ids=["unit", "work-order"],
)  # fmt: skip
def test_a_status_outside_the_documented_set_is_refused(
    store: GraphStore, lifecycle: Path, kind: str, header: str, row: str, allowed: str
) -> None:
    load(store, lifecycle, "parts", "revisions", "units")
    path = lifecycle / f"{kind}-bad.csv"
    path.write_text(f"{header}\n{row}\n")
    with pytest.raises(ValidationError) as excinfo:
        import_file(store, kind, path)
    [problem] = excinfo.value.problems
    assert (problem.source, problem.line, problem.column) == (problem.source, 2, "status")
    assert problem.source.endswith(f"{kind}-bad.csv")
    assert allowed in problem.message and "'bogus_status'" in problem.message


def test_a_mapping_maps_another_spelling_of_a_status(store: GraphStore, lifecycle: Path) -> None:
    load(store, lifecycle, "parts", "revisions")
    (lifecycle / "units.csv").write_text(
        "part_number,serial,revision,build_date,status\nP-1,SN-9,A,2024-02-01,FAILED\n"
    )
    mapping = lifecycle / "units-map.toml"
    mapping.write_text('kind = "units"\n\n[values.status]\nFAILED = "failed"\n')
    import_file(store, "units", lifecycle / "units.csv", ImportOptions(mapping=mapping))
    assert store.read("MATCH (u:Unit {serial: 'SN-9'}) RETURN u.status AS s") == [{"s": "failed"}]


@pytest.mark.parametrize(
    ("kind", "header"),
    [
        ("suppliers", "supplier_id,name,country"),
        ("units", "part_number,serial,revision,build_date"),
        ("telemetry", "sensor_id,channel,timestamp,value"),
    ],
)
def test_a_file_with_only_a_header_is_an_error(
    store: GraphStore, lifecycle: Path, kind: str, header: str
) -> None:
    load(store, lifecycle, "parts", "revisions")
    before = counts(store)
    runs = "MATCH (r:ImportRun) RETURN count(r) AS c"
    started = store.read(runs)
    empty = lifecycle / f"empty-{kind}.csv"
    empty.write_text(header + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=rf"empty-{kind}\.csv: the file has no data rows"):
        import_file(store, kind, empty)
    assert counts(store) == before and store.read(runs) == started


def test_status_counts_the_relationships_an_import_created(
    store: GraphStore, test_data: Path
) -> None:
    """Issue 17, point 15: a BOM import creates relationships only, and `thread status`
    said it created nothing."""
    from thread.queries.status import store_status

    folder = test_data / "lifecycle"
    for kind in ("parts", "revisions"):
        import_file(store, kind, folder / f"{kind}.csv")
    bom = import_file(store, "bom", folder / "bom.csv")
    assert bom.nodes.created == 0 and bom.relationships.created > 0
    runs = {run["importer"]: run for run in store_status(store).import_runs}
    assert runs["bom"]["created"] == bom.relationships.created
