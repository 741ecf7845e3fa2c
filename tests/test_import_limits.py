"""Hostile exports and mappings (issue 15, points 7 and 8): each is a clear error naming the
file, line or mapping key, with nothing written, or imports as it should; never a hang, a
blow-up or a traceback."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from support.graph import counts
from typer.testing import CliRunner

from thread.errors import SourceError, ValidationError
from thread.importers.mapping import MAX_SKIP_ROWS
from thread.importers.tabular import MAX_FIELD_CHARS
from thread.pipeline.imports import ImportOptions, import_file
from thread.stores import GraphStore
from thread.telemetry.datasets import channel_folder, channel_folder_name, read_channel

PARTS = "part_number,name\nP-1,Pump\nB-2,Bearing\n"


def names(store: GraphStore) -> dict[str, str]:
    rows = store.read("MATCH (p:Part) RETURN p.part_number AS number, p.name AS name")
    return {row["number"]: row["name"] for row in rows}


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


# ---------------------------------------------------------------------------- 7: mappings

BAD_MAPPINGS = [
    ("skip rows 10**30", f"[source]\nskip_rows = {10**30}\n",
     f"source.skip_rows: Input should be less than or equal to {MAX_SKIP_ROWS}"),
    ("width 10**9", '[templates]\nname = "{part_number:>1000000000}"\n',
     "templates.name: '{part_number:>1000000000}': a format may only pad or cut the text"),
    ("a number format on text", '[templates]\nname = "{part_number:d}"\n',
     "templates.name: '{part_number:d}': a format may only pad or cut the text"),
    ("a nested format", '[templates]\nname = "{part_number:{name}}"\n',
     "templates.name: '{part_number:{name}}': a format may only pad or cut"),
    ("a conversion", '[templates]\nname = "{part_number!z}"\n',
     "templates.name: '{part_number!z}': conversions are not supported"),
    ("an empty field", '[templates]\nname = "{part_number}-{}"\n',
     "templates.name: '{}' names no column"),
    ("unbalanced braces", '[templates]\nname = "{part_number"\n',
     "templates.name: expected '}' before end of string"),
    ("rot13", '[source]\nencoding = "rot13"\n',
     "source.encoding: 'rot13' is not an encoding of text files"),
    ("zlib", '[source]\nencoding = "zlib"\n',
     "source.encoding: 'zlib' is not an encoding of text files"),
    ("undefined", '[source]\nencoding = "undefined"\n',
     "source.encoding: 'undefined' is not an encoding of text files"),
    ("a quote as separator", '[source]\nseparator = \'"\'\n',
     "source.separator: use one ASCII character other than"),
    ("an unknown zone", '[source]\ntimezone = "Mars/Olympus"\n',
     "source.timezone: unknown time zone 'Mars/Olympus'"),
    ("a path as zone", '[source]\ntimezone = "../../etc/passwd"\n',
     "source.timezone: unknown time zone"),
    ("repeated names", '[source]\nheader = false\nnames = ["part_number", "part_number"]\n',
     "source.names: each column needs its own name; repeated: part_number"),
    ("2,000 levels", "a = " + "[" * 2000 + "]" * 2000 + "\n",
     "tables or arrays are nested too deeply"),
    ("not UTF-8", b'[source]\nencoding = "\xff\xfe"\n', "mapping.toml:2: a mapping file is UTF-8 text"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"), [b[1:] for b in BAD_MAPPINGS], ids=[b[0] for b in BAD_MAPPINGS]
)
def test_a_mapping_past_its_bounds_is_an_error_naming_the_file_and_key(
    store: GraphStore, tmp_path: Path, text: str | bytes, message: str
) -> None:
    """Each of these hung, allocated 1 GB a row or gave a traceback."""
    data = write(tmp_path / "parts.csv", PARTS)
    mapping = write(tmp_path / "mapping.toml", text)
    with pytest.raises(SourceError) as excinfo:
        import_file(store, "parts", data, ImportOptions(mapping=mapping))
    assert str(excinfo.value).startswith(str(mapping))
    assert message in str(excinfo.value)
    assert counts(store) == (0, 0)


def test_a_folder_or_an_oversized_file_as_mapping_is_an_error(
    store: GraphStore, tmp_path: Path
) -> None:
    data = write(tmp_path / "parts.csv", PARTS)
    folder = tmp_path / "mappings"
    folder.mkdir()
    with pytest.raises(SourceError, match=r"mappings: is a folder; name the mapping's \.toml file"):
        import_file(store, "parts", data, ImportOptions(mapping=folder))
    huge = write(tmp_path / "huge.toml", "# padding\n" * 200_000)
    with pytest.raises(SourceError, match=r"huge\.toml: a mapping file may be at most 1,048,576"):
        import_file(store, "parts", data, ImportOptions(mapping=huge))
    assert counts(store) == (0, 0)


def test_template_fields_name_columns_as_written_and_may_pad(
    store: GraphStore, tmp_path: Path
) -> None:
    """`{a.b}` and `{a[0]}` are columns (str.format read them as attribute and index
    lookups, a traceback); a small format pads."""
    data = write(tmp_path / "parts.csv", "part_number,a.b,a[0]\nP-1,x,y\nB-22,u,v\n")
    mapping = write(
        tmp_path / "mapping.toml",
        '[templates]\nname = "{a.b}/{a[0]}"\ndescription = "{part_number:_>6}|{a.b:.1}"\n',
    )
    import_file(store, "parts", data, ImportOptions(mapping=mapping))
    rows = store.read("MATCH (p:Part) RETURN p.name AS name, p.description AS d ORDER BY name")
    assert rows == [{"name": "u/v", "d": "__B-22|u"}, {"name": "x/y", "d": "___P-1|x"}]


def test_skip_rows_past_the_end_of_the_file_stops_there(store: GraphStore, tmp_path: Path) -> None:
    data = write(tmp_path / "parts.csv", PARTS)
    mapping = write(tmp_path / "mapping.toml", f"[source]\nskip_rows = {MAX_SKIP_ROWS}\n")
    with pytest.raises(SourceError, match=r"parts\.csv: the file is empty"):
        import_file(store, "parts", data, ImportOptions(mapping=mapping))


# ---------------------------------------------------------------------------- 8: CSV text


def test_a_long_free_text_field_is_read(store: GraphStore, tmp_path: Path) -> None:
    """Python's csv stops at 131,072 characters a field (a traceback)."""
    text = "x" * 200_000
    data = write(tmp_path / "parts.csv", f'part_number,description\nP-1,"{text}"\nB-2,short\n')
    import_file(store, "parts", data)
    stored = store.read("MATCH (p:Part {part_number: 'P-1'}) RETURN p.description AS d")
    assert stored == [{"d": text}]


def test_a_field_past_the_bound_is_an_error_naming_its_line(
    store: GraphStore, tmp_path: Path
) -> None:
    """A 10 MB line."""
    data = write(tmp_path / "parts.csv", f"part_number,name\nP-1,Pump\nB-2,{'x' * 10_000_000}\n")
    with pytest.raises(SourceError) as excinfo:
        import_file(store, "parts", data)
    assert str(excinfo.value) == (
        f"{data}:3: a field is longer than {MAX_FIELD_CHARS:,} characters, the longest Thread reads"
    )
    assert counts(store) == (0, 0)


def test_lines_may_end_with_a_lone_cr(store: GraphStore, tmp_path: Path) -> None:
    """Old Mac exports; a quoted field keeps its line breaks."""
    data = write(tmp_path / "parts.csv", 'part_number,name\rP-1,Pump\rB-2,"Bear\r\ning"\r')
    import_file(store, "parts", data)
    assert names(store) == {"P-1": "Pump", "B-2": "Bear\r\ning"}


def test_a_bare_cr_in_a_field_ends_the_line_and_names_it(store: GraphStore, tmp_path: Path) -> None:
    data = write(tmp_path / "parts.csv", "part_number,name\nP-1,Pu\rmp\nB-2,Bearing\n")
    with pytest.raises(ValidationError) as excinfo:
        import_file(store, "parts", data)
    assert [str(p) for p in excinfo.value.problems] == [f"{data}:3: expected 2 columns, found 1"]
    assert counts(store) == (0, 0)


# ---------------------------------------------------------------------------- 8: telemetry

LONG = "sensor_id,channel,timestamp,value\n"


def test_telemetry_that_is_not_utf8_names_the_line(store: GraphStore, tmp_path: Path) -> None:
    for name, row in (("in a name", b"S1,t\xffemp,"), ("in the clock", b"S1,temp,\xff")):
        data = write(
            tmp_path / "samples.csv",
            LONG.encode()
            + b"S1,temp,2025-01-01T00:00:00Z,1.0\n"
            + row
            + b"2025-01-01T00:01:00Z,2\n",
        )
        with pytest.raises(SourceError) as excinfo:
            import_file(store, "telemetry", data)
        assert f"{data}:3: not valid utf-8 text (byte 0xff)" in str(excinfo.value), name
    assert counts(store) == (0, 0)


def _telemetry_mapping(tmp_path: Path, source: str = "", telemetry: str = "") -> Path:
    return write(
        tmp_path / "telemetry.toml",
        f'kind = "telemetry"\n[source]\n{source}\n[telemetry]\nlayout = "long"\n'
        f'time = "timestamp"\n{telemetry}\n',
    )


def test_telemetry_with_an_unknown_time_zone_is_an_error(store: GraphStore, tmp_path: Path) -> None:
    data = write(tmp_path / "samples.csv", LONG + "S1,temp,2025-01-01T00:00:00,1.0\n")
    for zone, message in (
        ("Mars/Olympus", "telemetry.toml: source.timezone: unknown time zone 'Mars/Olympus'"),
        ("Factory", "the time zone 'Factory' is not known to the telemetry reader"),
    ):
        mapping = _telemetry_mapping(tmp_path, f'timezone = "{zone}"')
        with pytest.raises(SourceError, match=message):
            import_file(store, "telemetry", data, ImportOptions(mapping=mapping))
    assert counts(store) == (0, 0)


def test_telemetry_local_times_across_daylight_saving(store: GraphStore, tmp_path: Path) -> None:
    """A time passed twice is the first of the two, as in the tabular importers; a time the
    clocks skipped is a problem with its line (arrow raised on both)."""
    mapping = _telemetry_mapping(tmp_path, 'timezone = "Europe/Berlin"')
    skipped = write(
        tmp_path / "spring.csv",
        LONG + "S1,temp,2024-03-31T01:30:00,1.0\nS1,temp,2024-03-31T02:30:00,2.0\n",
    )
    with pytest.raises(ValidationError) as excinfo:
        import_file(store, "telemetry", skipped, ImportOptions(mapping=mapping))
    assert [str(p) for p in excinfo.value.problems] == [
        f"{skipped}:3: timestamp: '2024-03-31T02:30:00' does not exist in Europe/Berlin "
        "(the clocks skipped it)"
    ]
    assert counts(store) == (0, 0)
    twice = write(tmp_path / "autumn.csv", LONG + "S1,temp,2024-10-27T02:30:00,1.0\n")
    import_file(store, "telemetry", twice, ImportOptions(mapping=mapping))
    channel = store.read("MATCH (c:Channel) RETURN c.first AS first")
    assert channel == [{"first": "2024-10-27T00:30:00Z"}]  # CEST, the first of the two


def test_a_telemetry_index_beyond_int64_names_the_line(store: GraphStore, tmp_path: Path) -> None:
    data = write(
        tmp_path / "cycles.csv",
        "sensor_id,channel,cycle,value\nS1,c,1,1.0\nS1,c,9223372036854775808,2.0\n",
    )
    mapping = write(tmp_path / "cycles.toml", '[telemetry]\nlayout = "long"\nindex = "cycle"\n')
    with pytest.raises(ValidationError) as excinfo:
        import_file(store, "telemetry", data, ImportOptions(mapping=mapping))
    assert [str(p) for p in excinfo.value.problems] == [
        f"{data}:3: cycle: '9223372036854775808' is not an integer index (of at most 64 bits)"
    ]
    assert counts(store) == (0, 0)


def test_a_telemetry_column_named_twice_is_an_error(store: GraphStore, tmp_path: Path) -> None:
    data = write(
        tmp_path / "samples.csv",
        "sensor_id,channel,timestamp,value,value\nS1,c,2025-01-01T00:00:00Z,1.0,2.0\n",
    )
    with pytest.raises(SourceError, match="the header names 2 columns 'value'"):
        import_file(store, "telemetry", data)
    assert counts(store) == (0, 0)


def test_a_telemetry_template_with_a_format_is_an_error(store: GraphStore, tmp_path: Path) -> None:
    """Arrow joins telemetry templates column-wise: a format spec was silently ignored."""
    data = write(tmp_path / "samples.csv", LONG + "S1,temp,2025-01-01T00:00:00Z,1.0\n")
    mapping = _telemetry_mapping(tmp_path, telemetry='sensor = "{sensor_id:0>5}"')
    with pytest.raises(SourceError, match=r"\[telemetry\] sensor: telemetry templates take plain"):
        import_file(store, "telemetry", data, ImportOptions(mapping=mapping))


def test_a_long_sensor_id_gets_a_bounded_channel_folder(store: GraphStore, tmp_path: Path) -> None:
    """A sensor id of 245+ characters made a folder name past the file system's 255 bytes;
    short ids keep the names they always had."""
    sensor = "S" * 250
    twin = "S" * 249 + "T"  # the same first 200 characters of folder name
    data = write(
        tmp_path / "samples.csv",
        LONG + f"{sensor},temp,2025-01-01T00:00:00Z,1.0\n{twin},temp,2025-01-01T00:00:00Z,2.0\n",
    )
    import_file(store, "telemetry", data)
    for sensor_id, value in ((sensor, 1.0), (twin, 2.0)):
        uid = f"channel:{sensor_id}/temp"
        assert len(channel_folder(store.data_dir, uid).name) <= 255
        assert read_channel(store.data_dir, uid).column("value").to_pylist() == [value]
    assert channel_folder_name("channel:S1/temp") == "channel%3AS1%2Ftemp"


# ---------------------------------------------------------------------------- 8: IFC


def test_an_ifc_relationship_with_a_dangling_end_is_a_warning(
    store: GraphStore, test_data: Path, tmp_path: Path
) -> None:
    """RelatingObject #996 was never written: an AttributeError on None."""
    text = (test_data / "ifc" / "dangling.ifc").read_text()
    text = text.replace("$,$,$,#3,(#4));", "$,$,$,#996,(#4));")
    assert "#996" in text
    model = write(tmp_path / "dangling.ifc", text)
    report = import_file(store, "ifc", model)
    assert any("Instance reference #996" in warning for warning in report.warnings)
    assert store.read("MATCH (s:Site)-[:AGGREGATES]->(b:Building) RETURN b.name AS b") == [
        {"b": "Shed"}
    ]


# ---------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize(
    ("kind", "content", "mapping"),
    [
        ("parts", PARTS, "[source]\nskip_rows = 1000000000000000000000000000000\n"),
        ("parts", PARTS, '[source]\nencoding = "rot13"\n'),
        ("parts", f"part_number,name\nP-1,{'x' * 2_000_000}\n", None),
        (
            "telemetry",
            LONG.encode() + b"S1,c,2025-01-01T00:00:00Z,1\nS1,\xff,2025-01-01T00:00:01Z,1\n",
            None,
        ),
    ],
    ids=["skip-rows", "rot13", "long-field", "telemetry-utf8"],
)
def test_the_cli_says_error_and_exits_1(
    embedded_home: Path, tmp_path: Path, kind: str, content: str | bytes, mapping: str | None
) -> None:
    from thread.cli.main import app

    data = write(tmp_path / "export.csv", content)
    args = ["--store", f"embedded:{embedded_home}#lim{uuid.uuid4().hex[:10]}", "import", kind]
    args.append(str(data))
    if mapping is not None:
        args += ["-m", str(write(tmp_path / "mapping.toml", mapping))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Error: " in result.output and "Traceback" not in result.output
