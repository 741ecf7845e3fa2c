"""Detectors on twins: calibrated from the graph's telemetry, scoring live samples.

`calibrate` reads a healthy window of a twin's channels from Parquet, aligns them into
rows (one per `period`: the mean of each channel's samples in it, the last value held
when a channel has none), fits a detector (`sim.anomaly`) and records the calibration as
a SimulationRun (kind 'calibration', the fitted detector as JSON) that SIMULATED the twin
and USED its channels.

A `LiveDetector` runs one calibration inside a live session: it aligns the stored samples
into the same rows, scores each row once (from the past only), turns alarms into
episodes and writes them as alerts (`thread.live.alerts`). On start it is warmed with the last
stored rows, so a stream that continues a file scores exactly as the file would.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from thread.clock import utc_now
from thread.errors import ThreadError
from thread.live.alerts import AlertTarget, alert_id, unit_of, write_alert
from thread.pipeline.write import Source, ThreadService
from thread.records import PropValue, Record, node, rel
from thread.stores.base import GraphStore
from thread.telemetry.segments import iso_from_us, latest_time, read_good_samples

if TYPE_CHECKING:
    from thread.sim.anomaly import Detector, DetectorKind, Episode

__all__ = [
    "Calibration",
    "DetectionError",
    "LiveDetector",
    "StreamAligner",
    "align",
    "calibrate",
    "load_calibration",
    "parse_instant",
]


class DetectionError(ThreadError):
    """A detector cannot be calibrated or loaded (no data, bad window, unknown run)."""


def parse_instant(text: str) -> int:
    """An ISO-8601 instant (naive ones are UTC) as µs since the epoch.

    Raises:
        DetectionError: not an ISO-8601 date or datetime.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DetectionError(
            f"{text!r} is not an ISO-8601 instant (e.g. 2020-03-09T10:14:33Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1_000_000)


def align(
    series: Sequence[tuple[np.ndarray, np.ndarray]], period_us: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows from per-channel samples: one per period in which any channel has a sample,
    each channel's mean in it or its last value before; rows before every channel has
    had a value are left out. Returns (row times = period starts, rows)."""
    buckets = [t // period_us for t, _ in series]
    union = np.unique(np.concatenate(buckets)) if buckets else np.empty(0, np.int64)
    rows = np.full((len(union), len(series)), np.nan)
    for j, ((_, values), bucket) in enumerate(zip(series, buckets, strict=True)):
        if not len(bucket):
            continue
        keys, inverse = np.unique(bucket, return_inverse=True)
        means = np.bincount(inverse, weights=values) / np.bincount(inverse)
        at = np.searchsorted(union, keys)
        column = np.full(len(union), np.nan)
        column[at] = means
        filled = np.where(~np.isnan(column), np.arange(len(union)), -1)
        np.maximum.accumulate(filled, out=filled)
        rows[:, j] = np.where(filled >= 0, column[np.maximum(filled, 0)], np.nan)
    complete = ~np.isnan(rows).any(axis=1)
    return union[complete] * period_us, rows[complete]


class StreamAligner:
    """`align` for samples arriving over time: a period's row is made once every
    channel has sent a later sample, or once the newest sample is `max_lag` periods
    ahead (then channels still silent hold their last value). Samples for a period
    whose row was made already are late and ignored."""

    def __init__(self, channels: int, period_us: int, max_lag: int = 5) -> None:
        self.period_us = period_us
        self.max_lag = max_lag
        self._open: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._progress = np.full(channels, -(2**62), dtype=np.int64)
        self._held = np.full(channels, np.nan)
        self._emitted: int | None = None

    def start_after(self, last_time: int, last_row: np.ndarray) -> None:
        """Continue after a row already scored (the warm-up)."""
        self._emitted = last_time // self.period_us
        self._held = np.array(last_row, dtype=float)

    def add(self, column: int, t: np.ndarray, values: np.ndarray) -> None:
        buckets = t // self.period_us
        if self._emitted is not None:
            fresh = buckets > self._emitted
            buckets, values = buckets[fresh], values[fresh]
        if not len(buckets):
            return
        keys, inverse = np.unique(buckets, return_inverse=True)
        sums = np.bincount(inverse, weights=values)
        counts = np.bincount(inverse)
        width = len(self._progress)
        for key, total, count in zip(keys.tolist(), sums.tolist(), counts.tolist(), strict=True):
            bucket = self._open.get(key)
            if bucket is None:
                bucket = self._open[key] = (np.zeros(width), np.zeros(width))
            bucket[0][column] += total
            bucket[1][column] += count
        self._progress[column] = max(int(self._progress[column]), int(keys[-1]))

    def rows(self, final: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The rows that are complete now (all that are open, when `final`)."""
        if not self._open:
            return np.empty(0, np.int64), np.empty((0, len(self._progress)))
        newest = int(self._progress.max())
        everyone = int(self._progress.min())
        ready = sorted(b for b in self._open if final or b < everyone or b <= newest - self.max_lag)
        times, rows = [], []
        for bucket in ready:
            sums, counts = self._open.pop(bucket)
            with np.errstate(invalid="ignore", divide="ignore"):
                row = np.where(counts > 0, sums / np.maximum(counts, 1), self._held)
            self._held = row
            self._emitted = bucket
            if not np.isnan(row).any():
                times.append(bucket * self.period_us)
                rows.append(row)
        if not rows:
            return np.empty(0, np.int64), np.empty((0, len(self._progress)))
        return np.array(times, dtype=np.int64), np.vstack(rows)


@dataclass
class Calibration:
    """A stored calibration: the detector and the twin's channels it watches."""

    run_uid: str
    run_id: str
    twin_uid: str
    unit_uid: str
    detector: Detector
    channel_uids: tuple[str, ...]
    channel_names: tuple[str, ...]
    period_us: int
    window_start: str = ""
    window_end: str = ""
    rows: int = 0
    ignored: list[str] = field(default_factory=list)

    @property
    def target(self) -> AlertTarget:
        return AlertTarget(
            self.run_uid,
            self.run_id,
            self.unit_uid,
            self.detector.kind,
            self.channel_uids,
            self.channel_names,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_uid,
            "twin": self.twin_uid,
            "unit": self.unit_uid,
            "detector": self.detector.kind,
            "settings": self.detector.settings(),
            "channels": list(self.channel_uids),
            "ignored": self.ignored,
            "period_s": self.period_us / 1e6,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "rows": self.rows,
        }


def _twin_and_unit(store: GraphStore, uid: str) -> tuple[str, str]:
    unit = unit_of(store, uid)
    rows = store.read(
        "MATCH (t:InstanceTwin)-[:TWIN_OF]->(:Unit {uid: $unit}) RETURN t.uid AS twin",
        {"unit": unit},
    )
    if not rows:
        raise DetectionError(
            f"{unit} has no instance twin yet (twins are rebuilt by `thread import`)"
        )
    return str(rows[0]["twin"]), unit


def _channels(store: GraphStore, unit: str) -> list[dict[str, Any]]:
    return store.read(
        "MATCH (:Unit {uid: $unit})<-[:OBSERVES]-(:Sensor)-[:HAS_CHANNEL]->(c:Channel) "
        "RETURN c.uid AS uid, c.channel AS name, c.control AS control ORDER BY uid",
        {"unit": unit},
    )


def calibrate(
    store: GraphStore,
    twin: str,
    start: str,
    end: str,
    *,
    kind: DetectorKind = "mma",
    settings: Mapping[str, Any] | None = None,
    channels: Sequence[str] = (),
    period_s: float = 1.0,
) -> Calibration:
    """Fit a detector on the twin's healthy window [start, end] and record it.

    Control channels (set points) are left out: they are inputs, and changing one is
    not an anomaly. So are channels that are constant or silent in the window.

    Raises:
        NotFoundError, NoUnitError: `twin` is not a twin or unit.
        DetectionError: no usable channel, too few rows, or bad settings.
    """
    from thread.sim.anomaly import CalibrationError, fit_detector

    twin_uid, unit = _twin_and_unit(store, twin)
    lo, hi = parse_instant(start), parse_instant(end)
    if hi <= lo:
        raise DetectionError(f"the window must end after it starts ({start} .. {end})")
    if period_s <= 0:
        raise DetectionError("the period must be positive")
    period_us = round(period_s * 1e6)
    found = [c for c in _channels(store, unit) if not c["control"]]
    if channels:
        wanted = set(channels)
        found = [c for c in found if c["uid"] in wanted or c["name"] in wanted]
        missing = wanted - {c["uid"] for c in found} - {c["name"] for c in found}
        if missing:
            raise DetectionError(
                f"{unit} has no (non-control) channel {', '.join(sorted(missing))}"
            )
    series, used, ignored = [], [], []
    for channel in found:
        t, v = read_good_samples(store.data_dir, channel["uid"], lo, hi)
        if len(v) < 2 or float(v.min()) == float(v.max()):
            ignored.append(channel["uid"])
            continue
        series.append((t, v))
        used.append(channel)
    if not used:
        raise DetectionError(
            f"no channel of {unit} has varying good samples between {start} and {end}"
            + (f" (ignored: {', '.join(ignored)})" if ignored else "")
        )
    times, rows = align(series, period_us)
    uids = tuple(c["uid"] for c in used)
    try:
        detector = fit_detector(kind, rows, uids, **dict(settings or {}))
    except CalibrationError as exc:
        raise DetectionError(f"{twin_uid}: {exc}") from None
    parameters = json.dumps(detector.to_dict(), sort_keys=True)
    digest = hashlib.blake2b(
        f"{twin_uid}|{lo}|{hi}|{period_us}|{parameters}".encode(), digest_size=6
    ).hexdigest()
    run_id = f"detector-{kind}-{digest}"
    calibration = Calibration(
        store.ontology.uid("SimulationRun", run_id),
        run_id,
        twin_uid,
        unit,
        detector,
        uids,
        tuple(str(c["name"]) for c in used),
        period_us,
        iso_from_us(int(times[0])) if len(times) else start,
        iso_from_us(int(times[-1])) if len(times) else end,
        len(rows),
        ignored,
    )
    _record(store, calibration, parameters)
    return calibration


def _record(store: GraphStore, calibration: Calibration, parameters: str) -> None:
    onto = store.ontology
    uid = onto.uid("SimulationRun", calibration.run_id)
    existing = store.read(
        "MATCH (r:SimulationRun {uid: $uid}) RETURN r.started AS started", {"uid": uid}
    )
    # the same calibration again keeps when it was first made, so it writes nothing
    made = str(existing[0]["started"]) if existing else utc_now()
    props: dict[str, PropValue] = {
        "run_id": calibration.run_id,
        "kind": "calibration",
        "name": f"{calibration.detector.kind} detector for {calibration.twin_uid}",
        "detector": calibration.detector.kind,
        "parameters": parameters,
        "channels": list(calibration.channel_uids),
        "channel_names": list(calibration.channel_names),
        "period_s": calibration.period_us / 1e6,
        "window_start": calibration.window_start,
        "window_end": calibration.window_end,
        "rows": calibration.rows,
        "status": "succeeded",
        "started": made,
        "finished": made,
    }
    run = node(onto, "SimulationRun", props)
    records: list[Record] = [run, rel("SIMULATED", run, ("InstanceTwin", calibration.twin_uid))]
    records.extend(rel("USED", run, ("Channel", uid)) for uid in calibration.channel_uids)
    source = Source("detector", calibration.twin_uid, source_id=f"calibration:{run.uid}")
    ThreadService(store).import_records(records, source)


def load_calibration(store: GraphStore, run_uid: str) -> Calibration:
    """A calibration recorded by `calibrate`.

    Raises:
        DetectionError: no such run, or it is not a detector calibration.
    """
    from thread.sim.anomaly import CalibrationError, detector_from_dict

    rows = store.read(
        "MATCH (r:SimulationRun {uid: $uid})-[:SIMULATED]->(t:InstanceTwin)-[:TWIN_OF]->(u:Unit) "
        "RETURN r AS run, t.uid AS twin, u.uid AS unit",
        {"uid": run_uid},
    )
    if (
        not rows
        or rows[0]["run"].get("kind") != "calibration"
        or not rows[0]["run"].get("parameters")
    ):
        raise DetectionError(
            f"{run_uid} is not a detector calibration (see `thread detect calibrate`)"
        )
    run = rows[0]["run"]
    try:
        detector = detector_from_dict(json.loads(run["parameters"]))
    except (CalibrationError, ValueError, KeyError, TypeError) as exc:
        raise DetectionError(f"{run_uid}: unreadable detector parameters ({exc})") from None
    return Calibration(
        run_uid,
        str(run["run_id"]),
        str(rows[0]["twin"]),
        str(rows[0]["unit"]),
        detector,
        tuple(run["channels"]),
        tuple(run["channel_names"]),
        round(float(run["period_s"]) * 1e6),
        str(run.get("window_start") or ""),
        str(run.get("window_end") or ""),
        int(run.get("rows") or 0),
    )


class LiveDetector:
    """One calibration scoring a live session's stored samples (see the module docstring).

    An alert is written when its episode opens, clears, turns critical, when its peak has
    grown by a tenth since it was last written, and otherwise at most every
    `refresh_s` seconds while it lasts, so a long episode does not rewrite its node at
    every flush; the last flush writes every alert's final state.
    """

    def __init__(
        self,
        store: GraphStore,
        calibration: Calibration,
        max_lag: int = 5,
        refresh_s: float = 60.0,
    ) -> None:
        from thread.sim.anomaly import EpisodeTracker

        self.store = store
        self.calibration = calibration
        self.refresh_s = refresh_s
        detector = calibration.detector
        self.scorer = detector.stream()
        self.tracker = EpisodeTracker(detector)
        self.aligner = StreamAligner(len(calibration.channel_uids), calibration.period_us, max_lag)
        self.columns = {uid: i for i, uid in enumerate(calibration.channel_uids)}
        self._pending: dict[str, Episode] = {}
        self._written: dict[str, tuple[str, float, float]] = {}  # severity, peak, when

    def warm(self) -> int:
        """Take the last stored rows as history (no alerts for them); returns how many."""
        calibration = self.calibration
        window = calibration.detector.window
        span = (window + self.aligner.max_lag + 1) * calibration.period_us * 4
        latest = [latest_time(self.store.data_dir, uid) for uid in calibration.channel_uids]
        known = [t for t in latest if t is not None]
        if not known:
            return 0
        newest = max(known)
        series = [
            read_good_samples(self.store.data_dir, uid, newest - span, newest)
            for uid in calibration.channel_uids
        ]
        times, rows = align(series, calibration.period_us)
        if not len(rows):
            return 0
        history = rows[-(window - 1) :] if window > 1 else rows[-1:]
        self.scorer.warm(history)
        self.aligner.start_after(int(times[-1]), rows[-1])
        return len(history)

    def feed(
        self, samples: Mapping[str, tuple[np.ndarray, np.ndarray]], final: bool = False
    ) -> list[str]:
        """Score the rows these stored samples complete; returns the alerts written."""
        for uid, (t, values) in samples.items():
            column = self.columns.get(uid)
            if column is not None and len(t):
                self.aligner.add(column, t, values)
        times, rows = self.aligner.rows(final)
        if len(rows):
            scores = self.scorer.score(rows)
            for episode in self.tracker.update(times, scores):
                self._pending[alert_id(self.calibration.run_id, episode.start)] = episode
        now = time.monotonic()
        written = []
        for key, episode in list(self._pending.items()):
            if not (final or self._due(key, episode, now)):
                continue
            written.append(write_alert(self.store, self.calibration.target, episode))
            del self._pending[key]
            if episode.open:
                self._written[key] = (episode.severity, episode.peak_score, now)
            else:
                self._written.pop(key, None)
        return written

    def _due(self, key: str, episode: Episode, now: float) -> bool:
        last = self._written.get(key)
        if last is None or not episode.open:
            return True
        severity, peak, when = last
        return (
            episode.severity != severity
            or episode.peak_score >= 1.1 * peak
            or now - when >= self.refresh_s
        )
