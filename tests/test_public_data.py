"""Lifecycle importers on real public data from ../shared/data (sources in its README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from thread.pipeline.imports import ImportOptions, import_file
from thread.stores import GraphStore
from thread.telemetry.datasets import read_channel

MAPPINGS = Path(__file__).resolve().parents[1] / "examples" / "mappings"


def test_wind_farm_work_orders(store: GraphStore, shared_data: Path) -> None:
    """49 real work orders (mvmalyi/wind-farm-maintenance-logs-labelling-with-llms, MIT),
    Portuguese and English text, one turbine."""
    source = shared_data / "maintenance/wind_turbine_workorders/input_dataset.csv"
    options = ImportOptions(mapping=MAPPINGS / "wind-turbine-workorders.toml", create_missing=True)
    report = import_file(store, "work-orders", source, options)
    assert report.nodes.created == 49 and report.placeholders == 1
    turbines = store.read(
        "MATCH (m:MaintenanceEvent)-[:PERFORMED_ON]->(u:Unit) RETURN DISTINCT u.uid AS uid"
    )
    assert turbines == [{"uid": "unit:WIND-TURBINE/WT-000"}]
    event = store.read("MATCH (m:MaintenanceEvent {uid: 'wo:124161'}) RETURN m")[0]["m"]
    assert event["component"] == "MST11"
    assert event["component_name"] == "MV-Transformation Generator 1"
    assert event["description"] == "Input cell voltage indicator (L1) has a blown bulb."
    assert event["description_pt"].startswith("Sinalizador de tensão da cela de entrada (L1), têm")
    assert event["opened"] == "2025-01-01T00:00:00Z" and event["status"] == "open"
    codes = store.read("MATCH (m:MaintenanceEvent) RETURN count(DISTINCT m.component) AS n")[0]["n"]
    assert codes > 1
    assert not import_file(store, "work-orders", source, options).changed


def test_cmapss_fd001_run_to_failure(store: GraphStore, shared_data: Path) -> None:
    """NASA C-MAPSS FD001 training set (US Government work): 100 engines, 20,631 cycles,
    headerless, whitespace-separated, indexed by cycle."""
    source = shared_data / "sensor/cmapss/train_FD001.txt"
    options = ImportOptions(mapping=MAPPINGS / "cmapss-fd001.toml", create_missing=True)
    report = import_file(store, "telemetry", source, options)
    assert report.placeholders == 100  # the engines, as units
    assert report.samples == 20631 * 24
    engines = store.read("MATCH (s:Sensor)-[:OBSERVES]->(u:Unit) RETURN count(DISTINCT u) AS n")[0][
        "n"
    ]
    assert engines == 100
    per_unit = store.read(
        "MATCH (u:Unit)<-[:OBSERVES]-(:Sensor)-[:HAS_CHANNEL]->(c:Channel) "
        "RETURN u.uid AS unit, count(c) AS channels, max(c.last) AS life"
    )
    assert {row["channels"] for row in per_unit} == {24}
    lives = [row["life"] for row in per_unit]
    assert (min(lives), max(lives)) == (128, 362)
    for channel in ("s1", "s21", "setting1"):
        total = store.read(
            "MATCH (c:Channel {channel: $c}) RETURN sum(c.count) AS n", {"c": channel}
        )[0]["n"]
        assert total == 20631
    constant = store.read(
        "MATCH (c:Channel) WHERE c.constant = true RETURN DISTINCT c.channel AS c ORDER BY c"
    )
    assert {row["c"] for row in constant} >= {"s1", "s5", "s10", "s16", "s18", "s19"}
    assert "s2" not in {row["c"] for row in constant}
    samples = read_channel(store.data_dir, "channel:FD001-1/s2")
    assert samples.num_rows == 192 and samples.column("t")[0].as_py() == 1
    assert samples.column("value")[0].as_py() == pytest.approx(641.82)


def test_skab_pump_telemetry(store: GraphStore, shared_data: Path) -> None:
    """Skoltech Anomaly Benchmark, anomaly-free run (waico/SKAB, GPL-3.0): one pump rig,
    ';'-separated with a datetime column, one row per second."""
    source = shared_data / "sensor/skab/anomaly-free/anomaly-free.csv"
    options = ImportOptions(mapping=MAPPINGS / "skab-pump.toml", create_missing=True)
    report = import_file(store, "telemetry", source, options)
    assert report.samples == 9405 * 8
    channels = store.read(
        "MATCH (:Unit {uid: 'unit:SKAB-PUMP/RIG-1'})<-[:OBSERVES]-(:Sensor)-[:HAS_CHANNEL]->(c) "
        "RETURN c.channel AS name, c.count AS n, c.unit_of_measure AS unit, c.first AS first, c.last AS last ORDER BY name"
    )
    assert len(channels) == 8 and {c["n"] for c in channels} == {9405}
    current = next(c for c in channels if c["name"] == "Current")
    assert current["unit"] == "A"
    assert (current["first"], current["last"]) == ("2020-02-08T13:30:47Z", "2020-02-08T16:16:47Z")
    temperature = read_channel(store.data_dir, "channel:SKAB-RIG/Temperature")
    assert temperature.column("value")[0].as_py() == pytest.approx(90.6454)
