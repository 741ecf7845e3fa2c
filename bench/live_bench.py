"""Live ingest and detection throughput, measured against a real local Mosquitto broker.

Processes: a Mosquitto broker (persistence on), `ingest_mqtt` into an embedded store with
the default flush (every second or 10,000 samples), a publisher, and this script polling
the graph. Samples go to `--channels` channels of one sensor; a sample's value is the
sequence number of its message and its time is unique per message.

1. live: `--samples` samples, each message a Sparkplug-like batch with one sample per
   channel, published at `--rate` samples/s with QoS 1 while the ingest runs. Measured:
   end-to-end throughput (first publish .. every channel's summary in the graph counting
   all its samples), latency from publish to the Channel's `last_value` reaching the
   sample (graph polled every 50 ms; p50, p95), loss and duplicates counted in Parquet,
   the ingest's peak memory (max RSS).
2. drain: `--single` samples, one per message (plain JSON), published while the ingest is
   stopped and drained when it starts (the backlog after an outage): samples/s from the
   ingest's start to the last summary, loss, duplicates, peak memory. One message per
   sample measures paho's per-message cost, which a Python publisher cannot outrun live.
3. broker crash: `--crash` samples as in 1, paced at `--crash-rate`, with the broker
   SIGKILLed half-way and restarted on the same port at once; the publisher keeps a
   persistent session, so what the broker had not confirmed it sends again. Run twice:
   with the broker saving its state every second (`autosave_interval 1`, as Thread asks
   of a broker) and with Mosquitto's default of every 30 minutes. Measured:
   samples lost (confirmed to the publisher, never stored), duplicate rows in Parquet,
   samples the restarted broker sent again (dropped as duplicates), the ingest's
   connections, and samples/s over the whole run, outage included.
4. detectors: the `mma` chart on 8 channels (as SKAB) and on 100, scoring rows a flush
   at a time, alone and behind the live path's row alignment.

Targets (issue 10): >= 50,000 samples/s, zero loss and duplicates, p95 < 2 s, < 500 MB;
(issue 15) zero loss and duplicates across a broker SIGKILL.

    python bench/live_bench.py [--samples 1000000] [--channels 100] [--rate 60000] [--single 200000]
                               [--crash 200000] [--crash-rate 20000]
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SENSOR = "BENCH"
BASE_MS = 1_750_000_000_000
POLL_S = 0.05
MAPPING = """kind = "mqtt"
[[topics]]
topic = "bench/{sensor_id}"
payload = "metrics"
[[topics]]
topic = "single/{sensor_id}/{channel}"
payload = "json"
time = "ts"
time_format = "epoch_ms"
"""


MOSQUITTO_AUTOSAVE_S = 1800  # Mosquitto's default autosave_interval


class Broker:
    """Mosquitto on a free port, persisting in `folder` every `autosave_interval` seconds
    (and when stopped cleanly), with no limit on queued messages; restartable on its port."""

    def __init__(self, folder: Path, autosave_interval: int = MOSQUITTO_AUTOSAVE_S) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        settings = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {folder}/",
            f"autosave_interval {autosave_interval}",
            "max_queued_messages 0",
            f"user {getpass.getuser()}",
        ]
        self.config.write_text("\n".join(settings) + "\n")
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", str(self.config)], stderr=subprocess.DEVNULL)
        for _ in range(250):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        self.stop(signal.SIGKILL)
        raise RuntimeError("mosquitto did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)
        self.process = None


# ---------------------------------------------------------------------- child processes


def child_ingest(store_spec: str, broker_url: str, mapping: str) -> None:
    """The ingest: says when it first connects, runs until SIGTERM, prints stats, memory
    and how many connections it made."""
    from thread.live.ingest import IngestOptions, ingest_mqtt
    from thread.stores import open_store

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    flushes: list[float] = []
    connections = [0]

    def on_event(event: Any) -> None:
        if event.kind == "connected":
            connections[0] += 1
            if connections[0] == 1:
                print(json.dumps({"connected": True}), flush=True)
        elif event.kind == "flush":
            flushes.append(event.data["seconds"])

    with open_store(store_spec) as store:
        stats = ingest_mqtt(
            store,
            broker_url,
            Path(mapping),
            stop,
            options=IngestOptions(create_missing=True),
            client_id="bench-ingest",
            on_event=on_event,
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    durations = np.array(flushes or [0.0])
    flush = {
        "flushes": len(flushes),
        "flush_p50_s": round(float(np.percentile(durations, 50)), 3),
        "flush_max_s": round(float(durations.max()), 3),
    }
    final = {"stats": stats.to_dict(), "peak_mb": peak_mb, "flush": flush}
    print(json.dumps({**final, "connections": connections[0]}), flush=True)


def child_publish(
    port: int, samples: int, channels: int, rate: float, single: bool, out: str
) -> None:
    """Paced QoS 1 messages; saves each message's publish time (epoch s) to `out`."""
    import paho.mqtt.client as mqtt

    client = (
        mqtt.Client(  # a persistent session: what a restarted broker had not confirmed is resent
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"bench-pub-{single}",
            clean_session=False,
        )
    )
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    # paho walks its whole queue on every PUBACK when it limits the messages in flight,
    # which caps a publisher at a few thousand messages/s; the window is kept here instead
    client.max_inflight_messages_set(0)
    confirmed = [0]
    client.on_publish = lambda *_: confirmed.__setitem__(0, confirmed[0] + 1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    names = [f"c{j:03d}" for j in range(channels)]
    messages = samples if single else samples // channels
    per_message = 1 if single else channels
    sent_at = np.empty(messages)
    began = time.perf_counter()
    for i in range(messages):
        pause = began + i * per_message / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        while i - confirmed[0] > 1000:
            time.sleep(0.0005)
        if single:
            value = i // channels
            topic = f"single/{SENSOR}/{names[i % channels]}"
            payload = json.dumps({"ts": BASE_MS + value, "value": value})
        else:
            topic = f"bench/{SENSOR}"
            metrics = [{"name": name, "value": i} for name in names]
            payload = json.dumps({"timestamp": BASE_MS + i, "metrics": metrics})
        sent_at[i] = time.time()
        client.publish(topic, payload, qos=1)
    while confirmed[0] < messages:
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()
    np.save(out, sent_at)


# ---------------------------------------------------------------------- the parent


class Ingest:
    """The ingest child process."""

    def __init__(self, store_spec: str, port: int, mapping: Path) -> None:
        command = [sys.executable, __file__, "--child-ingest", store_spec, f"mqtt://127.0.0.1:{port}", str(mapping)]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=_env()
        )
        assert self.process.stdout is not None
        json.loads(self.process.stdout.readline())  # connected

    def stop(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        self.process.send_signal(signal.SIGTERM)
        final: dict[str, Any] = json.loads(self.process.stdout.readline())
        self.process.wait(60)
        self.process.stdout.close()
        return final

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _publish(
    port: int, samples: int, channels: int, rate: float, single: bool, out: Path
) -> np.ndarray:
    command = [sys.executable, __file__, "--child-publish", str(port), str(samples), str(channels), str(rate), str(int(single)), str(out)]  # fmt: skip
    subprocess.run(command, cwd=ROOT, env=_env(), check=True)
    sent: np.ndarray = np.load(out)
    return sent


def _poll(store: Any, channels: int, per_channel: int) -> list[tuple[float, dict[str, float]]]:
    """(time, last value per channel) every 50 ms until every channel counts all samples."""
    seen: list[tuple[float, dict[str, float]]] = []
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        rows = store.read(
            "MATCH (c:Channel {sensor_id: $sensor}) RETURN c.channel AS name, c.last_value AS last, c.count AS count",
            {"sensor": SENSOR},
        )
        seen.append((time.time(), {r["name"]: r["last"] for r in rows if r["last"] is not None}))
        if len(rows) == channels and all(r["count"] == per_channel for r in rows):
            return seen
        time.sleep(POLL_S)
    raise TimeoutError("the ingest did not store every sample within 15 minutes")


def _count(store: Any, channels: int, per_channel: int) -> dict[str, int]:
    """Rows, duplicates and lost samples over every channel's Parquet files."""
    from thread.telemetry.datasets import read_channel

    rows = duplicates = lost = 0
    expected = np.arange(per_channel, dtype=float)
    for j in range(channels):
        table = read_channel(store.data_dir, f"channel:{SENSOR}/c{j:03d}")
        rows += table.num_rows
        duplicates += table.num_rows - len(np.unique(table.column("t").to_numpy()))
        lost += per_channel - int(np.isin(expected, table.column("value").to_numpy()).sum())
    return {"rows_in_parquet": rows, "lost": lost, "duplicates": duplicates}


def _latencies(
    polls: list[tuple[float, dict[str, float]]], sent: np.ndarray, channels: int
) -> np.ndarray:
    """Per sample: the first poll at which its channel's `last_value` had reached the
    sample's value (its message number), minus its message's publish time."""
    times = np.array([p[0] for p in polls])
    values = np.arange(len(sent))
    out = []
    for j in range(channels):
        reached = np.maximum.accumulate(np.array([p[1].get(f"c{j:03d}", -1.0) for p in polls]))
        seen = times[np.minimum(np.searchsorted(reached, values), len(times) - 1)]
        out.append(seen - sent)
    return np.concatenate(out)


def run_live(folder: Path, samples: int, channels: int, rate: float) -> dict[str, Any]:
    from thread.stores import open_store

    spec = f"embedded:{folder / 'store'}#live"
    broker = Broker(folder / "broker-live")
    port = broker.port
    mapping = folder / "bench.toml"
    mapping.write_text(MAPPING)
    ingest = Ingest(spec, port, mapping)
    try:
        with open_store(spec) as store:
            polls: list[tuple[float, dict[str, float]]] = []
            poller = threading.Thread(
                target=lambda: polls.extend(_poll(store, channels, samples // channels))
            )
            poller.start()
            sent = _publish(port, samples, channels, rate, False, folder / "sent-live.npy")
            poller.join()
            final = ingest.stop()
            counted = _count(store, channels, samples // channels)
    finally:
        ingest.kill()
        broker.stop()
    elapsed = polls[-1][0] - sent[0]
    latencies = _latencies(polls, sent, channels)
    return {
        "mode": f"live, {channels} samples per message, paced at {rate:,.0f} samples/s",
        "samples": samples,
        "seconds": round(elapsed, 2),
        "samples_per_s": round(samples / elapsed),
        **counted,
        "latency_p50_s": round(float(np.percentile(latencies, 50)), 3),
        "latency_p95_s": round(float(np.percentile(latencies, 95)), 3),
        "latency_max_s": round(float(latencies.max()), 3),
        "ingest_peak_mb": round(final["peak_mb"], 1),
        "ingest_flushes": final["flush"],
        "ingest_stats": final["stats"],
    }


def run_drain(folder: Path, samples: int, channels: int) -> dict[str, Any]:
    from thread.stores import open_store

    spec = f"embedded:{folder / 'store'}#drain"
    broker = Broker(folder / "broker-drain")
    port = broker.port
    mapping = folder / "bench.toml"
    mapping.write_text(MAPPING)
    Ingest(spec, port, mapping).stop()  # the persistent session exists from now on
    _publish(port, samples, channels, 1e9, True, folder / "sent-drain.npy")
    ingest = Ingest(spec, port, mapping)
    began = time.time()  # connected: the backlog starts to flow
    try:
        with open_store(spec) as store:
            polls = _poll(store, channels, samples // channels)
            final = ingest.stop()
            counted = _count(store, channels, samples // channels)
    finally:
        ingest.kill()
        broker.stop()
    elapsed = polls[-1][0] - began
    return {
        "mode": "backlog drain, one sample per message",
        "samples": samples,
        "seconds": round(elapsed, 2),
        "samples_per_s": round(samples / elapsed),
        **counted,
        "ingest_peak_mb": round(final["peak_mb"], 1),
        "ingest_flushes": final["flush"],
        "ingest_stats": final["stats"],
    }


def _settle(store: Any, channels: int, per_channel: int, quiet_s: float = 15.0) -> float:
    """Wait until every channel counts all samples, or the counts stop changing for
    `quiet_s` (samples were lost); returns when they last changed (epoch s)."""
    last: list[int] = []
    changed = time.time()
    while time.time() - changed < quiet_s:
        rows = store.read(
            "MATCH (c:Channel {sensor_id: $sensor}) RETURN c.count AS count ORDER BY c.channel",
            {"sensor": SENSOR},
        )
        counts = [int(r["count"] or 0) for r in rows]
        if counts != last:
            last, changed = counts, time.time()
        if len(counts) == channels and all(c == per_channel for c in counts):
            break
        time.sleep(POLL_S)
    return changed


def run_crash(
    folder: Path, samples: int, channels: int, rate: float, autosave_interval: int
) -> dict[str, Any]:
    """The live stream with the broker SIGKILLed half-way and restarted at once."""
    from thread.stores import open_store

    spec = f"embedded:{folder / 'store'}#crash{autosave_interval}"
    broker = Broker(folder / f"broker-crash-{autosave_interval}", autosave_interval)
    mapping = folder / "bench.toml"
    mapping.write_text(MAPPING)
    ingest = Ingest(spec, broker.port, mapping)

    def crash() -> None:
        time.sleep(samples / rate / 2)
        broker.stop(signal.SIGKILL)
        broker.start()

    per_channel = samples // channels
    try:
        with open_store(spec) as store:
            killer = threading.Thread(target=crash)
            killer.start()
            began = time.time()
            _publish(broker.port, samples, channels, rate, False, folder / "sent-crash.npy")
            killer.join()
            settled = _settle(store, channels, per_channel)
            final = ingest.stop()
            counted = _count(store, channels, per_channel)
    finally:
        ingest.kill()
        broker.stop()
    elapsed = settled - began
    return {
        "mode": f"broker SIGKILL half-way, autosave_interval {autosave_interval} s, "
        f"{channels} samples per message, paced at {rate:,.0f} samples/s",
        "samples": samples,
        "seconds": round(elapsed, 2),
        "samples_per_s": round((samples - counted["lost"]) / elapsed),
        **counted,
        "sent_again_dropped": final["stats"]["duplicates"],
        "ingest_connections": final["connections"],
        "ingest_stats": final["stats"],
    }


def detector_throughput() -> list[dict[str, Any]]:
    """Samples per second through the mma chart, alone and behind the live alignment."""
    from thread.live.detection import StreamAligner
    from thread.sim.anomaly import fit_detector

    rng = np.random.default_rng(1)
    results = []
    for width, count in ((8, 200_000), (100, 50_000)):
        channels = tuple(f"c{j}" for j in range(width))
        drift = rng.normal(size=(2000, width)).cumsum(axis=0) * 0.01
        detector = fit_detector("mma", drift[:1000] + rng.normal(size=(1000, width)), channels)
        rows = rng.normal(size=(count, width))
        t = np.arange(count, dtype=np.int64) * 1_000_000
        scorer = detector.stream()
        began = time.perf_counter()
        for start in range(0, count, 1000):  # a flush's worth of rows at a time
            scorer.score(rows[start : start + 1000])
        alone = time.perf_counter() - began
        aligner, scorer = StreamAligner(width, 1_000_000), detector.stream()
        began = time.perf_counter()
        for start in range(0, count, 1000):
            for j in range(width):
                aligner.add(j, t[start : start + 1000], rows[start : start + 1000, j])
            scorer.score(aligner.rows()[1])
        live = time.perf_counter() - began
        results.append(
            {
                "channels": width,
                "rows": count,
                "scorer_samples_per_s": round(count * width / alone),
                "with_alignment_samples_per_s": round(count * width / live),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--rate", type=float, default=60_000, help="live publish pace, samples/s")
    parser.add_argument("--single", type=int, default=200_000, help="drain samples (0: skip)")
    parser.add_argument("--crash", type=int, default=200_000, help="broker-kill samples (0: skip)")
    parser.add_argument("--crash-rate", type=float, default=20_000, help="samples/s")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="live-bench-"))
    try:
        live = run_live(folder, args.samples, args.channels, args.rate)
        print(json.dumps(live, indent=2), flush=True)
        if args.single:
            print(json.dumps(run_drain(folder, args.single, args.channels), indent=2), flush=True)
        for autosave in (1, MOSQUITTO_AUTOSAVE_S) if args.crash else ():
            crash = run_crash(folder, args.crash, args.channels, args.crash_rate, autosave)
            print(json.dumps(crash, indent=2), flush=True)
        print(json.dumps(detector_throughput(), indent=2), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child-ingest"]:
        child_ingest(*sys.argv[2:5])
    elif sys.argv[1:2] == ["--child-publish"]:
        port, samples, channels, rate, single, out = sys.argv[2:8]
        child_publish(int(port), int(samples), int(channels), float(rate), single == "1", out)
    else:
        main()
