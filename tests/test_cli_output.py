"""What the CLI prints for people and for scripts: nothing cut at the terminal's width or in
a pipe, values printed as they are (brackets, quotes, angle brackets), CSV for every table,
and diagrams whose labels stay valid Mermaid and DOT."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from thread.cli.main import app
from thread.diagram import Diagram, render_diagram
from thread.stores import GraphStore
from thread.stores.falkordb_store import FalkorDBStore

runner = CliRunner()
PUMP = "unit:P-100/SN-0012"
NAME = '[A] "B" <C> [properties]'


@pytest.fixture
def fleet_arg(pump_fleet: GraphStore) -> list[str]:
    """The example thread, as the command line names its store."""
    if not isinstance(pump_fleet, FalkorDBStore):
        pytest.skip("the CLI tests drive the embedded store")
    return ["--store", f"embedded:{pump_fleet.folder}#{pump_fleet.graph_name}", "--quiet"]


def _json(args: list[str]) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)


def _squash(text: str) -> str:
    """Text without whitespace and tree guides: a value wrapped over lines reads whole."""
    return re.sub(r"[\s│├└─]+", "", text)


def _items(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _items(item["children"])


def _item_values(items: list[dict[str, Any]]) -> list[str]:
    keys = ("part_number", "serial", "lot_id", "supplier_name", "valid_from", "valid_to",
            "installed_by", "removed_by")  # fmt: skip
    return [str(item[k]) for item in _items(items) for k in keys if item[k]]


def _trace_values(data: dict[str, Any]) -> list[str]:
    revision = data["revision"]
    values = [data["uid"], data["twin"]["uid"], data["twin"]["aggregate"]]
    values += [d["title"] for d in revision["documents"]]
    values += [r["text"] for r in revision["requirements"]]
    values += [c["title"] for c in revision["change_orders"]]
    values += [p["name"] for p in data["location"]["places"]]
    values += [r["name"] for r in data["location"]["representations"]]
    for event in data["maintenance"]:
        values += [
            event["work_order"],
            event["description"],
            *event["removed"],
            *event["installed"],
        ]
    return values + _item_values(data["structure"])


def _show_values(data: dict[str, Any]) -> list[str]:
    values = [f"{k} = {v}" for k, v in data["properties"].items()]
    values += [f"{k} = {v}" for k, v in data["provenance"].items()]
    return values + [n["uid"] for n in data["neighbours"]]


def _answers(fleet_arg: list[str]) -> dict[tuple[str, ...], list[str]]:
    """Each text command of the example thread, with the values its output must hold."""
    as_of = ("as-of", PUMP, "2024-05-16")
    config = _json([*fleet_arg, *as_of])
    return {
        ("trace", PUMP): _trace_values(_json([*fleet_arg, "trace", PUMP])),
        ("show", PUMP): _show_values(_json([*fleet_arg, "show", PUMP])),
        as_of: [config["uid"], *_item_values(config["items"])],
    }


def test_text_at_80_columns_wraps_and_drops_nothing(
    fleet_arg: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = _answers(fleet_arg)
    monkeypatch.delenv("COLUMNS", raising=False)
    wide = runner.invoke(app, [*fleet_arg, "trace", PUMP]).stdout
    assert max(len(line) for line in wide.splitlines()) > 80  # something must wrap
    monkeypatch.setenv("COLUMNS", "80")
    for command, values in answers.items():
        result = runner.invoke(app, [*fleet_arg, *command])
        assert result.exit_code == 0, result.stderr
        assert "…" not in result.stdout, command
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, command
        text = _squash(result.stdout)
        missing = [v for v in values if _squash(v) not in text]
        assert missing == [], command
    recall = runner.invoke(app, [*fleet_arg, "recall", "lot:LOT-B-2302"])
    assert "…" not in recall.stdout
    assert max(len(line) for line in recall.stdout.splitlines()) <= 80


def _thread(args: list[str]) -> str:
    """The `thread` command in a subprocess, its stdout a pipe (not a terminal)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [sys.executable, "-c", "from thread.cli.main import run; run()", *args],
        capture_output=True,  # stdout is a pipe
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_text_in_a_pipe_prints_whole_lines(fleet_arg: list[str]) -> None:
    for command, values in _answers(fleet_arg).items():
        shown = _thread([*fleet_arg, *command])
        assert "…" not in shown, command
        lines = shown.splitlines()
        missing = [v for v in values if not any(v in line for line in lines)]
        assert missing == [], command
    recall = _thread([*fleet_arg, "recall", "lot:LOT-B-2302"])
    units = [e["unit"] for e in _json([*fleet_arg, "recall", "lot:LOT-B-2302"])["exposures"]]
    assert "…" not in recall and all(unit in recall for unit in units)


def test_demo_in_a_pipe_prints_whole_lines() -> None:
    shown = _thread(["--quiet", "demo"])
    assert "…" not in shown
    assert "(find 40, since 2023-07-16, removed 2024-05-15 by WO-5044)" in shown
    assert "High vibration, bearing noise; bearings replaced; removed lot:LOT-B-2302" in shown


@pytest.fixture
def odd_store(embedded_home: Path, tmp_path: Path) -> list[str]:
    """A small thread whose names and keys hold brackets, quotes and angle brackets."""
    args = ["--store", f"embedded:{embedded_home}#cliodd{uuid.uuid4().hex[:8]}", "--quiet"]
    quoted = NAME.replace('"', '""')
    files = {
        "parts": f'part_number,name,type,uom,make_buy\nP-[x],"{quoted}",assembly,EA,make\n'
        "B-1,Bearing [bold]x,component,EA,buy\n",
        "revisions": "part_number,revision,status,release_date\nP-[x],[r],released,2024-01-01\n"
        "B-1,A,released,2024-01-01\n",
        "bom": "parent_part_number,parent_revision,child_part_number,quantity,find_number\n"
        "P-[x],[r],B-1,2,10\n",
    }
    for kind, text in files.items():
        path = tmp_path / f"{kind}.csv"
        path.write_text(text, encoding="utf-8")
        result = runner.invoke(app, [*args, "import", kind, str(path)])
        assert result.exit_code == 0, result.stderr
    return args


def test_values_print_as_they_are(odd_store: list[str]) -> None:
    show = runner.invoke(app, [*odd_store, "show", "part:P-[x]"])
    assert f"name = {NAME}" in show.stdout and "rev:P-[x]/[r]" in show.stdout
    trace = runner.invoke(app, [*odd_store, "trace", "rev:P-[x]/[r]"])
    assert f"Part part:P-[x] ({NAME})" in trace.stdout
    bearing = runner.invoke(app, [*odd_store, "show", "part:B-1"])
    assert "name = Bearing [bold]x" in bearing.stdout
    used = runner.invoke(app, [*odd_store, "where-used", "B-1"])
    assert "P-[x]/[r] level 1 (top)" in used.stdout
    rows = list(
        csv.reader(
            io.StringIO(runner.invoke(app, [*odd_store, "where-used", "B-1", "--csv"]).stdout)
        )
    )
    assert rows[1][:3] == ["designed", "rev:P-[x]/[r]", "1"]
    table = runner.invoke(
        app, [*odd_store, "query", "MATCH (p:Part) RETURN p.name AS name ORDER BY name"]
    )
    assert NAME in table.stdout and "Bearing [bold]x" in table.stdout


def test_messages_keep_their_brackets(odd_store: list[str], tmp_path: Path) -> None:
    mapping = tmp_path / "parts.toml"
    mapping.write_text('[columns]\ncolour = "Colour"\n', encoding="utf-8")
    parts = tmp_path / "parts.csv"
    bad = runner.invoke(app, [*odd_store, "import", "parts", str(parts), "-m", str(mapping)])
    assert bad.exit_code == 1 and "keep other columns with [properties])" in bad.stderr
    latin = tmp_path / "latin.csv"
    latin.write_bytes("part_number,name\nP-9,Gehäuse\n".encode("cp1252"))
    undecoded = runner.invoke(app, [*odd_store, "import", "parts", str(latin)])
    assert undecoded.exit_code == 1 and "set [source] encoding in a mapping" in undecoded.stderr


def _csv(args: list[str]) -> list[list[str]]:
    result = runner.invoke(app, [*args, "--csv"])
    assert result.exit_code in (0, 1), result.stderr
    return list(csv.reader(io.StringIO(result.stdout)))


TABLES: dict[str, tuple[list[str], list[str], str | None]] = {
    # command, its header, where its --json keeps the rows
    "recall": (["recall", "lot:LOT-B-2302"],
               ["unit", "depth", "path", "status", "removed_on", "removed_by", "site"], "exposures"),
    "where-used": (["where-used", "B-500"],
                   ["use", "uid", "level", "path", "top", "status", "removed_on", "removed_by", "site"], None),
    "twin list": (["twin", "list"],
                  ["uid", "part_number", "name", "revision", "units", "in_service", "failures"], "aggregates"),
    "audit": (["audit", "--as-of", "2025-06-30", "--no-record"],
              ["rule", "severity", "outcome", "level", "targets", "violations", "new", "known", "seconds", "note"], "rules"),
    "sim runs": (["sim", "runs"], ["run_id", "kind", "model", "twin", "status", "finished"], ""),
    "alerts": (["alerts"], ["uid", "status", "severity", "unit", "start", "end", "peak_score", "threshold",
                            "contributors", "detected_by"], ""),
}  # fmt: skip


@pytest.mark.parametrize("name", list(TABLES))
def test_tables_print_as_csv(fleet_arg: list[str], name: str) -> None:
    command, header, key = TABLES[name]
    rows = _csv([*fleet_arg, *command])
    assert rows[0] == header
    data = _json([*fleet_arg, *command])
    expected = (
        len(data["designed"]) + len(data["built"])
        if key is None
        else len(data if key == "" else data[key])
    )
    assert len(rows) - 1 == expected and all(len(row) == len(header) for row in rows)
    both = runner.invoke(app, [*fleet_arg, *command, "--csv", "--json"])
    assert both.exit_code == 2 and "--csv and --json" in both.stderr


def test_csv_rows_hold_the_values(fleet_arg: list[str]) -> None:
    recall = _csv([*fleet_arg, "recall", "lot:LOT-B-2302"])
    exposures = _json([*fleet_arg, "recall", "lot:LOT-B-2302"])["exposures"]
    removed = next(e for e in exposures if e["status"] == "removed")
    row = next(r for r in recall[1:] if r[0] == removed["unit"])
    assert row[2] == " > ".join(removed["path"])
    assert row[3:6] == ["removed", removed["removed_on"], removed["removed_by"]]
    used = _csv([*fleet_arg, "where-used", "B-500"])
    assert {r[0] for r in used[1:]} == {"designed", "built"}


CAPTION = 'say "hi" <b>&</b> #quot; \\ end'


def test_mermaid_labels_are_quoted_with_entity_codes() -> None:
    diagram = Diagram()
    diagram.edge(diagram.node("a", CAPTION), diagram.node("b", "plain"), 'CONTAINS "x" <y>')
    lines = render_diagram(diagram, "mermaid").splitlines()
    assert lines[1] == '    n0["say #quot;hi#quot; #lt;b#gt;&#lt;/b#gt; #35;quot; \\ end"]'
    assert lines[3] == '    n0 -->|"CONTAINS #quot;x#quot; #lt;y#gt;"| n1'
    for line in lines[1:]:
        label = re.search(r'"(.*)"', line)
        assert label is not None and not set(label.group(1)) & set('"<>')


def _dot_strings(line: str) -> list[str]:
    """The double-quoted strings of a DOT line, unescaped as DOT reads them; the line must
    be nothing but ids, punctuation and well-formed strings."""
    string = r'"((?:[^"\\]|\\.)*)"'
    assert re.fullmatch(rf"\s*n\d+( -> n\d+)? \[label={string}\];", line), line
    return [re.sub(r"\\(.)", r"\1", s) for s in re.findall(string, line)]


def test_dot_labels_escape_quotes_and_backslashes() -> None:
    diagram = Diagram()
    diagram.edge(diagram.node("a", CAPTION), diagram.node("b", "two\nlines"), 'CONTAINS "x" <y>')
    lines = render_diagram(diagram, "dot").splitlines()
    assert _dot_strings(lines[3]) == [CAPTION]
    assert lines[4] == '    n1 [label="two\\nlines"];'
    assert _dot_strings(lines[5]) == ['CONTAINS "x" <y>']
