"""Twins are derived data: a refresh that never ran (the process was killed between an
import and its refresh) is noticed and made good by the next import or `thread status`."""

from __future__ import annotations

import uuid
from pathlib import Path

from typer.testing import CliRunner

from thread.cli.main import app
from thread.pipeline.imports import import_file, refresh_after
from thread.queries.status import store_status
from thread.stores import GraphStore, open_store

LIFECYCLE = Path(__file__).resolve().parent / "data" / "lifecycle"


def _twins(store: GraphStore) -> tuple[int, int]:
    instance = store.read("MATCH (t:InstanceTwin)-[:TWIN_OF]->(:Unit) RETURN count(t) AS n")
    aggregate = store.read("MATCH (a:AggregateTwin) RETURN count(a) AS n")
    return instance[0]["n"], aggregate[0]["n"]


def _imported_without_refresh(store: GraphStore) -> None:
    """What a process killed right after its last write leaves: the data, no twins."""
    for kind in ("parts", "revisions", "units"):
        import_file(store, kind, LIFECYCLE / f"{kind}.csv")


def test_the_next_import_repairs_twins_a_killed_process_left_stale(store: GraphStore) -> None:
    _imported_without_refresh(store)
    assert _twins(store) == (0, 0)
    again = import_file(store, "units", LIFECYCLE / "units.csv")
    assert not again.changed  # the rerun itself changes nothing, as before
    reports = refresh_after(store, [again])
    units = store.read("MATCH (u:Unit) RETURN count(u) AS n")[0]["n"]
    fleets = store.read(
        "MATCH (:Unit)-[:OF_REVISION]->(r:PartRevision) RETURN count(DISTINCT r) AS n"
    )[0]["n"]
    assert [r.importer for r in reports] == ["units", "twins"]
    assert _twins(store) == (units, fleets)
    assert refresh_after(store, [again]) == [again]  # current now: nothing more to do


def test_status_repairs_stale_twins_and_says_so(store: GraphStore) -> None:
    _imported_without_refresh(store)
    assert store_status(store).repaired == []  # without repair, a status changes nothing
    assert _twins(store) == (0, 0)
    status = store_status(store, repair=True)
    assert status.repaired and "refreshed the twins" in status.repaired[0]
    assert _twins(store)[0] > 0
    assert store_status(store, repair=True).repaired == []


def test_twin_refresh_command(embedded_home: Path) -> None:
    spec = f"embedded:{embedded_home}#tw{uuid.uuid4().hex[:10]}"
    with open_store(spec) as store:
        _imported_without_refresh(store)
    runner = CliRunner()
    result = runner.invoke(app, ["--store", spec, "--quiet", "twin", "refresh", "--json"])
    assert result.exit_code == 0, result.stderr
    assert "twins" in result.stdout and '"created":' in result.stdout
    with open_store(spec) as store:
        assert _twins(store)[0] > 0
