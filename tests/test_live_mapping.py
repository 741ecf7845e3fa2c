"""Live mappings are checked when loaded, with the field named; payloads decode as their
topic rule says (times, units, qualities, batches) or say why they cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thread.errors import SourceError
from thread.live.mapping import TopicRule, load_mqtt_mapping, load_opcua_mapping
from thread.live.mqtt import Broker
from thread.live.opcua_client import OpcuaError, display_endpoint
from thread.live.payloads import BAD, UNCERTAIN, PayloadError, TopicRouter

LIVE = Path(__file__).parent / "data" / "live"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "mappings"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(text)
    return path


def test_the_shipped_mappings_load() -> None:
    assert load_mqtt_mapping(LIVE / "plant-json.toml").topics[0].filter == "plant/+/+"
    assert load_mqtt_mapping(EXAMPLES / "skab-live-mqtt.toml").topics[0].channel == "{metric}"
    pump = load_opcua_mapping(EXAMPLES / "pump-live-opcua.toml")
    assert [n.channel for n in pump.nodes if n.control] == ["speed_setpoint"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[topics]]\ntopic = "plant/+/x"', "write {name} for a wildcard level"),
        ('[[topics]]\ntopic = "plant/pump-{id}"', "a field must be a whole level"),
        ('[[topics]]\ntopic = "plant/{sensor_id}"\nchannel = "{unit}"', "names unit"),
        (
            '[[topics]]\ntopic = "a/{sensor_id}/{channel}"\ntime_format = "epoch_days"',
            "time_format",
        ),
        ('[[topics]]\ntopic = "a/{sensor_id}/{channel}"\nqos = 2', "topics.0.qos"),
        (
            'kind = "opcua"\n[[nodes]]\nnode = "ns=2;s=X"\nsensor = "S"\nchannel = "c"\ncontrol = true',
            "needs min and max",
        ),
        ('kind = "opcua"\nnodes = []', "nodes"),
        ('[[topics]]\ntopic = "a/{sensor_id}/{channel}"\ncolour = "red"', "colour"),
        (
            '[[topics]]\ntopic = "a/{sensor_id}/{channel}"\nchannel = "{channel:>1000000000}"',
            "a format may only pad or cut the text",
        ),
        (
            '[[topics]]\ntopic = "a/{sensor_id}/{channel}"\nchannel = "{channel!r}"',
            "conversions are not supported",
        ),
    ],
    ids=[
        "plus",
        "partial-level",
        "unknown-field",
        "time-format",
        "qos",
        "bounds",
        "no-nodes",
        "unknown-key",
        "huge-width",
        "conversion",
    ],
)
def test_bad_mappings_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    load = load_opcua_mapping if "opcua" in text else load_mqtt_mapping
    with pytest.raises(SourceError, match=message.replace("{", r"\{").replace("}", r"\}")):
        load(path)


def test_a_mapping_for_the_other_protocol_is_refused() -> None:
    with pytest.raises(SourceError, match="for 'opcua', not 'mqtt'"):
        load_mqtt_mapping(LIVE / "pump-opcua.toml")


def router(**rule: object) -> TopicRouter:
    return TopicRouter([TopicRule.model_validate({"topic": "p/{sensor_id}/{channel}", **rule})])


def test_times_units_and_qualities() -> None:
    iso = router(time="at", unit="u", quality="q", timezone="Europe/Berlin")
    payload = json.dumps(
        {"at": "2025-03-01 13:00:00", "value": "2.5", "u": "bar", "q": "uncertain"}
    )
    assert iso.decode("p/S1/pressure", payload.encode(), 7) == [
        ("S1", "pressure", "bar", 1_740_830_400_000_000, 2.5, UNCERTAIN)
    ]
    epoch = router(time="ts", time_format="epoch_s", value="data.v", quality="ok")
    sample = epoch.decode("p/S1/x", b'{"ts": 1700000000.25, "data": {"v": 1}, "ok": false}', 0)
    assert sample == [("S1", "x", "", 1_700_000_000_250_000, 1.0, BAD)]
    arrival = router(payload="number")
    assert arrival.decode("p/S2/y", b" 3.5 ", 42) == [("S2", "y", "", 42, 3.5, 0)]
    assert arrival.spec("S2", "y") is not None


@pytest.mark.parametrize(
    ("rule", "payload", "reason"),
    [
        ({}, b"[1, 2]", "not a JSON object"),
        ({}, b'{"value": true}', "value True is not a number"),
        ({"payload": "number"}, b"NaN", "not a finite number"),
        ({"time": "ts", "time_format": "epoch_ms"}, b'{"ts": "soon", "value": 1}', "time 'soon'"),
        ({"quality": "q"}, b'{"value": 1, "q": "fine"}', "quality 'fine'"),
        (
            {"payload": "metrics", "channel": "{metric}"},
            b'{"metrics": [{"value": 1}]}',
            "without a 'name'",
        ),
    ],
    ids=["array", "boolean", "nan", "time", "quality", "metric-name"],
)
def test_payloads_that_do_not_fit_say_why(
    rule: dict[str, object], payload: bytes, reason: str
) -> None:
    with pytest.raises(PayloadError, match=reason.replace("[", r"\[")):
        router(**rule).decode("p/S1/c", payload, 0)


def test_addresses_never_carry_credentials() -> None:
    assert Broker.parse("mqtts://broker.plant:8884").url == "mqtts://broker.plant:8884"
    assert Broker.parse("broker.plant", tls=True).port == 8883
    with pytest.raises(SourceError, match="--username"):
        Broker.parse("mqtt://user:secret@broker.plant")
    assert (
        display_endpoint("opc.tcp://op:secret@plc.plant:4840/line1")
        == "opc.tcp://plc.plant:4840/line1"
    )
    with pytest.raises(OpcuaError, match=r"use opc\.tcp://"):
        display_endpoint("http://plc.plant")
