"""Telemetry beside the graph: one Parquet dataset per channel, a summary on its Channel node.

Raw samples do not belong in the graph. Each channel has a folder under the store's data
folder holding one Parquet file per source that fed it (an import file, a live stream);
re-importing a source replaces its file, so a rerun never duplicates samples. Files are
written under temporary names first and renamed into place only after the graph write
succeeded, so a failed import leaves no samples behind either.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from thread.clock import utc_text
from thread.errors import Problem, ValidationError
from thread.processes import process_alive
from thread.records import PropValue, Samples

__all__ = [
    "StagedTelemetry",
    "channel_folder",
    "channel_folder_name",
    "part_name",
    "read_channel",
    "read_samples",
    "stage_samples",
    "summarize",
    "telemetry_lock",
]

TELEMETRY_DIR = "telemetry"


def channel_folder(data_dir: Path, channel_uid: str) -> Path:
    """The folder holding a channel's Parquet files (its uid, percent-encoded)."""
    return data_dir / TELEMETRY_DIR / channel_folder_name(channel_uid)


_MAX_FOLDER_NAME = 200


def channel_folder_name(channel_uid: str) -> str:
    """A channel folder's name, for code that lists a hundred thousand of them as text.

    The uid, percent-encoded; past _MAX_FOLDER_NAME characters (a sensor id of about 190,
    or fewer with non-ASCII), its first 200 characters, '~' and a digest of the whole uid,
    since file systems refuse names over 255 bytes. Such a name is longer than any short
    one, so the two kinds never collide, and short names are what they always were."""
    name = quote(channel_uid, safe="")
    if len(name) <= _MAX_FOLDER_NAME:
        return name
    digest = hashlib.blake2b(channel_uid.encode(), digest_size=16)
    return f"{name[:_MAX_FOLDER_NAME]}~{digest.hexdigest()}"


def part_name(source_identity: str) -> str:
    """The file a source's samples of one channel are kept in: one part per source, so a
    re-import replaces its own samples and no one else's."""
    return hashlib.blake2b(source_identity.encode(), digest_size=10).hexdigest() + ".parquet"


_SMALL_FILE = 1 << 20


def read_samples(path: str | Path) -> Any:
    """One Parquet file's samples (t, value) as a pyarrow Table.

    A small file (most channels hold a few hundred samples per source) is read without
    pre-buffering and threads: pyarrow's defaults cost three times as much per file,
    which decides how long reading a fleet's hundred thousand channels takes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if os.path.getsize(path) >= _SMALL_FILE:
        return pq.read_table(path, columns=["t", "value"])
    with pa.OSFile(os.fspath(path)) as source:  # a plain file: no filesystem lookup
        return pq.ParquetFile(source, pre_buffer=False).read(
            columns=["t", "value"], use_threads=False
        )


def read_channel(data_dir: Path, channel_uid: str) -> Any:
    """Every sample of a channel as one pyarrow Table (t, value), sorted by t."""
    import pyarrow as pa

    folder = channel_folder(data_dir, channel_uid)
    tables = [read_samples(path) for path in sorted(folder.glob("*.parquet"))]
    if not tables:
        return pa.table({"t": pa.array([], pa.int64()), "value": pa.array([], pa.float64())})
    table = pa.concat_tables(tables, promote_options="default")
    return table.sort_by("t")


def _plain_t(value: Any) -> PropValue:
    """A sample's t as a graph value: UTC ISO string for instants, int for indexes."""
    from datetime import datetime

    if isinstance(value, datetime):
        return utc_text(value)
    return int(value)


def summarize(table: Any, data_path: str) -> dict[str, PropValue]:
    """Count, first/last t, min, max, mean, last value and whether the channel is constant."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = table.column("value")
    count = table.num_rows
    summary: dict[str, PropValue] = {"data_path": data_path, "count": count}
    if count == 0:
        return summary
    times = table.column("t")
    extremes, span = pc.min_max(values), pc.min_max(times)
    low, high = extremes["min"].as_py(), extremes["max"].as_py()
    last = span["max"]
    is_time = pa.types.is_timestamp(table.schema.field("t").type)
    summary.update(
        {
            "index_kind": "time" if is_time else "index",
            "first": _plain_t(span["min"].as_py()),
            "last": _plain_t(last.as_py()),
            "min": low,
            "max": high,
            "mean": pc.mean(values).as_py(),
            "last_value": values[pc.index(times, last).as_py()].as_py(),
            "constant": low == high,
        }
    )
    return summary


@contextmanager
def telemetry_lock(data_dir: Path) -> Iterator[None]:
    """Held by an import from staging its samples to committing them: each channel's
    summary is computed over the Parquet files already in place, so two imports at once
    into the same channels would each miss the other's samples, and the later summary
    write would win."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "telemetry.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale_staging(folder: Path) -> None:
    """Remove what an import killed before its commit staged in `folder` (its process is
    gone): nobody else would, and a rerun stages under its own name."""
    for temp in folder.glob(".*.tmp"):
        pid = temp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not process_alive(int(pid)):
            temp.unlink(missing_ok=True)


@dataclass
class StagedTelemetry:
    """Parquet files written under temporary names, and the channel summaries they give."""

    moves: list[tuple[Path, Path]] = field(default_factory=list)
    summaries: dict[str, dict[str, PropValue]] = field(default_factory=dict)

    def commit(self) -> None:
        for temp, final in self.moves:
            os.replace(temp, final)
        self.moves.clear()

    def discard(self) -> None:
        for temp, _ in self.moves:
            temp.unlink(missing_ok=True)
        self.moves.clear()


def _check(channel: str, table: Any, origin: str) -> list[Problem]:
    import pyarrow as pa

    problems = []
    names = table.schema.names
    if names[:2] != ["t", "value"] or len(names) != 2:
        problems.append(
            Problem(origin, f"samples of {channel} must have columns t, value (got {names})")
        )
        return problems
    t_type, v_type = table.schema.field("t").type, table.schema.field("value").type
    utc_time = pa.types.is_timestamp(t_type) and t_type.tz == "UTC"
    if not (utc_time or pa.types.is_integer(t_type)):
        problems.append(
            Problem(
                origin, f"samples of {channel}: t must be UTC timestamps or integers, not {t_type}"
            )
        )
    if not pa.types.is_floating(v_type):
        problems.append(
            Problem(origin, f"samples of {channel}: value must be float64, not {v_type}")
        )
    if table.column("t").null_count:
        problems.append(
            Problem(
                origin, f"samples of {channel}: {table.column('t').null_count} sample(s) without t"
            )
        )
    return problems


def _one_per_t(table: Any) -> Any:
    """Sorted by t with one sample per t (a repeated t keeps its last value); already
    sorted batches, the usual case, are not sorted again."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows < 2:
        return table
    times = table.column("t")
    if not pc.all(pc.greater_equal(times[1:], times[:-1])).as_py():
        table = table.sort_by("t")
        times = table.column("t")
    keep = pc.not_equal(times[1:], times[:-1])
    if pc.all(keep).as_py():
        return table
    return table.filter(pa.concat_arrays([keep.combine_chunks(), pa.array([True])]))


def stage_samples(
    samples: Iterable[Samples], data_dir: Path, source_identity: str
) -> StagedTelemetry:
    """Write each channel's samples of one source to a temporary Parquet file and compute
    the channel's summary over all its sources.

    Raises:
        ValidationError: a batch has the wrong columns or types; nothing was written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    by_channel: dict[str, list[Any]] = defaultdict(list)
    problems: list[Problem] = []
    for batch in samples:
        origin = batch.origin.source if batch.origin else "<samples>"
        problems.extend(_check(batch.channel, batch.table, origin))
        by_channel[batch.channel].append(batch.table)
    if problems:
        raise ValidationError(problems)

    staged = StagedTelemetry()
    part = part_name(source_identity)
    writes: list[Future[None]] = []
    try:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="thread-parquet") as writer:
            for channel, tables in by_channel.items():
                table = _one_per_t(pa.concat_tables(tables) if len(tables) > 1 else tables[0])
                folder = channel_folder(data_dir, channel)
                folder.mkdir(parents=True, exist_ok=True)
                _remove_stale_staging(folder)
                final = folder / part
                temp = folder / f".{part}.{os.getpid()}.tmp"
                writes.append(
                    writer.submit(pq.write_table, table, temp)
                )  # writing releases the GIL
                staged.moves.append((temp, final))
                others = [read_samples(p) for p in sorted(folder.glob("*.parquet")) if p != final]
                everything = (
                    pa.concat_tables([*others, table], promote_options="default")
                    if others
                    else table
                )
                staged.summaries[channel] = summarize(everything, str(folder.relative_to(data_dir)))
            for done in writes:
                done.result()
    except BaseException:
        staged.discard()
        raise
    return staged
