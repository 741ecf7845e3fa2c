"""Fuzz (issue 15, point 8): whatever an export or a mapping holds, an import either
succeeds or raises a ThreadError (the CLI's `Error: …`, the service's 4xx), never another
exception. Seeded and bounded, so the file runs in well under a minute."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thread.errors import ThreadError
from thread.importers import get_importer
from thread.importers.mapping import load_mapping, parse_mapping
from thread.importers.tabular import TabularImporter
from thread.pipeline.imports import ImportOptions, import_file
from thread.stores import GraphStore

# one store per test, shared by its examples: imports are merges, so any state will do
FUZZ = settings(
    derandomize=True,
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TABULAR = [
    "parts", "revisions", "bom", "change-orders", "documents", "requirements", "suppliers",
    "lots", "orders", "units", "genealogy", "work-orders", "replacements", "deviations",
    "sensors",
]  # fmt: skip

TRICKY = [
    "", " ", '"', '""', '"a,b"', ",", ";", "\t", "\r", "\n", "\r\n", "\x00", "\ufeff", "\x85",
    "\u2028", "é", "€", "2024-01-01", "2024-13-45", "01.02.2024", "2024-03-31T02:30:00",
    "2024-01-01T00:00:00Z", "1", "0", "-1", "1,5", "1e400", "inf", "nan", "9" * 25, "x" * 300,
    "{", "}", "{x}", "%", "\\", "true", "open", "closed", "corrective", "buy",
]  # fmt: skip
CELL = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12))


def attempt(store: GraphStore, kind: str, data: Path, mapping: Path | None = None) -> None:
    """Import; a ThreadError is a fine answer, anything else fails the test."""
    with contextlib.suppress(ThreadError):
        import_file(store, kind, data, ImportOptions(mapping=mapping))


@st.composite
def delimited(draw: st.DrawFn, columns: list[str], separator: str = ",") -> bytes:
    """A delimited export over `columns` (shuffled, dropped or extended), or raw bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    header = list(columns)  # most often the importer's own header, so rows get checked
    if draw(st.integers(0, 3)) == 0:
        header = draw(st.lists(st.sampled_from([*columns, "extra", ""]), min_size=1, max_size=12))
    lines = [separator.join(header)]
    for _ in range(draw(st.integers(0, 6))):
        width = len(header) + draw(st.sampled_from([0, 0, 0, -1, 1]))
        lines.append(separator.join(draw(CELL) for _ in range(max(width, 0))))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = end.join(lines) + draw(st.sampled_from([end, ""]))
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"])), "replace")


def fields_of(kind: str) -> list[str]:
    importer = get_importer(kind)
    assert isinstance(importer, TabularImporter)
    return list(importer.row_model.model_fields)


@pytest.mark.parametrize("kind", TABULAR)
def test_any_tabular_export_imports_or_is_a_thread_error(
    embedded_store: GraphStore, tmp_path: Path, kind: str
) -> None:
    columns = fields_of(kind)

    @FUZZ
    @given(content=delimited(columns))
    def check(content: bytes) -> None:
        data = tmp_path / f"{kind}.csv"
        data.write_bytes(content)
        attempt(embedded_store, kind, data)

    check()


# ---------------------------------------------------------------------------- telemetry

CLOCKS = st.one_of(
    st.sampled_from(
        [
            "2025-01-01T00:00:00Z",
            "2025-01-01T00:00:00",
            "2025-01-01 00:00:00+02:00",
            "2024-03-31T02:30:00",
            "2024-10-27T02:30:00",
            "0",
            "-5",
            "9223372036854775808",
            "0x10",
            "",
            "yesterday",
            "1e3",
        ]
    ),
    st.integers(-(2**70), 2**70).map(str),
    st.datetimes().map(lambda d: d.isoformat()),
    st.text(max_size=8),
)
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "1,5", "1e400", "-inf", "nan", "warm", "1" * 400]),
    st.text(max_size=6),
)
NAMES = st.one_of(st.sampled_from(["S1", "S" * 260, "é" * 90, "a/b", "..", "%2F", ""]), CELL)


@st.composite
def telemetry_case(draw: st.DrawFn) -> tuple[bytes, str]:
    """A long or wide telemetry export and the mapping that reads it."""
    wide = draw(st.booleans())
    indexed = draw(st.booleans())
    clock = "cycle" if indexed else "timestamp"
    zone = draw(st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Factory"]))
    separator = draw(st.sampled_from([",", ",", ";", "whitespace"]))
    source = [f'timezone = "{zone}"', f'separator = "{separator}"']
    source.append(
        draw(st.sampled_from(["", 'decimal = ","', 'datetime_format = "%Y-%m-%d %H:%M"']))
    )
    mapping = (
        f'kind = "telemetry"\n[source]\n{chr(10).join(source)}\n'
        f'[telemetry]\nlayout = "{"wide" if wide else "long"}"\n'
        f'{"index" if indexed else "time"} = "{clock}"\n'
    )
    header = ["sensor_id", clock, *(["t1", "t2"] if wide else ["channel", "value"])]
    if draw(st.integers(0, 5)) == 0:
        header.append(draw(st.sampled_from(["value", "t1", clock, "extra"])))
    join = " ".join if separator == "whitespace" else separator.join
    lines = [join(header)]
    for _ in range(draw(st.integers(1, 30))):
        row = [draw(NAMES), draw(CLOCKS)]
        row += [draw(VALUES), draw(VALUES)] if wide else [draw(NAMES), draw(VALUES)]
        row += [draw(VALUES) for _ in header[4:]]
        lines.append(join(row))
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 7)) == 0:
        return text.encode() + draw(st.binary(max_size=20)), mapping
    return text.encode(), mapping


@pytest.mark.parametrize("block_bytes", [4 << 20, 1024], ids=["one block", "many blocks"])
def test_any_telemetry_export_imports_or_is_a_thread_error(
    embedded_store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    """In many blocks too: a later block's values can differ in type from the first's."""
    from thread.importers import telemetry

    monkeypatch.setattr(telemetry, "_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(telemetry, "_WHITESPACE_ROWS", 4 if block_bytes < 4096 else 200_000)

    @settings(FUZZ, max_examples=80)
    @given(case=telemetry_case())
    def check(case: tuple[bytes, str]) -> None:
        content, mapping = case
        data = tmp_path / "samples.csv"
        data.write_bytes(content)
        (tmp_path / "telemetry.toml").write_text(mapping)
        attempt(embedded_store, "telemetry", data, tmp_path / "telemetry.toml")

    check()


# ---------------------------------------------------------------------------- IFC


def test_any_damaged_ifc_file_imports_or_is_a_thread_error(
    embedded_store: GraphStore, test_data: Path, tmp_path: Path
) -> None:
    """tests/data/ifc/dangling.ifc with references pointed elsewhere, emptied or removed,
    lines dropped, or the file cut."""
    lines = (test_data / "ifc" / "dangling.ifc").read_text().splitlines()
    data_lines = [i for i, line in enumerate(lines) if line.startswith("#")]

    @settings(FUZZ, max_examples=40)
    @given(
        edits=st.lists(
            st.tuples(
                st.sampled_from(data_lines),
                st.sampled_from(["#3", "#4", "#5", "#8", "#10", "#996", "$", "*", "drop"]),
            ),
            min_size=1,
            max_size=4,
        ),
        cut=st.one_of(st.none(), st.integers(0, 1200)),
    )
    def check(edits: list[tuple[int, str]], cut: int | None) -> None:
        edited = list(lines)
        for index, replacement in edits:
            if replacement == "drop":
                edited[index] = ""
            else:  # every reference after the entity's own number
                head, _, tail = edited[index].partition("=")
                edited[index] = head + "=" + re.sub(r"#\d+", replacement, tail)
        text = "\n".join(edited) + "\n"
        model = tmp_path / "model.ifc"
        model.write_text(text if cut is None else text[:cut])
        attempt(embedded_store, "ifc", model)

    check()


# ---------------------------------------------------------------------------- mappings


def _toml(value: Any) -> str:
    """A TOML value (inline) for what the strategies draw."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value) if isinstance(value, int) else repr(value)
    if isinstance(value, str):
        escaped = json.dumps(value, ensure_ascii=False)[1:-1]
        return '"' + escaped.replace("\x7f", "\\u007f") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"


SCALARS = st.one_of(
    st.text(max_size=12),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.floats(),
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
TEMPLATE = st.lists(
    st.sampled_from(
        ["{", "}", "part_number", "name", "sensor_id", "a.b", "[0]", "!r", "!z", ":", ">", "0",
         "9", "999", ".", "s", "d", "-", "x", " "]
    ),
    max_size=8,
).map("".join)  # fmt: skip
FORMATS = st.lists(
    st.sampled_from(["%Y", "%m", "%d", "%H", "%M", "%S", "%z", "%Q", "%", "-", " ", "T", "%f"]),
    max_size=6,
).map("".join)

OPTIONS: dict[str, Any] = {
    "source.separator": st.sampled_from([",", ";", "tab", "whitespace", "space", '"', "\n", "é", ",,", "|", ""]),
    "source.encoding": st.sampled_from(["utf-8", "cp1252", "utf-16", "utf-7", "rot13", "zlib", "undefined", "idna", "unicode_escape", "base64", "nope", ""]),
    "source.header": st.booleans(),
    "source.names": st.lists(st.sampled_from(["part_number", "name", "sensor_id", "channel", "timestamp", "value", ""]), max_size=5),
    "source.skip_rows": st.one_of(st.integers(0, 5), st.integers(-5, 10**40)),
    "source.date_format": FORMATS,
    "source.datetime_format": FORMATS,
    "source.timezone": st.sampled_from(["UTC", "Europe/Berlin", "Factory", "Mars/Olympus", "../x", "", "+02:00", "EST5EDT"]),
    "source.decimal": st.sampled_from([".", ",", ";"]),
    "columns.name": st.one_of(st.sampled_from(["name", "part_number", "nope"]), st.integers(-3, 10**20)),
    "templates.name": TEMPLATE,
    "constants.name": SCALARS,
    "properties.note": st.one_of(st.sampled_from(["name", "nope"]), st.integers(-1, 5)),
    "values.make_buy": st.dictionaries(st.sampled_from(["M", "B", ""]), st.sampled_from(["make", "buy", "x"]), max_size=2),
    "telemetry.layout": st.sampled_from(["long", "wide", "tall"]),
    "telemetry.sensor": TEMPLATE,
    "telemetry.channels": st.lists(st.sampled_from(["value", "channel", "nope"]), max_size=3),
    "telemetry.observes": st.dictionaries(st.sampled_from(["part_number", "serial", "x"]), TEMPLATE, max_size=2),
    "telemetry.units": st.dictionaries(st.sampled_from(["*", "temp"]), st.text(max_size=5), max_size=2),
}  # fmt: skip

SAMPLES = {
    "parts": "part_number,name,make_buy\nP-1,Pump,M\nB-2,Bearing,B\n",
    "work-orders": "work_order,part_number,serial,opened\nWO-1,P-1,SN-1,2024-03-31 02:30:00\n",
    "telemetry": "sensor_id,channel,timestamp,value\nS1,temp,2024-03-31 02:30:00,1.0\n",
}


@pytest.mark.parametrize("option", list(OPTIONS))
def test_any_mapping_option_value_imports_or_is_a_thread_error(
    embedded_store: GraphStore, tmp_path: Path, option: str
) -> None:
    table, key = option.split(".")
    kinds = ["telemetry"] if table == "telemetry" else ["parts", "work-orders", "telemetry"]

    @settings(FUZZ, max_examples=25)
    @given(value=st.one_of(OPTIONS[option], ANY_VALUE), kind=st.sampled_from(kinds))
    def check(value: Any, kind: str) -> None:
        text = f"[{table}]\n{_toml(key)} = {_toml(value)}\n"
        if kind == "telemetry" and table != "telemetry":
            text += '[telemetry]\nlayout = "long"\ntime = "timestamp"\n'
        elif kind == "telemetry":
            text += 'time = "timestamp"\n'
        mapping = tmp_path / "mapping.toml"
        mapping.write_text(text)
        data = tmp_path / f"{kind}.csv"
        data.write_text(SAMPLES[kind])
        attempt(embedded_store, kind, data, mapping)

    check()


@settings(FUZZ, max_examples=300)
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_any_mapping_file_reads_or_is_a_thread_error(content: bytes) -> None:
    """No store needed: reading and checking a mapping is where a bad one stops."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mapping.toml"
        path.write_bytes(content)
        with contextlib.suppress(ThreadError):
            parse_mapping(load_mapping(path), "parts", str(path))
