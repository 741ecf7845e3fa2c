"""A source's identity across imports: the importer and a name (`--source-id`, else the
file's name), so a weekly export saved under a new name or folder still reports what
disappeared; stores keyed by absolute path (Thread 0.1.0) are continued."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thread.cli.main import app
from thread.pipeline.imports import ImportOptions, import_file
from thread.stores import GraphStore

PARTS = "part_number,name\nP-1,Pump\nP-2,Bearing\nP-3,Seal\n"
FEWER = "part_number,name\nP-1,Pump\nP-2,Bearing\n"


def _csv(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_a_renamed_export_with_the_same_source_id_reports_what_disappeared(
    store: GraphStore, tmp_path: Path
) -> None:
    weekly = ImportOptions(source_id="plm-weekly")
    first = import_file(store, "parts", _csv(tmp_path, "parts-w1.csv", PARTS), weekly)
    assert first.source_id == "parts:plm-weekly" and first.new_source
    second = import_file(store, "parts", _csv(tmp_path / "later", "parts-w2.csv", FEWER), weekly)
    assert not second.new_source
    assert second.disappeared == ["part:P-3"]
    assert store.read("MATCH (p:Part {uid: 'part:P-3'}) RETURN p._missing AS m") == [{"m": True}]


def test_the_same_file_name_in_another_folder_is_the_same_source(
    store: GraphStore, tmp_path: Path
) -> None:
    import_file(store, "parts", _csv(tmp_path / "w1", "parts.csv", PARTS))
    report = import_file(store, "parts", _csv(tmp_path / "w2", "parts.csv", FEWER))
    assert report.source_id == "parts:parts.csv" and report.disappeared == ["part:P-3"]


def test_another_file_name_without_a_source_id_is_a_new_source(
    store: GraphStore, tmp_path: Path
) -> None:
    import_file(store, "parts", _csv(tmp_path, "parts-w1.csv", PARTS))
    report = import_file(store, "parts", _csv(tmp_path, "parts-w2.csv", FEWER))
    assert report.new_source and report.disappeared == []
    assert report.nodes.disappeared == 0
    assert store.read("MATCH (p:Part) WHERE p._missing RETURN p.uid AS uid") == []
    assert report.to_dict()["new_source"] is True


def test_the_first_import_after_the_upgrade_continues_the_absolute_path_key(
    store: GraphStore, tmp_path: Path
) -> None:
    """A store written by Thread 0.1.0 keyed the file by its absolute path."""
    path = _csv(tmp_path, "parts.csv", PARTS)
    import_file(store, "parts", path)
    legacy = {"new": "parts:parts.csv", "old": f"parts:{path.resolve()}"}
    store.write("MATCH (n:Entity {_src: $new}) SET n._src = $old", legacy)
    store.write("MATCH (r:ImportRun {source_id: $new}) SET r.source_id = $old", legacy)
    path.write_text(FEWER)
    report = import_file(store, "parts", path)
    assert not report.new_source and report.disappeared == ["part:P-3"]
    # what the old key wrote is the new key's now, so later runs find it
    assert store.read("MATCH (n:Entity {_src: $old}) RETURN count(n) AS c", legacy) == [{"c": 0}]
    path.write_text("part_number,name\nP-1,Pump\n")
    assert import_file(store, "parts", path).disappeared == ["part:P-2"]


def test_the_cli_takes_source_id(embedded_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    store = ["--store", f"embedded:{embedded_home}#src{uuid.uuid4().hex[:10]}"]
    first = _csv(tmp_path, "a.csv", PARTS)
    second = _csv(tmp_path, "b.csv", FEWER)
    for path in (first, second):
        done = runner.invoke(app, [*store, "import", "parts", str(path), "--source-id", "plm"])
        assert done.exit_code == 0, done.output
    assert "disappeared from the source (kept, marked _missing): part:P-3" in done.stdout


@pytest.mark.parametrize(
    "command",
    [["status"], ["show", "part:P-1"], ["trace", "part:P-1"], ["query", "RETURN 1"],
     ["twin", "list"], ["sim", "runs"], ["audit"]],
    ids=lambda c: " ".join(c),
)  # fmt: skip
def test_a_read_on_a_folder_without_a_store_is_an_error(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "typo"
    done = CliRunner().invoke(app, ["--store", f"embedded:{missing}", *command])
    assert done.exit_code == 1, done.output
    assert f"no store at {missing}; create it with `thread init` or an import" in done.stderr
    assert not missing.exists()


def test_init_and_import_create_the_store(tmp_path: Path, test_data: Path) -> None:
    runner = CliRunner()
    for folder, command in (
        (tmp_path / "a", ["init"]),
        (tmp_path / "b", ["import", "parts", str(test_data / "lifecycle" / "parts.csv")]),
    ):
        done = runner.invoke(app, ["--store", f"embedded:{folder}", *command])
        assert done.exit_code == 0, done.output
        assert runner.invoke(app, ["--store", f"embedded:{folder}", "status"]).exit_code == 0
