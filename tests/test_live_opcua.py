"""OPC UA against a real asyncua server: subscription ingest with source timestamps and
status codes, and guarded write-back of a set point recorded as a Command."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.live import PumpServer, pump_server
from support.net import free_port
from typer.testing import CliRunner

from thread.cli.main import app as cli_app
from thread.live.ingest import IngestOptions, ingest_opcua
from thread.live.opcua_client import OpcuaAccess
from thread.live.session import LiveEvent
from thread.live.setpoints import CommandRefused, act
from thread.pipeline.twins import refresh_twins
from thread.pipeline.write import Source, ThreadService
from thread.records import node, rel
from thread.stores import GraphStore
from thread.telemetry.datasets import read_channel
from thread.telemetry.segments import read_good_samples

MAPPING = Path(__file__).parent / "data" / "live" / "pump-opcua.toml"
UNIT = "unit:P-100/SN-0001"
TWIN = "twin:P-100/SN-0001"
# the device's clock runs a day ahead of the values the server started with
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
BAD_SENSOR_FAILURE = 0x808B0000  # BadSensorFailure


@pytest.fixture(scope="module")
def server() -> Iterator[PumpServer]:
    with pump_server() as running:
        yield running


def ingest(
    store: GraphStore, server: PumpServer, feed: list[tuple[str, float | None, int, int]]
) -> list[LiveEvent]:
    """Run the OPC UA ingest while the device writes `feed` (node, value, seconds, status)."""
    events: list[LiveEvent] = []
    stop = threading.Event()
    options = IngestOptions(create_missing=True, flush_interval=0.1)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            ingest_opcua(
                store,
                OpcuaAccess(server.endpoint),
                MAPPING,
                stop,
                options=options,
                on_event=events.append,
            )
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)  # a failed test must not hang pytest
    thread.start()
    deadline = time.monotonic() + 20
    while not any(e.kind == "connected" for e in events):
        assert not errors, errors
        assert time.monotonic() < deadline, "no OPC UA subscription"
        time.sleep(0.02)
    for name, value, seconds, status in feed:
        server.set(name, value, T0 + timedelta(seconds=seconds), status)
        time.sleep(0.06)  # one publishing interval apart, as a device would
    time.sleep(0.5)
    stop.set()
    thread.join(30)
    assert not errors, errors
    return events


@pytest.fixture
def pump(embedded_store: GraphStore, server: PumpServer) -> GraphStore:
    """A unit with its twin, its channels bound by the OPC UA mapping (one ingest run)."""
    onto = embedded_store.ontology
    unit = node(onto, "Unit", {"part_number": "P-100", "serial": "SN-0001", "status": "in_service"})
    ThreadService(embedded_store).import_records([unit], Source("test", "pump"))
    refresh_twins(embedded_store)
    server.set("SpeedSetpoint", 1450.0, datetime.now(UTC))  # as the server started
    ingest(embedded_store, server, [])
    return embedded_store


def test_subscription_keeps_source_timestamps_and_flags_bad_quality(
    pump: GraphStore, server: PumpServer
) -> None:
    feed = [
        ("Temperature", 40.0, 0, 0),
        ("Temperature", 41.5, 1, 0),
        ("Temperature", None, 2, BAD_SENSOR_FAILURE),
        ("Temperature", 43.0, 3, 0),
        ("Vibration", 2.5, 0, 0),
    ]
    ingest(pump, server, feed)
    table = read_channel(pump.data_dir, "channel:PUMP-1/temperature")
    stamps = [t for t in table.column("t").to_pylist() if T0 <= t < T0 + timedelta(hours=1)]
    assert stamps == [T0 + timedelta(seconds=s) for s in (0, 1, 2, 3)]
    times, values = read_good_samples(pump.data_dir, "channel:PUMP-1/temperature")
    window = (times >= T0.timestamp() * 1e6) & (times < (T0.timestamp() + 3600) * 1e6)
    assert values[window].tolist() == [40.0, 41.5, 43.0]  # the bad one is stored, not good
    summary = pump.read(
        "MATCH (c:Channel {uid: 'channel:PUMP-1/temperature'}) "
        "RETURN c.last_value AS last, c.last AS at, c.bad_count AS bad, c.max AS max"
    )[0]
    at = (T0 + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert summary == {"last": 43.0, "at": at, "bad": 1, "max": 43.0}
    control = pump.read(
        "MATCH (:Unit {uid: $unit})<-[:OBSERVES]-(:Sensor)-[:HAS_CHANNEL]->(c:Channel {control: true}) "
        "RETURN c.channel AS channel, c.setpoint_min AS low, c.setpoint_max AS high, c.opcua_node AS node",
        {"unit": UNIT},
    )
    assert control == [
        {
            "channel": "speed_setpoint",
            "low": 0.0,
            "high": 3000.0,
            "node": "ns=2;s=Pump1.SpeedSetpoint",
        }
    ]


def test_guarded_write_back_within_bounds_is_recorded_with_its_read_back(
    pump: GraphStore, server: PumpServer
) -> None:
    dry = act(pump, TWIN, "speed_setpoint", 1500, reason="more flow")
    assert dry.status == "dry-run" and dry.command is None
    assert server.read("SpeedSetpoint") == 1450.0
    assert pump.read("MATCH (c:Command) RETURN c.uid AS uid") == []

    done = act(
        pump, TWIN, "speed_setpoint", 1500, reason="more flow", confirm=True, issued_by="ops"
    )
    assert done.status == "confirmed"
    assert (done.before, done.read_back) == (1450.0, 1500.0)
    assert server.read("SpeedSetpoint") == 1500.0
    recorded = pump.read(
        "MATCH (c:Command)-[:ISSUED_TO]->(u:Unit), (c)-[:SETS]->(ch:Channel) "
        "RETURN c.value AS value, c.read_back AS read_back, c.previous_value AS before, "
        "c.issued_by AS by, c.reason AS reason, c.status AS status, u.uid AS unit, ch.channel AS channel"
    )
    assert recorded == [
        {
            "value": 1500.0,
            "read_back": 1500.0,
            "before": 1450.0,
            "by": "ops",
            "reason": "more flow",
            "status": "confirmed",
            "unit": UNIT,
            "channel": "speed_setpoint",
        }
    ]


REFUSED = (
    "MATCH (c:Command {status: 'refused'})-[:ISSUED_TO]->(u:Unit) "
    "OPTIONAL MATCH (c)-[:SETS]->(ch:Channel) OPTIONAL MATCH (c)-[:ANSWERS]->(a) "
    "RETURN c.uid AS uid, c.value AS value, c.setpoint AS setpoint, c.reason AS reason, "
    "c.issued_by AS by, c.error AS error, c.read_back AS read_back, u.uid AS unit, "
    "ch.uid AS channel, a.uid AS answers"
)


def test_refused_write_backs_write_nothing_to_the_asset_and_are_recorded_with_the_reason(
    pump: GraphStore, server: PumpServer
) -> None:
    before = server.read("SpeedSetpoint")
    with pytest.raises(CommandRefused, match=r"3500 is outside the bounds .*: 0 \.\. 3000 rpm"):
        act(pump, TWIN, "speed_setpoint", 3500)  # a dry run records nothing
    assert pump.read("MATCH (c:Command) RETURN c.uid AS uid") == []

    with pytest.raises(CommandRefused, match=r"outside the bounds .*3000 rpm") as out_of_bounds:
        act(pump, TWIN, "speed_setpoint", 3500, reason="more flow", confirm=True, issued_by="ops")
    with pytest.raises(CommandRefused, match="not a control channel") as not_control:
        act(pump, TWIN, "temperature", 10, confirm=True, issued_by="ops")
    with pytest.raises(CommandRefused, match="has no channel 'speed'") as unknown:
        act(pump, TWIN, "speed", 10, confirm=True, issued_by="ops")
    assert server.read("SpeedSetpoint") == before
    refused = {row.pop("uid"): row for row in pump.read(REFUSED)}
    assert f"recorded as {out_of_bounds.value.command}" in str(out_of_bounds.value)
    common = {"by": "ops", "unit": UNIT, "read_back": None, "answers": None}
    assert refused == {
        out_of_bounds.value.command: {
            **common,
            "value": 3500.0,
            "setpoint": "speed_setpoint",
            "reason": "more flow",
            "channel": "channel:PUMP-1/speed_setpoint",
            "error": "3500 is outside the bounds of channel:PUMP-1/speed_setpoint: 0 .. 3000 rpm",
        },
        not_control.value.command: {
            **common,
            "value": 10.0,
            "setpoint": "temperature",
            "reason": "",
            "channel": "channel:PUMP-1/temperature",
            "error": str(not_control.value).split(" (refused, recorded as")[0],
        },
        unknown.value.command: {
            **common,
            "value": 10.0,
            "setpoint": "speed",
            "reason": "",
            "channel": None,  # no such channel: the command is linked to its unit only
            "error": f"{UNIT} has no channel 'speed'; its control channels: speed_setpoint",
        },
    }


def test_an_open_critical_alert_blocks_write_back_unless_the_command_answers_it(
    pump: GraphStore, server: PumpServer
) -> None:
    onto = pump.ontology
    alert = node(
        onto,
        "Alert",
        {
            "alert_id": "A-1",
            "status": "open",
            "severity": "critical",
            "start": "2025-03-01T12:00:00Z",
        },
    )
    ThreadService(pump).import_records(
        [alert, rel("RAISED_ON", alert, ("Unit", UNIT))], Source("test", "alert")
    )
    with pytest.raises(CommandRefused, match=r"open critical alert.*alert:A-1"):
        act(pump, TWIN, "speed_setpoint", 1000, confirm=True, reason="faster")
    [refused] = pump.read(REFUSED)
    assert (refused["reason"], refused["channel"], refused["answers"]) == (
        "faster",
        "channel:PUMP-1/speed_setpoint",
        None,
    )
    assert refused["error"].startswith(f"{UNIT} has open critical alert(s) alert:A-1")
    assert server.read("SpeedSetpoint") != 1000.0

    done = act(
        pump, TWIN, "speed_setpoint", 1000, confirm=True, answers="alert:A-1", reason="cool down"
    )
    assert done.status == "confirmed" and server.read("SpeedSetpoint") == 1000.0
    answered = pump.read("MATCH (c:Command)-[:ANSWERS]->(a:Alert) RETURN a.uid AS alert")
    assert answered == [{"alert": "alert:A-1"}]


def test_act_command_line(pump: GraphStore, server: PumpServer) -> None:
    app = cli_app
    runner = CliRunner()
    store = ["--store", f"embedded:{pump.folder}#{pump.graph_name}"]  # type: ignore[attr-defined]
    dry = runner.invoke(app, [*store, "act", TWIN, "speed_setpoint", "1200"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: would set speed_setpoint = 1200" in dry.stdout
    refused = runner.invoke(app, [*store, "act", TWIN, "speed_setpoint", "3500", "--confirm"])
    assert refused.exit_code == 1
    assert "Error: 3500 is outside the bounds" in refused.stderr
    [recorded] = pump.read(REFUSED)
    assert f"(refused, recorded as {recorded['uid']})" in refused.stderr
    done = runner.invoke(
        app, [*store, "act", TWIN, "speed_setpoint", "1200", "--confirm", "--by", "cli", "--json"]
    )
    assert done.exit_code == 0, done.output
    assert '"status": "confirmed"' in done.stdout and '"read_back": 1200.0' in done.stdout
    assert server.read("SpeedSetpoint") == 1200.0


_NO_NODE_MAPPING = """kind = "opcua"
publishing_interval_ms = 50

[[nodes]]
node = "nsu=urn:thread:test-pump;s=Pump1.NoSuchNode"
sensor = "PUMP-9"
channel = "temperature"
unit = "degC"
"""


def _ingest_cli(store: GraphStore, endpoint: str, mapping: Path) -> Any:
    spec = f"embedded:{store.folder}#{store.graph_name}"  # type: ignore[attr-defined]
    return CliRunner().invoke(
        cli_app,
        ["--store", spec, "--quiet", "ingest", "opcua", "--endpoint", endpoint,
         "--mapping", str(mapping), "--create-missing", "--flush-interval", "0.1",
         "--duration", "1.5"],
    )  # fmt: skip


def _opcua_runs(store: GraphStore) -> list[dict[str, Any]]:
    return store.read(
        "MATCH (r:ImportRun {importer: 'live-opcua'}) RETURN r.status AS status, r.error AS error"
    )


def test_an_ingest_whose_mapping_matches_no_node_fails(
    embedded_store: GraphStore, server: PumpServer, tmp_path: Path
) -> None:
    mapping = tmp_path / "none.toml"
    mapping.write_text(_NO_NODE_MAPPING, encoding="utf-8")
    result = _ingest_cli(embedded_store, server.endpoint, mapping)
    assert result.exit_code == 1, result.output
    assert "no sample was stored (0 received)" in result.stderr
    [run] = _opcua_runs(embedded_store)
    assert run["status"] == "failed" and "no sample was stored" in run["error"]


def test_an_ingest_in_which_nothing_arrives_fails(
    embedded_store: GraphStore, tmp_path: Path
) -> None:
    result = _ingest_cli(embedded_store, f"opc.tcp://127.0.0.1:{free_port()}/pump", MAPPING)
    assert result.exit_code == 1, result.output
    assert "no sample was stored" in result.stderr
    assert [r["status"] for r in _opcua_runs(embedded_store)] == ["failed"]
    samples = "MATCH (c:Channel) WHERE c.count > 0 RETURN count(c) AS c"
    assert embedded_store.read(samples) == [{"c": 0}]
