"""MQTT ingest against a real Mosquitto broker: exactly once across stops, broker restarts
and replays; malformed, unknown and mislabelled samples reported and skipped."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

from support.live import Mosquitto, Publisher, mosquitto

from thread.live.ingest import IngestOptions, ingest_mqtt
from thread.live.mapping import load_mqtt_mapping
from thread.live.mqtt import Broker, MqttIngest
from thread.live.payloads import TopicRouter
from thread.live.session import LiveEvent, LiveSession, LiveStats
from thread.stores import GraphStore
from thread.telemetry.datasets import read_channel
from thread.telemetry.segments import read_good_samples

MAPPING = Path(__file__).parent / "data" / "live" / "plant-json.toml"
METRICS = Path(__file__).parent / "data" / "live" / "plant-metrics.toml"
T0 = 1_700_000_000_000  # ms


class Ingest:
    """`ingest_mqtt` on a thread, with its events collected."""

    def __init__(
        self,
        store: GraphStore,
        broker: Mosquitto,
        mapping: Path = MAPPING,
        protocol: str = "5",
        **options: Any,
    ) -> None:
        self.events: list[LiveEvent] = []
        self.stop_event = threading.Event()
        self.stats: LiveStats | None = None
        self.error: BaseException | None = None
        settings = {"create_missing": True, "flush_interval": 0.1, **options}

        def run() -> None:
            try:
                self.stats = ingest_mqtt(
                    store,
                    broker.url,
                    mapping,
                    self.stop_event,
                    options=IngestOptions(**settings),
                    client_id="thread-test",
                    protocol=protocol,
                    on_event=self.events.append,
                )
            except BaseException as exc:
                self.error = exc

        self.thread = threading.Thread(
            target=run, daemon=True
        )  # a failed test must not hang pytest
        self.thread.start()
        self.wait(lambda: any(e.kind == "connected" for e in self.events), "connected")

    def wait(self, condition: Any, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.error is not None:
                raise self.error
            if time.monotonic() > deadline:
                recent = ", ".join(f"{e.kind}: {e.message}" for e in self.events[-5:])
                raise TimeoutError(
                    f"waited {timeout} s for {what}; stored {self.stored()}; last events: {recent}"
                )
            time.sleep(0.02)

    def stored(self) -> int:
        flushes = [e for e in self.events if e.kind == "flush"]
        return int(flushes[-1].data["totals"]["stored"]) if flushes else 0

    def wait_stored(self, count: int, timeout: float = 20.0) -> None:
        self.wait(lambda: self.stored() >= count, f"{count} stored samples", timeout)

    def stop(self) -> LiveStats:
        self.stop_event.set()
        self.thread.join(30)
        if self.error is not None:
            raise self.error
        assert self.stats is not None
        return self.stats

    def of(self, kind: str) -> list[LiveEvent]:
        return [e for e in self.events if e.kind == kind]


def reading(i: int, **extra: Any) -> str:
    return json.dumps({"ts": T0 + i * 1000, "value": float(i), **extra})


def assert_exactly(store: GraphStore, channel: str, count: int) -> None:
    table = read_channel(store.data_dir, channel)
    times = table.column("t").to_pylist()
    assert len(times) == count
    assert len(set(times)) == count
    assert sorted(table.column("value").to_pylist()) == [float(i) for i in range(count)]
    summary = store.read(
        "MATCH (c:Channel {uid: $uid}) RETURN c.count AS count, c.last_value AS last, c._run AS run",
        {"uid": channel},
    )[0]
    assert summary["count"] == count
    assert summary["last"] == float(count - 1)
    assert summary["run"].startswith("run:")


def test_messages_published_while_stopped_arrive_exactly_once(
    embedded_store: GraphStore, broker: Mosquitto
) -> None:
    first = Ingest(embedded_store, broker)  # creates the persistent session
    first.stop()
    publisher = Publisher(broker.port)
    for i in range(600):
        publisher.publish("plant/S1/temperature", reading(i))
    publisher.flush()

    second = Ingest(embedded_store, broker)
    second.wait_stored(600)
    stats = second.stop()
    assert (stats.stored, stats.duplicates) == (600, 0)
    assert "resumed session" in second.of("connected")[0].message
    assert_exactly(embedded_store, "channel:S1/temperature", 600)

    for i in range(600):  # a replay of the same readings stores nothing new
        publisher.publish("plant/S1/temperature", reading(i))
    publisher.close()
    third = Ingest(embedded_store, broker)
    third.wait(lambda: third.stored() + _duplicates(third) >= 600, "the replay")
    stats = third.stop()
    assert (stats.stored, stats.duplicates) == (0, 600)
    assert_exactly(embedded_store, "channel:S1/temperature", 600)
    run = embedded_store.read(
        "MATCH (r:ImportRun {importer: 'live-mqtt'}) WHERE r.duplicates = 600 "
        "RETURN r.status AS status, r.samples AS samples"
    )
    assert run == [{"status": "succeeded", "samples": 0}]


def test_mqtt_3_1_1_sessions_persist_too(embedded_store: GraphStore, broker: Mosquitto) -> None:
    Ingest(embedded_store, broker, protocol="3.1.1").stop()
    publisher = Publisher(broker.port)
    for i in range(200):
        publisher.publish("plant/S1/temperature", reading(i))
    publisher.close()
    ingest = Ingest(embedded_store, broker, protocol="3.1.1")
    ingest.wait_stored(200)
    ingest.stop()
    assert_exactly(embedded_store, "channel:S1/temperature", 200)


def _duplicates(ingest: Ingest) -> int:
    flushes = ingest.of("flush")
    return int(flushes[-1].data["totals"]["duplicates"]) if flushes else 0


def test_broker_stopped_mid_stream_loses_and_duplicates_nothing(
    embedded_store: GraphStore, broker: Mosquitto
) -> None:
    ingest = Ingest(embedded_store, broker)
    publisher = Publisher(broker.port)

    def publish() -> None:
        for i in range(1500):
            publisher.publish("plant/S1/temperature", reading(i))
            time.sleep(0.0005)

    streaming = threading.Thread(target=publish, daemon=True)
    streaming.start()
    ingest.wait_stored(100)
    broker.stop(signal.SIGTERM)
    time.sleep(0.5)
    broker.start()
    streaming.join()
    publisher.close()
    ingest.wait_stored(1500)
    stats = ingest.stop()
    assert stats.stored == 1500
    assert len(ingest.of("connected")) >= 2
    assert_exactly(embedded_store, "channel:S1/temperature", 1500)


def test_broker_killed_mid_stream_redelivery_is_deduplicated(
    embedded_store: GraphStore, broker: Mosquitto
) -> None:
    """SIGKILL: the broker restarts from its last saved state, so it delivers again what
    Thread had already stored and acknowledged; those come back as duplicates."""
    Ingest(embedded_store, broker).stop()
    publisher = Publisher(broker.port)
    for i in range(3000):
        publisher.publish("plant/S1/temperature", reading(i))
    publisher.flush()
    broker.wait_saved(since=time.time())  # its queue saved (autosave) before we pull the plug
    ingest = Ingest(embedded_store, broker, flush_interval=0.05, flush_size=200)
    ingest.wait(lambda: ingest.stored() > 0, "the first flush")
    broker.stop(signal.SIGKILL)
    broker.start()
    for i in range(3000, 3200):  # the stream goes on after the restart
        publisher.publish("plant/S1/temperature", reading(i))
    publisher.close()
    # paho's reconnect backs off (1, 2, 4 … 30 s) while the restarted broker loads its state
    ingest.wait_stored(3200, timeout=90)
    stats = ingest.stop()
    assert stats.stored == 3200
    assert_exactly(embedded_store, "channel:S1/temperature", 3200)


def test_messages_a_killed_broker_forgot_are_stored_from_what_thread_received(
    embedded_store: GraphStore, tmp_path: Path
) -> None:
    """The broker had delivered 23 messages, Thread had not flushed (so not acknowledged)
    them, and the broker was killed before it saved them: it restarts without them and
    never delivers them again. Thread stores what it received anyway, exactly once."""
    events: list[LiveEvent] = []
    session = LiveSession(
        embedded_store,
        importer="live-mqtt",
        source="test",
        source_id="test-broker-kill",
        create_missing=True,
        on_event=events.append,
    )

    def wait(condition: Any, what: str) -> None:
        deadline = time.monotonic() + 20
        while not condition():
            assert time.monotonic() < deadline, f"waited 20 s for {what}"
            time.sleep(0.02)

    def count(kind: str) -> int:
        return sum(e.kind == kind for e in events)

    with mosquitto(tmp_path / "broker", autosave_interval=3600) as broker:
        router = TopicRouter(load_mqtt_mapping(MAPPING).topics)
        ingest = MqttIngest(Broker.parse(broker.url), router, session, client_id="thread-test")
        session.start()
        ingest.start()
        try:
            wait(lambda: count("connected") == 1, "the connection")
            publisher = Publisher(broker.port)
            for i in range(23):
                publisher.publish("plant/S1/temperature", reading(i))
            publisher.close()
            wait(lambda: session.stats.received == 23, "23 received samples")
            broker.stop(signal.SIGKILL)  # nothing saved since it started
            wait(lambda: count("disconnected") >= 1, "the lost connection")
            broker.start()
            wait(lambda: count("connected") == 2, "the reconnection")
            result = session.flush()
            assert ingest.acknowledge(result.tokens) == 0  # the broker forgot them
            assert (result.stored, result.duplicates) == (23, 0)
        finally:
            ingest.stop()
            session.close("succeeded")
    assert "new session" in [e.message for e in events if e.kind == "connected"][-1]
    assert_exactly(embedded_store, "channel:S1/temperature", 23)


def test_malformed_payload_is_reported_with_its_topic_and_skipped(
    embedded_store: GraphStore, broker: Mosquitto
) -> None:
    ingest = Ingest(embedded_store, broker)
    publisher = Publisher(broker.port)
    publisher.publish("plant/S1/temperature", reading(0))
    publisher.publish("plant/S1/temperature", b"{not json")
    publisher.publish("plant/S2/pressure", json.dumps({"ts": T0, "value": "high"}))
    publisher.publish("plant/S2/pressure", json.dumps({"ts": "yesterday", "value": 1}))
    publisher.publish("plant/S3/flow", json.dumps({"ts": T0}))
    publisher.publish("plant/S1/temperature", reading(1))
    publisher.close()
    ingest.wait_stored(2)
    stats = ingest.stop()
    assert stats.malformed_messages == 4
    reported = {(e.data["topic"], e.data["reason"].split(" ")[0]) for e in ingest.of("malformed")}
    assert reported == {
        ("plant/S1/temperature", "payload"),
        ("plant/S2/pressure", "value"),
        ("plant/S2/pressure", "time"),
        ("plant/S3/flow", "value"),
    }
    assert_exactly(embedded_store, "channel:S1/temperature", 2)


def test_unknown_sensors_are_reported_and_created_only_when_asked(
    embedded_store: GraphStore, broker: Mosquitto
) -> None:
    ingest = Ingest(embedded_store, broker, create_missing=False)
    publisher = Publisher(broker.port)
    publisher.publish("plant/S9/temperature", reading(0))
    publisher.flush()
    ingest.wait(lambda: ingest.of("unknown_channel"), "the unknown channel report")
    stats = ingest.stop()
    assert (stats.stored, stats.unknown) == (0, 1)
    assert "channel:S9/temperature" in ingest.of("unknown_channel")[0].message
    assert embedded_store.read("MATCH (c:Channel) RETURN c.uid AS uid") == []

    created = Ingest(embedded_store, broker, create_missing=True)
    publisher.publish("plant/S9/temperature", reading(1))
    publisher.close()
    created.wait_stored(1)  # the message stored while unknown was dropped (and acknowledged)
    created.stop()
    rows = embedded_store.read(
        "MATCH (s:Sensor)-[:HAS_CHANNEL]->(c:Channel), (s)-[:OBSERVES]->(u:Unit) "
        "RETURN c.uid AS channel, c.unit_of_measure AS unit, u.uid AS observed, c.count AS count"
    )
    assert rows == [
        {
            "channel": "channel:S9/temperature",
            "unit": "degC",
            "observed": "unit:P-100/S9",
            "count": 1,
        }
    ]


def test_samples_in_another_unit_are_rejected(
    embedded_store: GraphStore, broker: Mosquitto
) -> None:
    ingest = Ingest(embedded_store, broker)
    publisher = Publisher(broker.port)
    publisher.publish("plant/S1/temperature", reading(0, unit="degC"))
    publisher.publish("plant/S1/temperature", reading(1, unit="degF"))
    publisher.publish("plant/S1/temperature", reading(2))
    publisher.close()
    ingest.wait(lambda: ingest.of("rejected"), "the rejection")
    ingest.wait_stored(2)
    stats = ingest.stop()
    assert (stats.stored, stats.rejected) == (2, 1)
    assert "'degF'" in ingest.of("rejected")[0].message


def test_bad_quality_samples_are_kept_flagged_and_left_out_of_the_summary(
    embedded_store: GraphStore, broker: Mosquitto
) -> None:
    ingest = Ingest(embedded_store, broker)
    publisher = Publisher(broker.port)
    publisher.publish("plant/S1/temperature", reading(0, quality="good"))
    publisher.publish("plant/S1/temperature", reading(1, quality="bad"))
    publisher.publish(
        "plant/S1/temperature", json.dumps({"ts": T0 + 2000, "value": None, "quality": False})
    )
    publisher.close()
    ingest.wait_stored(3)
    stats = ingest.stop()
    assert stats.bad_quality == 2
    assert read_channel(embedded_store.data_dir, "channel:S1/temperature").num_rows == 3
    _, values = read_good_samples(embedded_store.data_dir, "channel:S1/temperature")
    assert values.tolist() == [0.0]
    summary = embedded_store.read(
        "MATCH (c:Channel) RETURN c.count AS count, c.bad_count AS bad, c.max AS max"
    )
    assert summary == [{"count": 1, "bad": 2, "max": 0.0}]


def test_batched_metrics_and_plain_numbers(embedded_store: GraphStore, broker: Mosquitto) -> None:
    ingest = Ingest(embedded_store, broker, mapping=METRICS)
    publisher = Publisher(broker.port)
    for i in range(50):
        batch = {
            "timestamp": T0 + i * 1000,
            "seq": i,
            "metrics": [
                {"name": "flow", "value": 30.0 + i},
                {"name": "pressure", "value": 2.0, "timestamp": T0 + i * 1000 + 500},
            ],
        }
        publisher.publish("spBv1.0/line1/DDATA/edge1/PUMP-7", json.dumps(batch))
    publisher.publish("plant/PUMP-7/current/raw", b"4.25")
    publisher.close()
    ingest.wait_stored(101)
    ingest.stop()
    flow_t, flow = read_good_samples(embedded_store.data_dir, "channel:PUMP-7/flow")
    pressure_t, _ = read_good_samples(embedded_store.data_dir, "channel:PUMP-7/pressure")
    assert flow.tolist() == [30.0 + i for i in range(50)]
    assert (pressure_t - flow_t).tolist() == [500_000] * 50
    _, current = read_good_samples(embedded_store.data_dir, "channel:PUMP-7/current")
    assert current.tolist() == [4.25]  # stamped with its arrival time
