"""Live Parquet segments: exactly once per (channel, t), compaction in levels, recovery
from a merge interrupted by a crash, summaries from file footers over good samples; a
session that cannot reach the graph keeps its samples and acknowledges nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from thread.errors import StoreError
from thread.live.session import LiveEvent, LiveSession
from thread.stores import GraphStore
from thread.telemetry.datasets import channel_folder, read_channel
from thread.telemetry.segments import ChannelLog, Summary, is_good, latest_time, read_good_samples

UID = "channel:S1/flow"
HOUR = 3_600_000_000


def batch(start: int, count: int, quality: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = (np.arange(start, start + count, dtype=np.int64) + 1_700_000_000) * 1_000_000
    return t, t / 1e6 - 1_700_000_000, np.full(count, quality, dtype=np.uint32)


def compact(log: ChannelLog) -> None:
    while log.compact_step():
        pass


def test_appends_are_exactly_once_and_compacted_in_levels(tmp_path: Path) -> None:
    log = ChannelLog(tmp_path, UID, "mqtt://broker/a", HOUR)
    for i in range(40):
        stored, _, _ = log.append(*batch(i * 10, 10))
        assert len(stored) == 10
        compact(log)
    t, _, _ = batch(395, 10)  # five already stored, five new
    stored, _, _ = log.append(*batch(395, 10))
    assert stored.tolist() == t[5:].tolist()
    compact(log)
    names = sorted(p.name.split("-")[2] for p in channel_folder(tmp_path, UID).glob("*.parquet"))
    assert names.count("L1") == 2 and names.count("L0") == 9  # 41 segments: 2 x 16 merged
    table = read_channel(tmp_path, UID)
    assert table.num_rows == 405 and len(set(table.column("t").to_pylist())) == 405
    assert log.summary.count == 405 and log.summary.last_value == 404.0

    reopened = ChannelLog(tmp_path, UID, "mqtt://broker/a", HOUR)
    assert reopened.summary == log.summary  # read from the footers
    assert len(reopened.append(*batch(0, 405))[0]) == 0


def test_a_merge_interrupted_by_a_crash_is_finished_on_open(tmp_path: Path) -> None:
    log = ChannelLog(tmp_path, UID, "mqtt://broker/a", HOUR)
    for i in range(16):
        log.append(*batch(i * 10, 10))
    folder = channel_folder(tmp_path, UID)
    sources = {p: p.read_bytes() for p in folder.glob("*L0*.parquet")}
    assert log.compact_step()
    for path, content in sources.items():  # as if the process died before the deletes
        path.write_bytes(content)
    assert read_channel(tmp_path, UID).num_rows == 320
    ChannelLog(tmp_path, UID, "mqtt://broker/a", HOUR)
    assert read_channel(tmp_path, UID).num_rows == 160
    assert [p.name.split("-")[2] for p in folder.glob("*.parquet")] == ["L1"]


def test_duplicates_older_than_the_horizon_are_found_on_disk(tmp_path: Path) -> None:
    log = ChannelLog(tmp_path, UID, "opc.tcp://plc#opcua", horizon_us=5_000_000)
    log.append(*batch(0, 100))
    log.append(*batch(100, 100))
    stored, _, _ = log.append(*batch(50, 20))  # 150 s older than the newest: not in memory
    assert len(stored) == 0
    stored, _, _ = log.append(*batch(-10, 5))
    assert len(stored) == 5
    assert latest_time(tmp_path, UID) == batch(199, 1)[0][0]


def test_bad_and_uncertain_samples_are_stored_but_not_summarised(tmp_path: Path) -> None:
    assert is_good(np.array([0, 0x00A80000, 0x40000000, 0x80000000], dtype=np.uint32)).tolist() == [
        True,
        True,
        False,
        False,
    ]
    log = ChannelLog(tmp_path, UID, "x", HOUR)
    log.append(*batch(0, 3))
    log.append(*batch(3, 2, quality=0x808B0000))
    assert read_channel(tmp_path, UID).num_rows == 5
    assert (log.summary.count, log.summary.bad, log.summary.last_value) == (3, 2, 2.0)
    props = log.summary.to_props(log.data_path)
    assert props["count"] == 3 and props["bad_count"] == 2 and props["max"] == 2.0
    assert props["last"] == "2023-11-14T22:13:22Z"
    times, values = read_good_samples(tmp_path, UID)
    assert values.tolist() == [0.0, 1.0, 2.0] and len(times) == 3


def test_summaries_merge() -> None:
    first = Summary.of(*batch(0, 5))
    second = Summary.of(*batch(10, 5))
    first.merge(second)
    assert (first.count, first.low, first.high, first.last_value) == (10, 0.0, 14.0, 14.0)
    assert Summary.from_json(first.to_json()) == first


class FlakyStore:
    """A store whose reads fail while `down` is set (a graph that is restarting)."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def read(self, query: str, params: Any = None, **options: Any) -> list[dict[str, Any]]:
        if self.down:
            raise StoreError("the graph is restarting")
        return self.store.read(query, params, **options)


def test_a_flush_the_graph_cannot_take_keeps_its_samples_and_acknowledges_nothing(
    embedded_store: GraphStore,
) -> None:
    flaky = FlakyStore(embedded_store)
    events: list[LiveEvent] = []
    session = LiveSession(
        flaky,  # type: ignore[arg-type]
        importer="live-test",
        source="test",
        source_id="test",
        create_missing=True,
        on_event=events.append,
    )
    session.start()
    session.add([("S1", "flow", "", 1_000_000, 1.0, 0)], 11)
    flaky.down = True
    assert session.flush().tokens == []
    assert "flush postponed: the graph is restarting" in [e.message for e in events][-1]
    session.add([("S1", "flow", "", 2_000_000, 2.0, 0)], 12)
    flaky.down = False
    result = session.flush()
    assert result.tokens == [11, 12] and result.stored == 2
    session.close("succeeded")
    assert read_channel(embedded_store.data_dir, "channel:S1/flow").num_rows == 2
