"""Live samples of one channel: append-only Parquet segments, compacted in levels, with the
index of stored timestamps that makes every append exactly-once per (channel, t).

Parquet files cannot be appended to, so each flush writes one small segment file per
channel (`live-<source>-L0-<seq>-<seq>.parquet`, beside the channel's other files in the
folder `thread.telemetry.datasets` reads). Sixteen files of one level are merged into one file of
the next level (`L1`, `L2`, …) by `compact_step`, which the live session calls within a
time budget per flush; a stream that flushes every second for a year keeps about a
hundred files per channel and every sample is rewritten only a few times. A merge
writes the new file under a temporary name, renames it into place and then deletes the
files it replaces; a crash between the rename and the deletes leaves files whose sequence
range lies inside the new file's, and those are deleted when the channel is next opened.

Each file records in its Parquet metadata the summary of its good samples (count, sum,
min, max, first and last time, last value, bad-quality count), so opening a channel reads
file footers, not the samples. Bad-quality samples (OPC UA status not Good) are stored,
flagged in the `quality` column, and left out of the summary.

Exactly-once: the timestamps of the last `horizon` of samples are kept in memory; a
sample older than that is checked against the files whose time range covers it.

Durability: files are written and renamed but not fsynced, so a crash of the process
loses nothing written, while a power cut can lose what the OS had not yet put on disk,
including samples whose MQTT messages were already acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thread.clock import from_epoch
from thread.records import PropValue
from thread.telemetry.datasets import channel_folder

__all__ = [
    "ChannelLog",
    "Summary",
    "is_good",
    "iso_from_us",
    "latest_time",
    "read_good_samples",
    "source_tag",
]


def is_good(quality: np.ndarray) -> np.ndarray:
    """Which quality codes are good: OPC UA severity bits 00 (Good, GoodClamped, …);
    uncertain and bad samples are stored, flagged, and left out of summaries."""
    return quality < 0x40000000


_FANOUT = 16
_META_KEY = b"thread.summary"
_NAME = re.compile(r"^live-(?P<tag>[0-9a-f]+)-L(?P<level>\d+)-(?P<lo>\d+)-(?P<hi>\d+)\.parquet$")


def iso_from_us(value: int) -> str:
    """A microsecond timestamp as Thread's UTC ISO-8601 string (to the second)."""
    return from_epoch(value / 1e6)


@dataclass
class Summary:
    """Running statistics of a channel's good samples (times in µs since the epoch)."""

    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    first: int | None = None
    last: int | None = None
    last_value: float | None = None
    bad: int = 0

    @classmethod
    def of(cls, t: np.ndarray, value: np.ndarray, quality: np.ndarray) -> Summary:
        good = is_good(quality)
        summary = cls(bad=int((~good).sum()))
        if good.any():
            gt, gv = t[good], value[good]
            last = int(np.argmax(gt))
            summary.count = int(good.sum())
            summary.total = float(gv.sum())
            summary.low = float(gv.min())
            summary.high = float(gv.max())
            summary.first = int(gt.min())
            summary.last = int(gt[last])
            summary.last_value = float(gv[last])
        return summary

    def merge(self, other: Summary) -> None:
        self.bad += other.bad
        if not other.count:
            return
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        if other.first is not None and (self.first is None or other.first < self.first):
            self.first = other.first
        if self.last is None or (other.last is not None and other.last >= self.last):
            self.last, self.last_value = other.last, other.last_value

    def to_json(self) -> bytes:
        data = self.__dict__.copy()
        data["low"] = None if self.count == 0 else self.low
        data["high"] = None if self.count == 0 else self.high
        return json.dumps(data).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Summary:
        data = json.loads(raw)
        data["low"] = math.inf if data["low"] is None else data["low"]
        data["high"] = -math.inf if data["high"] is None else data["high"]
        return cls(**data)

    def to_props(self, data_path: str) -> dict[str, PropValue]:
        """The Channel node's summary properties (as `thread.telemetry.datasets.summarize` names
        them, over good samples only, plus `bad_count`)."""
        props: dict[str, PropValue] = {
            "data_path": data_path,
            "count": self.count,
            "bad_count": self.bad,
        }
        if self.count and self.first is not None and self.last is not None:
            props.update(
                {
                    "index_kind": "time",
                    "first": iso_from_us(self.first),
                    "last": iso_from_us(self.last),
                    "min": self.low,
                    "max": self.high,
                    "mean": self.total / self.count,
                    "last_value": self.last_value,
                    "constant": self.low == self.high,
                }
            )
        return props


@dataclass
class _File:
    path: Path
    summary: Summary
    first: int | None  # time range of every sample, good or bad
    last: int | None
    tag: str | None = None  # live files: the source tag, level and sequence range
    level: int = 0
    lo: int = 0
    hi: int = 0


def _table(t: np.ndarray, value: np.ndarray, quality: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "t": pa.array(t, pa.int64()).cast(pa.timestamp("us", "UTC")),
            "value": pa.array(value, pa.float64()),
            "quality": pa.array(quality, pa.uint32()),
        }
    )


def _micros(column: Any) -> np.ndarray:
    """A timestamp (or integer) column as int64 microseconds since the epoch."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type):
        column = pc.cast(pc.cast(column, pa.timestamp("us", column.type.tz)), pa.int64())
    return np.asarray(column.to_numpy(), dtype=np.int64)


def _arrays(table: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """t (µs), value and quality of a telemetry table (files without quality are good)."""
    t = _micros(table.column("t"))
    value = np.asarray(table.column("value").to_numpy(), dtype=float)
    if "quality" in table.column_names:
        quality = np.asarray(table.column("quality").to_numpy(), dtype=np.uint32)
    else:
        quality = np.zeros(len(t), dtype=np.uint32)
    return t, value, quality


def _read(path: Path, columns: list[str] | None = None) -> Any:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    wanted = [c for c in (columns or ["t", "value", "quality"]) if c in schema.names]
    return pq.read_table(path, columns=wanted)


def _times(path: Path) -> np.ndarray:
    return _micros(_read(path, ["t"]).column("t"))


def _describe(path: Path) -> _File:
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path).metadata or {}
    match = _NAME.match(path.name)
    if _META_KEY in meta:
        info = json.loads(meta[_META_KEY])
        summary = Summary.from_json(json.dumps(info["summary"]).encode())
        first, last = info["first"], info["last"]
    else:  # a file import's samples: read them once
        t, value, quality = _arrays(_read(path))
        summary = Summary.of(t, value, quality)
        first = int(t.min()) if len(t) else None
        last = int(t.max()) if len(t) else None
    described = _File(path, summary, first, last)
    if match:
        described.tag = match["tag"]
        described.level = int(match["level"])
        described.lo, described.hi = int(match["lo"]), int(match["hi"])
    return described


def source_tag(source_identity: str) -> str:
    return hashlib.blake2b(source_identity.encode(), digest_size=6).hexdigest()


@dataclass
class ChannelLog:
    """The live dataset of one channel from one source (see the module docstring)."""

    data_dir: Path
    channel_uid: str
    source_identity: str
    horizon_us: int
    folder: Path = field(init=False)
    tag: str = field(init=False)
    summary: Summary = field(init=False, default_factory=Summary)
    _files: dict[Path, _File] = field(init=False, default_factory=dict)
    _recent: np.ndarray = field(init=False, default_factory=lambda: np.empty(0, np.int64))
    _newest: int | None = field(init=False, default=None)
    _next_seq: int = field(init=False, default=1)
    _cached: dict[Path, Any] = field(init=False, default_factory=dict)  # segments written here

    def __post_init__(self) -> None:
        self.folder = channel_folder(self.data_dir, self.channel_uid)
        self.tag = source_tag(self.source_identity)
        self.folder.mkdir(parents=True, exist_ok=True)
        described = [_describe(p) for p in sorted(self.folder.glob("*.parquet"))]
        mine = [f for f in described if f.tag == self.tag]
        superseded = {
            f.path
            for f in mine
            for g in mine
            if g is not f and g.lo <= f.lo and f.hi <= g.hi and (g.lo, g.hi) != (f.lo, f.hi)
        }
        for path in superseded:
            path.unlink(missing_ok=True)
        for f in described:
            if f.path in superseded:
                continue
            self._files[f.path] = f
            self.summary.merge(f.summary)
            if f.last is not None:
                self._newest = f.last if self._newest is None else max(self._newest, f.last)
        self._next_seq = max((f.hi for f in mine if f.path not in superseded), default=0) + 1
        if self._newest is not None:
            floor = self._newest - self.horizon_us
            recent = [
                _times(f.path)
                for f in self._files.values()
                if f.last is not None and f.last >= floor
            ]
            if recent:
                times = np.unique(np.concatenate(recent))
                self._recent = times[times >= floor]

    @property
    def data_path(self) -> str:
        return str(self.folder.relative_to(self.data_dir))

    def _stored(self, t: np.ndarray) -> np.ndarray:
        """Which of these (sorted, unique) times are stored already."""
        if self._newest is None:
            return np.zeros(len(t), dtype=bool)
        known = np.isin(t, self._recent, assume_unique=True)
        floor = self._newest - self.horizon_us
        old = t < floor
        if old.any():
            for f in self._files.values():
                if f.first is None or f.last is None:
                    continue
                covered = old & (t >= f.first) & (t <= f.last)
                if covered.any():
                    known |= covered & np.isin(t, _times(f.path))
        return known

    def append(
        self, t: np.ndarray, value: np.ndarray, quality: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Store the samples whose t is new and return them; `t` must be sorted and unique.
        The samples not returned were duplicates of stored ones."""
        if len(t) and self._newest is not None and t[0] <= self._newest:
            fresh = ~self._stored(t)
            t, value, quality = t[fresh], value[fresh], quality[fresh]
        if not len(t):
            return t, value, quality
        summary = Summary.of(t, value, quality)
        seq = self._next_seq
        table = _table(t, value, quality)
        written = self._write(table, 0, seq, seq, summary, int(t[0]), int(t[-1]))
        self._cached[written.path] = table
        self._next_seq += 1
        self.summary.merge(summary)
        newest = int(t[-1])
        self._newest = newest if self._newest is None else max(self._newest, newest)
        floor = self._newest - self.horizon_us
        merged = (
            np.concatenate([self._recent, t])
            if not len(self._recent) or t[0] > self._recent[-1]
            else np.union1d(self._recent, t)
        )
        self._recent = merged[np.searchsorted(merged, floor) :]
        return t, value, quality

    def _write(
        self, table: Any, level: int, lo: int, hi: int, summary: Summary, first: int, last: int
    ) -> _File:
        import pyarrow.parquet as pq

        info = {"summary": json.loads(summary.to_json()), "first": first, "last": last}
        table = table.replace_schema_metadata({_META_KEY: json.dumps(info).encode()})
        path = self.folder / f"live-{self.tag}-L{level}-{lo:012d}-{hi:012d}.parquet"
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temp, "wb") as handle:
            pq.write_table(table, handle)
        os.replace(temp, path)
        written = _File(path, summary, first, last, self.tag, level, lo, hi)
        self._files[path] = written
        return written

    @property
    def needs_compaction(self) -> bool:
        return self._group() is not None

    def _group(self) -> list[_File] | None:
        """The oldest `_FANOUT` files of the lowest level that has that many, if any."""
        levels: dict[int, list[_File]] = {}
        for f in self._files.values():
            if f.tag == self.tag:
                levels.setdefault(f.level, []).append(f)
        for level in sorted(levels):
            if len(levels[level]) >= _FANOUT:
                return sorted(levels[level], key=lambda f: f.lo)[:_FANOUT]
        return None

    def compact_step(self) -> bool:
        """Merge one group of files into one file of the next level; False when there is
        nothing to merge. Segments this log wrote are merged from memory, not re-read."""
        import pyarrow as pa

        group = self._group()
        if group is None:
            return False
        tables = [self._cached.pop(f.path, None) or _read(f.path) for f in group]
        table = pa.concat_tables(tables).sort_by("t")
        summary = Summary()
        for f in group:
            summary.merge(f.summary)
        first = min(f.first for f in group if f.first is not None)
        last = max(f.last for f in group if f.last is not None)
        self._write(table, group[0].level + 1, group[0].lo, group[-1].hi, summary, first, last)
        for f in group:
            del self._files[f.path]
            f.path.unlink(missing_ok=True)
        return True


def read_good_samples(
    data_dir: Path, channel_uid: str, start_us: int | None = None, end_us: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A channel's good samples in [start, end] from every file: times (µs) and values,
    sorted by time, one per time (the first file's sample wins). Live files outside the
    window are skipped by their footers, so a window costs what it holds, not the history."""
    folder = channel_folder(data_dir, channel_uid)
    times, values = [], []
    for path in sorted(folder.glob("*.parquet")):
        if start_us is not None or end_us is not None:
            info = _describe(path)  # the footer says whether the file can hold the window
            if info.first is None or info.last is None:
                continue
            if (start_us is not None and info.last < start_us) or (
                end_us is not None and info.first > end_us
            ):
                continue
        t, value, quality = _arrays(_read(path))
        keep = is_good(quality)
        if start_us is not None:
            keep &= t >= start_us
        if end_us is not None:
            keep &= t <= end_us
        times.append(t[keep])
        values.append(value[keep])
    if not times:
        return np.empty(0, np.int64), np.empty(0)
    t = np.concatenate(times)
    v = np.concatenate(values)
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    first = np.ones(len(t), dtype=bool)
    first[1:] = t[1:] != t[:-1]
    return t[first], v[first]


def latest_time(data_dir: Path, channel_uid: str) -> int | None:
    """The time (µs) of a channel's newest sample in any file, None when it has none;
    read from the files' footers where Thread wrote them."""
    folder = channel_folder(data_dir, channel_uid)
    ends = [f.last for f in map(_describe, folder.glob("*.parquet")) if f.last is not None]
    return max(ends, default=None)
