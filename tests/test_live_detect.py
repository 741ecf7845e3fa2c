"""Streaming anomaly detection: the SKAB protocol on the 16 labelled valve1 files (Skoltech
Anomaly Benchmark, waico/SKAB, GPL-3.0, in ../shared/data/sensor/skab), causal scoring
that does not depend on batching, episodes, and a SKAB file replayed over MQTT giving the
alerts `detect evaluate` gives."""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from support.live import Mosquitto, Publisher
from typer.testing import CliRunner

from thread.cli.main import app as cli_app
from thread.live.alerts import list_alerts
from thread.live.detection import align, calibrate
from thread.live.ingest import IngestOptions, ingest_mqtt
from thread.live.session import LiveEvent
from thread.pipeline.twins import refresh_twins
from thread.pipeline.write import Source, ThreadService
from thread.records import node
from thread.sim.anomaly import EpisodeTracker, MovingAverageChart, PcaDetector, fit_detector
from thread.sim.anomaly.evaluate import evaluate, read_labelled
from thread.stores import GraphStore
from thread.telemetry.segments import iso_from_us

SKAB_MQTT = Path(__file__).resolve().parents[1] / "examples" / "mappings" / "skab-live-mqtt.toml"


@pytest.fixture(scope="module")
def valve1(shared_data: Path) -> list[Path]:
    files = sorted(
        (shared_data / "sensor" / "skab" / "valve1").glob("*.csv"), key=lambda p: int(p.stem)
    )
    if len(files) != 16:
        pytest.skip(f"the 16 SKAB valve1 files are not in {shared_data}")
    return files


def test_skab_valve1_meets_the_target_by_the_command_line(valve1: list[Path]) -> None:
    result = CliRunner().invoke(cli_app, ["detect", "evaluate", *map(str, valve1), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["train_rows"] == 400 and len(data["files"]) == 16
    assert data["f1"] >= 0.82 and data["far"] <= 0.25, data
    assert data["tp"] + data["fn"] == sum(f["tp"] + f["fn"] for f in data["files"])


def test_pca_baseline_and_the_table(valve1: list[Path]) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["detect", "evaluate", *map(str, valve1[:2]), "--detector", "pca", "-s", "window=10"],
    )
    assert result.exit_code == 0, result.output
    assert "F1 " in result.stdout and "FAR " in result.stdout


def test_scores_do_not_depend_on_how_rows_are_batched(valve1: list[Path]) -> None:
    data = read_labelled(valve1[6], exclude=("changepoint",))
    for kind in ("mma", "pca"):
        detector = fit_detector(kind, data.values[:400], data.channels)  # type: ignore[arg-type]
        whole = detector.stream()
        whole.warm(data.values[:400])
        expected = whole.score(data.values[400:])
        pieces = detector.stream()
        pieces.warm(data.values[:400])
        cuts = [0, 1, 2, 7, 50, 51, 300, len(data.values) - 400]
        parts = [pieces.score(data.values[400 + a : 400 + b]) for a, b in itertools.pairwise(cuts)]
        assert np.array_equal(np.concatenate([p.score for p in parts]), expected.score)
        assert np.array_equal(np.concatenate([p.alarm for p in parts]), expected.alarm)


def test_a_row_is_scored_from_the_past_only(valve1: list[Path]) -> None:
    data = read_labelled(valve1[3], exclude=("changepoint",))
    detector = MovingAverageChart.fit(data.values[:400], data.channels)
    first = detector.stream()
    first.warm(data.values[:400])
    changed = data.values.copy()
    changed[700:] += 1000.0  # a future that could not be more different
    second = detector.stream()
    second.warm(changed[:400])
    assert np.array_equal(
        first.score(data.values[400:700]).score, second.score(changed[400:700]).score
    )


def test_consecutive_alarms_are_one_episode_that_clears() -> None:
    rng = np.random.default_rng(7)
    healthy = rng.normal(0.0, 1.0, size=(600, 3))
    detector = PcaDetector.fit(healthy[:400], ("a", "b", "c"), window=5, threshold=3.0, clear=2.0)
    rows = healthy[400:].copy()
    rows[50:120, 1] += 25.0  # a step on channel b for 70 rows
    scorer = detector.stream()
    scorer.warm(healthy[:400])
    scores = scorer.score(rows)
    episodes = EpisodeTracker(detector).update(np.arange(len(rows)), scores)
    assert len(episodes) == 1
    episode = episodes[0]
    assert 50 <= episode.start <= 54 and 120 <= (episode.end or 0) <= 130
    assert episode.contributors() == ["b"] and episode.severity == "critical"


def test_alignment_averages_per_period_and_holds_silent_channels() -> None:
    second = 1_000_000
    times, rows = align(
        [
            (np.array([0, 400_000, second, 2 * second]), np.array([1.0, 3.0, 5.0, 7.0])),
            (np.array([second]), np.array([10.0])),
        ],
        second,
    )
    assert times.tolist() == [second, 2 * second]
    assert rows.tolist() == [[5.0, 10.0], [7.0, 10.0]]


def _stream(
    store: GraphStore, broker: Mosquitto, rows: list[str], detectors: tuple[str, ...] = ()
) -> list[LiveEvent]:
    """Publish SKAB rows as metric batches and ingest them until all are stored."""
    events: list[LiveEvent] = []
    stop = threading.Event()
    options = IngestOptions(create_missing=True, flush_interval=0.1, detectors=detectors)
    thread = threading.Thread(
        target=ingest_mqtt,
        args=(store, broker.url, SKAB_MQTT, stop),
        kwargs={"options": options, "client_id": "skab-replay", "on_event": events.append},
        daemon=True,  # a failed test must not hang pytest
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not any(e.kind == "connected" for e in events):  # subscribed: nothing is missed
        assert time.monotonic() < deadline, "the ingest did not connect"
        time.sleep(0.02)
    publisher = Publisher(broker.port)
    for payload in rows:
        publisher.publish("skab/SKAB-RIG", payload)
    publisher.close()
    expected = 8 * len(rows)
    deadline = time.monotonic() + 60
    while not any(e.kind == "flush" and e.data["totals"]["stored"] >= expected for e in events):
        assert time.monotonic() < deadline, [e.message for e in events if e.kind != "flush"]
        time.sleep(0.05)
    stop.set()
    thread.join(30)
    return events


def test_skab_replayed_over_mqtt_raises_the_alerts_of_evaluate(
    embedded_store: GraphStore, broker: Mosquitto, valve1: list[Path]
) -> None:
    path = valve1[6]  # two episodes: one that clears, one still open at the end
    offline = evaluate([path]).files[0].episodes
    assert len(offline) == 2

    unit = node(embedded_store.ontology, "Unit", {"part_number": "SKAB-PUMP", "serial": "RIG-1"})
    ThreadService(embedded_store).import_records([unit], Source("test", "skab rig"))
    refresh_twins(embedded_store)
    data = read_labelled(path, exclude=("changepoint",))
    payloads = [
        json.dumps(
            {
                "timestamp": int(t // 1000),
                "metrics": [
                    {"name": c, "value": float(v)} for c, v in zip(data.channels, row, strict=True)
                ],
            }
        )
        for t, row in zip(data.times, data.values, strict=True)
    ]
    _stream(embedded_store, broker, payloads[:400])  # the healthy start of the run
    calibration = calibrate(
        embedded_store,
        "twin:SKAB-PUMP/RIG-1",
        iso_from_us(int(data.times[0])),
        iso_from_us(int(data.times[399])),
    )
    assert calibration.rows == 400 and len(calibration.channel_uids) == 8
    events = _stream(embedded_store, broker, payloads[400:], (calibration.run_uid,))
    assert any("warmed with 19 stored rows" in e.message for e in events)

    alerts = sorted(
        list_alerts(embedded_store, twin="twin:SKAB-PUMP/RIG-1"), key=lambda a: a["start"]
    )
    expected = [
        {
            "start": iso_from_us(e.start),
            "end": None if e.end is None else iso_from_us(e.end),
            "status": "open" if e.open else "cleared",
            "peak_score": pytest.approx(e.peak_score, rel=1e-12),
            "contributors": e.contributors(),
        }
        for e in offline
    ]
    assert [{k: a[k] for k in expected[0]} for a in alerts] == expected
    linked = embedded_store.read(
        "MATCH (a:Alert)-[:DETECTED_BY]->(r:SimulationRun {uid: $run}) "
        "MATCH (a)-[:INVOLVES]->(c:Channel) RETURN DISTINCT c.channel AS channel",
        {"run": calibration.run_uid},
    )
    assert {"Volume Flow RateRMS"} <= {row["channel"] for row in linked}
