"""Live telemetry: samples from a stream stored exactly once, summaries kept current.

A `LiveSession` sits between a stream adapter (MQTT, OPC UA: `thread.live.mqtt`, `thread.live.opcua`) and the
store. Adapters call `add` from their own threads; whoever runs the session calls `flush`
every second or so (or sooner when `flush_due` is set). A flush:

1. takes everything buffered, merges it per channel, sorts it by time and keeps the
   first sample of each time;
2. resolves new channels against the graph (creating them through `ThreadService` only
   when the session was opened with `create_missing`; otherwise they are reported and
   their samples dropped) and rejects samples whose unit differs from the channel's;
3. appends the new samples to each channel's Parquet dataset (`thread.telemetry.segments`), where
   a sample whose time is already stored is counted as a duplicate, not stored;
4. writes the summaries of the touched channels in one parameterised batch
   (`UNWIND $rows … SET c += row.props`), stamped with `_run` (this session's ImportRun)
   and `_updated`; ThreadService's per-import validation and provenance would cost more
   than the flush itself at this rate, and the summary is data Thread computes, not a
   source record;
5. feeds the stored good samples to the session's detectors and writes the alerts that
   opened, grew or cleared (through ThreadService: `thread.live.alerts`);
6. returns the tokens of the messages whose samples are now stored, so the adapter can
   acknowledge them (MQTT QoS 1: unacknowledged messages are redelivered after a
   reconnect, and the duplicate samples they bring are dropped in step 3).

Samples stay buffered when the connection that brought them breaks, and are stored at the
next flush: a broker that restarts after a crash may have lost the messages it had sent
but not yet saved, and then never sends them again. Those it does send again are dropped
in step 3 as duplicates, so nothing received is lost and nothing is stored twice.
"""

from __future__ import annotations

import fcntl
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from thread.clock import utc_now
from thread.errors import ThreadError
from thread.ontology import ENTITY_LABEL
from thread.pipeline.write import Source, ThreadService
from thread.records import NodeRecord, PropValue, Record, node, rel
from thread.stores.base import GraphStore, chunked
from thread.telemetry.datasets import TELEMETRY_DIR
from thread.telemetry.segments import ChannelLog, is_good, source_tag

if TYPE_CHECKING:
    from thread.live.detection import LiveDetector

__all__ = [
    "ChannelSpec",
    "FlushResult",
    "LiveError",
    "LiveEvent",
    "LiveSession",
    "LiveStats",
    "Sample",
    "SampleSink",
]

_WRITE_BATCH = 5000


class LiveError(ThreadError):
    """A live session cannot start or continue (source locked, bad option)."""


Sample = tuple[str, str, str, int, float, int]
"""(sensor_id, channel, unit or '', t in µs since the epoch, value, quality: 0 = good)."""


class SampleSink(Protocol):
    """What a stream adapter needs from a session (so that the stream adapters never see a store)."""

    def add(self, samples: Iterable[Sample], token: Any = None) -> None: ...

    def report(self, event: LiveEvent) -> None: ...


@dataclass(frozen=True)
class ChannelSpec:
    """What a mapping declares about a channel: used to create it (`create_missing`) and
    to record control bindings (OPC UA node, set-point bounds) on it."""

    sensor_id: str
    channel: str
    unit_of_measure: str | None = None
    quantity: str | None = None
    observes: tuple[str, str] | None = None  # (part_number, serial) of the unit
    props: Mapping[str, PropValue] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveEvent:
    """Something a person or a script watching the stream should know."""

    kind: Literal[
        "started",
        "connected",
        "disconnected",
        "flush",
        "unknown_channel",
        "rejected",
        "malformed",
        "alert",
        "error",
        "stopped",
    ]
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "message": self.message, **self.data}


@dataclass
class LiveStats:
    """Counts since the session started (samples unless named otherwise)."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    unknown: int = 0
    rejected: int = 0
    bad_quality: int = 0
    malformed_messages: int = 0
    flushes: int = 0
    alerts: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class FlushResult:
    """What one flush did; `tokens` are the messages whose samples are now stored."""

    tokens: list[Any]
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    channels: int = 0
    alerts: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Pending:
    t: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)


@dataclass
class _Channel:
    uid: str
    unit: str | None
    log: ChannelLog | None = None


class LiveSession:
    """One ingest session over one source (see the module docstring).

    Args:
        store: where channels and summaries live (and `store.data_dir` the Parquet files).
        importer: "live-mqtt", "live-opcua": recorded on the session's ImportRun.
        source: what is read, safe to show (a broker or endpoint URL without credentials).
        source_id: the identity of the stream across restarts: its Parquet files are
            continued, and only one session of it may run at a time.
        specs: what the mapping declares per (sensor_id, channel), if anything.
        create_missing: create channels (and their sensors) the graph does not know.
        flush_size: `flush_due` is set when this many samples are buffered,
        max_unacked: or when this many messages wait for their acknowledgement.
        horizon_s: how far back duplicates are found in memory (older ones on disk).
        compaction_budget_s: time per flush for merging segment files.
        on_event: called with every `LiveEvent` (from the adapters' threads too).
        options: recorded on the ImportRun.
    """

    def __init__(
        self,
        store: GraphStore,
        *,
        importer: str,
        source: str,
        source_id: str,
        specs: Callable[[str, str], ChannelSpec | None] | None = None,
        create_missing: bool = False,
        flush_size: int = 10_000,
        max_unacked: int = 10_000,
        horizon_s: float = 3600.0,
        compaction_budget_s: float = 0.1,
        on_event: Callable[[LiveEvent], None] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if flush_size < 1 or max_unacked < 1 or horizon_s <= 0:
            raise LiveError(
                "the flush size and unacknowledged-message limit must be at least 1, the horizon positive"
            )
        self.store = store
        self.onto = store.ontology
        self.importer = importer
        self.source = source
        self.source_id = source_id
        self.specs = specs or (lambda sensor_id, channel: None)
        self.create_missing = create_missing
        self.flush_size = flush_size
        self.max_unacked = max_unacked
        self.horizon_us = int(horizon_s * 1e6)
        self.on_event = on_event
        self.options = dict(options or {})
        self.stats = LiveStats()
        self.flush_due = threading.Event()
        self.detectors: list[LiveDetector] = []
        self.run_uid = ""
        self._lock = threading.Lock()
        self._buffer: dict[tuple[str, str, str], _Pending] = {}
        self._tokens: list[Any] = []
        self._pending = 0
        self._channels: dict[tuple[str, str], _Channel | None] = {}
        self._reported: set[tuple[str, ...]] = set()
        self._dirty: set[str] = set()
        self._lock_file: Any = None
        self.compaction_budget_s = compaction_budget_s
        self._compact_from = 0
        self._started = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Lock the source, record the session's ImportRun, declare mapped channels.

        Raises:
            LiveError: another session of this source is running.
        """
        folder = self.store.data_dir / TELEMETRY_DIR
        folder.mkdir(parents=True, exist_ok=True)
        lock_path = folder / f".live-{source_tag(self.source_id)}.lock"
        handle = open(lock_path, "a+")  # noqa: SIM115 - held for the session's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise LiveError(
                f"another ingest of {self.source} ({self.source_id}) is running on this store; stop it first"
            ) from None
        self._lock_file = handle
        import pyarrow.parquet  # noqa: F401 - loaded now, so the first flush does not wait for it

        self._started = utc_now()
        stamp = self._started.replace("-", "").replace(":", "")
        self.run_uid = self.onto.uid("ImportRun", f"{stamp}-{secrets.token_hex(3)}")
        self._write_run({"status": "running", "started": self._started})
        self.report(LiveEvent("started", f"ingesting {self.source} as {self.run_uid}"))

    def close(self, status: Literal["succeeded", "failed"], error: str | None = None) -> None:
        """Record how the session ended (an ImportRun's status: it succeeded when it
        stopped cleanly) and release the source."""
        try:
            if self.run_uid:
                self._write_run({"status": status, "finished": utc_now(), "error": error})
        except ThreadError:
            if error is None:
                raise  # else the store is gone too, and the error that ended the session wins
        finally:
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
        self.report(LiveEvent("stopped", f"{self.run_uid} {status}", self.stats.to_dict()))

    def _write_run(self, props: dict[str, PropValue]) -> None:
        base: dict[str, PropValue] = {
            "run_id": self.run_uid.split(":", 1)[1],
            "importer": self.importer,
            "source": self.source,
            "source_id": self.source_id,
            "options": json.dumps(self.options, sort_keys=True, default=str),
            "samples": self.stats.stored,
            "duplicates": self.stats.duplicates,
            "unknown": self.stats.unknown,
            "rejected": self.stats.rejected,
            "malformed": self.stats.malformed_messages,
            "_updated": utc_now(),
        }
        self.store.upsert_nodes("ImportRun", [{"uid": self.run_uid, "props": {**base, **props}}])

    def declare(self, specs: Iterable[ChannelSpec]) -> None:
        """Record what a mapping binds on channels the graph knows (or, with
        `create_missing`, creates them): OPC UA node ids, set-point bounds."""
        wanted = {(s.sensor_id, s.channel): s for s in specs}
        if not wanted:
            return
        existing = self._existing([self._uid(*key) for key in wanted])
        records: list[Record] = []
        for key, spec in wanted.items():
            if self._uid(*key) in existing or self.create_missing:
                records.extend(self._channel_records(spec))
        if records:
            self._import(records, "declared")

    # ------------------------------------------------------------------ adapters' side

    def add(self, samples: Iterable[Sample], token: Any = None) -> None:
        """Buffer samples (thread-safe) until the next flush, whatever happens to the
        connection meanwhile. `token` (a message to acknowledge) comes back from `flush`
        once the samples are stored."""
        with self._lock:
            buffer = self._buffer
            count = 0
            for sensor_id, channel, unit, t, value, quality in samples:
                pending = buffer.get((sensor_id, channel, unit))
                if pending is None:
                    pending = buffer[(sensor_id, channel, unit)] = _Pending()
                pending.t.append(t)
                pending.value.append(value)
                pending.quality.append(quality)
                count += 1
            if token is not None:
                self._tokens.append(token)
            self._pending += count
            self.stats.received += count
            if self._pending >= self.flush_size or len(self._tokens) >= self.max_unacked:
                self.flush_due.set()

    def report(self, event: LiveEvent) -> None:
        if event.kind == "malformed":
            with self._lock:
                self.stats.malformed_messages += 1
        if self.on_event is not None:
            self.on_event(event)

    # ------------------------------------------------------------------ flush

    def flush(self) -> FlushResult:
        """Store what is buffered (see the module docstring).

        Graph errors are reported as events, not raised: when the graph cannot say which
        channels exist, the samples go back to the buffer and nothing is acknowledged;
        once samples are on disk, a failed summary or alert write is retried at the next
        flush. Disk errors (OSError) are raised: nothing of this flush is acknowledged.
        """
        began = time.perf_counter()
        with self._lock:
            buffer, self._buffer = self._buffer, {}
            tokens, self._tokens = self._tokens, []
            received, self._pending = self._pending, 0
            self.flush_due.clear()
        try:
            self._resolve({(s, c) for s, c, _ in buffer})
        except ThreadError as exc:
            self._requeue(buffer, tokens, received)
            self.report(LiveEvent("error", f"flush postponed: {exc}"))
            return FlushResult([])
        result = FlushResult(tokens, received=received)
        accepted: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for (sensor_id, channel, unit), pending in buffer.items():
            stored = self._store_samples(sensor_id, channel, unit, pending, result)
            if stored is not None:
                accepted[stored[0]] = stored[1]
        try:
            self._write_summaries()
            self._compact(time.perf_counter() + self.compaction_budget_s)
            for detector in self.detectors:
                result.alerts.extend(detector.feed(accepted))
        except ThreadError as exc:
            self.report(LiveEvent("error", f"flush: {exc} (retried at the next flush)"))
        self.stats.alerts += len(result.alerts)
        for alert in result.alerts:
            self.report(LiveEvent("alert", alert))
        self.stats.flushes += 1
        result.seconds = time.perf_counter() - began
        if received or result.alerts:
            self.report(
                LiveEvent(
                    "flush",
                    f"stored {result.stored} of {result.received} samples on {result.channels} channels",
                    {
                        "received": result.received,
                        "stored": result.stored,
                        "duplicates": result.duplicates,
                        "channels": result.channels,
                        "seconds": round(result.seconds, 4),
                        "totals": self.stats.to_dict(),
                    },
                )
            )
        return result

    def _requeue(
        self, buffer: dict[tuple[str, str, str], _Pending], tokens: list[Any], count: int
    ) -> None:
        """Put a flush's samples back in front of what arrived meanwhile."""
        with self._lock:
            for key, pending in buffer.items():
                later = self._buffer.get(key)
                if later is not None:
                    pending.t += later.t
                    pending.value += later.value
                    pending.quality += later.quality
                self._buffer[key] = pending
            self._tokens = tokens + self._tokens
            self._pending += count

    def finish(self) -> FlushResult:
        """The last flush: buffered samples, and rows the detectors were still waiting on."""
        result = self.flush()
        try:
            for detector in self.detectors:
                result.alerts.extend(detector.feed({}, final=True))
        except ThreadError as exc:
            self.report(LiveEvent("error", f"final flush: {exc}"))
        return result

    def _store_samples(
        self,
        sensor_id: str,
        channel: str,
        unit: str,
        pending: _Pending,
        result: FlushResult,
    ) -> tuple[str, tuple[np.ndarray, np.ndarray]] | None:
        count = len(pending.t)
        known = self._channels.get((sensor_id, channel))
        if known is None:
            self.stats.unknown += count
            return None
        if unit and known.unit and unit != known.unit:
            self.stats.rejected += count
            self._report_once(
                ("unit", known.uid, unit),
                LiveEvent(
                    "rejected",
                    f"{known.uid}: samples in {unit!r} rejected, the channel is in {known.unit!r}",
                    {"channel": known.uid, "unit": unit, "expected": known.unit},
                ),
            )
            return None
        t = np.array(pending.t, dtype=np.int64)
        value = np.array(pending.value, dtype=float)
        quality = np.array(pending.quality, dtype=np.uint32)
        order = np.argsort(t, kind="stable")
        t, value, quality = t[order], value[order], quality[order]
        first = np.ones(len(t), dtype=bool)
        first[1:] = t[1:] != t[:-1]
        if not first.all():
            t, value, quality = t[first], value[first], quality[first]
        if known.log is None:
            known.log = ChannelLog(self.store.data_dir, known.uid, self.source_id, self.horizon_us)
        new_t, new_v, new_q = known.log.append(t, value, quality)
        stored = len(new_t)
        duplicates = count - stored
        self.stats.stored += stored
        self.stats.duplicates += duplicates
        result.stored += stored
        result.duplicates += duplicates
        result.channels += 1
        if stored:
            self._dirty.add(known.uid)
        good = is_good(new_q)
        self.stats.bad_quality += int((~good).sum())
        return known.uid, (new_t[good], new_v[good])

    def _compact(self, deadline: float) -> None:
        """Merge segment files until `deadline` (perf_counter), a few channels per flush
        and round the channels, so no flush pays for every channel's merges at once (on
        100 channels that took seconds every 16th flush, and set the latency's p95)."""
        logs = [c.log for c in self._channels.values() if c is not None and c.log is not None]
        start = self._compact_from % len(logs) if logs else 0
        for log in logs[start:] + logs[:start]:
            while log.needs_compaction and time.perf_counter() < deadline:
                log.compact_step()
            if time.perf_counter() >= deadline:
                break
            self._compact_from += 1

    def _write_summaries(self) -> None:
        if not self._dirty:
            return
        rows = []
        for channel in self._channels.values():
            if channel is not None and channel.uid in self._dirty and channel.log is not None:
                rows.append(
                    {
                        "uid": channel.uid,
                        "props": channel.log.summary.to_props(channel.log.data_path),
                    }
                )
        query = (
            f"UNWIND $rows AS row MATCH (c:`{ENTITY_LABEL}` {{uid: row.uid}}) "
            "SET c += row.props, c._run = $run, c._updated = $now RETURN count(c) AS n"
        )
        now = utc_now()
        for batch in chunked(rows, _WRITE_BATCH):
            self.store.write(query, {"rows": list(batch), "run": self.run_uid, "now": now})
        self._dirty.clear()

    # ------------------------------------------------------------------ channels

    def _uid(self, sensor_id: str, channel: str) -> str:
        return self.onto.uid("Channel", sensor_id, channel)

    def _existing(self, uids: list[str]) -> dict[str, str | None]:
        rows = self.store.read(
            "UNWIND $uids AS u MATCH (c:Channel {uid: u}) RETURN c.uid AS uid, c.unit_of_measure AS unit",
            {"uids": uids},
        )
        return {row["uid"]: row["unit"] for row in rows}

    def _resolve(self, keys: set[tuple[str, str]]) -> None:
        new = sorted(k for k in keys if k not in self._channels)
        if not new:
            return
        valid: dict[tuple[str, str], str] = {}
        for key in new:
            try:
                valid[key] = self._uid(*key)
            except ThreadError as exc:  # an empty sensor or channel name
                self._channels[key] = None
                self._report_once(("invalid", *key), LiveEvent("rejected", str(exc)))
        existing = self._existing(list(valid.values())) if valid else {}
        missing = [key for key, uid in valid.items() if uid not in existing]
        if missing and self.create_missing:
            specs = [self.specs(*key) or ChannelSpec(*key) for key in missing]
            records = [r for spec in specs for r in self._channel_records(spec)]
            self._import(records, "created")
            existing.update({self._uid(s.sensor_id, s.channel): s.unit_of_measure for s in specs})
        for key, uid in valid.items():
            if uid in existing:
                self._channels[key] = _Channel(uid, existing[uid])
            else:
                self._channels[key] = None
                self._report_once(
                    ("unknown", uid),
                    LiveEvent(
                        "unknown_channel",
                        f"unknown channel {uid} (sensor {key[0]!r}): its samples are dropped; "
                        "import the sensor registry first or pass --create-missing",
                        {"channel": uid},
                    ),
                )

    def _channel_records(self, spec: ChannelSpec) -> list[Record]:
        onto = self.onto
        sensor = node(onto, "Sensor", {"sensor_id": spec.sensor_id})
        props: dict[str, PropValue] = {"sensor_id": spec.sensor_id, "channel": spec.channel}
        if spec.unit_of_measure:
            props["unit_of_measure"] = spec.unit_of_measure
        if spec.quantity:
            props["quantity"] = spec.quantity
        props.update(spec.props)
        channel: NodeRecord = node(onto, "Channel", props)
        records: list[Record] = [sensor, channel, rel("HAS_CHANNEL", sensor, channel)]
        if spec.observes:
            unit = ("Unit", onto.uid("Unit", *spec.observes))
            records.append(rel("OBSERVES", sensor, unit))
        return records

    def _import(self, records: list[Record], what: str) -> None:
        """Create or update channels through the service: validated, with provenance. The
        source id is unique per call, so a later call never reports these as gone."""
        source = Source(
            f"{self.importer}:channels",
            self.source,
            source_id=f"{self.source_id}#{what}:{secrets.token_hex(4)}",
        )
        ThreadService(self.store).import_records(
            records, source, create_missing=self.create_missing
        )

    def _report_once(self, key: tuple[str, ...], event: LiveEvent) -> None:
        if key not in self._reported:
            self._reported.add(key)
            self.report(event)
