"""Telemetry imports running at once into the same channels: every summary counts every
sample, and a killed import's staged files are cleaned up by the next one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from support.processes import exited_pid

from thread.stores import open_store
from thread.telemetry.datasets import TELEMETRY_DIR

CHANNELS = 100
SAMPLES = 25

IMPORTER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from thread.pipeline.imports import import_file
    from thread.stores import open_store
    folder, data, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.001)
    with open_store(f"embedded:{folder}") as store:
        import_file(store, "telemetry", data)
    """
)


def _samples(path: Path, minute: int) -> Path:
    lines = ["sensor_id,channel,timestamp,value"]
    for channel in range(CHANNELS):
        for sample in range(SAMPLES):
            lines.append(f"S{channel},temp,2025-01-01T{minute:02d}:{sample:02d}:00Z,{sample}.5")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_imports_at_once_count_every_sample(tmp_path: Path) -> None:
    """The later summary write used to win: channels showed 25 samples where Parquet
    held 50."""
    folder, go = tmp_path / "store", tmp_path / "go"
    open_store(f"embedded:{folder}").close()
    files = [_samples(tmp_path / f"samples-{hour}.csv", hour) for hour in (1, 2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", IMPORTER, str(folder), str(data), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for data in files
    ]
    go.touch()
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    with open_store(f"embedded:{folder}") as store:
        counts = store.read("MATCH (c:Channel) RETURN c.count AS n")
    assert len(counts) == CHANNELS
    assert {row["n"] for row in counts} == {2 * SAMPLES}


def test_an_import_removes_what_a_killed_import_staged(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    data = _samples(tmp_path / "samples.csv", 1)
    with open_store(f"embedded:{folder}") as store:
        from thread.pipeline.imports import import_file

        import_file(store, "telemetry", data)
        channels = store.data_dir / TELEMETRY_DIR
        gone = exited_pid()
        stale = [folder / f".part.{gone}.tmp" for folder in sorted(channels.iterdir())]
        for path in stale:
            path.write_bytes(b"left by a killed import")
        import_file(store, "telemetry", _samples(tmp_path / "more.csv", 2))
    assert not [path for path in stale if path.exists()]
