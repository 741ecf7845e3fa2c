"""The live commands as a user runs them: `thread ingest mqtt` stopped by SIGTERM or
Ctrl-C flushes what it holds and exits cleanly; `detect calibrate` and `alerts` on a
thread whose telemetry came from a file; start-up stays free of heavy imports."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from support.live import Mosquitto, Publisher
from support.processes import modules_imported_by
from typer.testing import CliRunner

from thread.cli.main import app as cli_app
from thread.pipeline.imports import ImportOptions, import_file, refresh_after
from thread.stores import open_store
from thread.telemetry.segments import read_good_samples

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
MAPPING = TESTS / "data" / "live" / "plant-json.toml"


@pytest.fixture
def store_spec(embedded_home: Path) -> str:
    return f"embedded:{embedded_home}#cli{uuid.uuid4().hex[:10]}"


class Process:
    """`thread … ingest mqtt --json` as a child process, its JSON events collected."""

    def __init__(self, store_spec: str, broker: Mosquitto, log: Path) -> None:
        command = [
            str(Path(sys.executable).with_name("thread")), "--store", store_spec,
            "ingest", "mqtt", "--broker", broker.url, "--mapping", str(MAPPING),
            "--client-id", "cli-test", "--create-missing", "--flush-interval", "60", "--json",
        ]  # fmt: skip
        self.log = log
        with open(log, "w") as errors:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True
            )
        self.events: list[dict[str, object]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while not any(e["event"] == "connected" for e in self.events):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise AssertionError(f"no connection: {log.read_text()}")
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.append(json.loads(line))

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(30)
        self._reader.join(5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["sigterm", "ctrl-c"]
)
def test_ingest_flushes_what_it_holds_when_stopped(
    store_spec: str, broker: Mosquitto, sig: int, code: int, tmp_path: Path
) -> None:
    ingest = Process(store_spec, broker, tmp_path / "stderr.txt")
    publisher = Publisher(broker.port)
    for i in range(250):
        publisher.publish(
            "plant/S1/temperature", json.dumps({"ts": 1_700_000_000_000 + i, "value": i})
        )
    publisher.close()
    time.sleep(0.5)  # delivered to the ingest, which flushes only every minute
    assert not [e for e in ingest.events if e["event"] == "flush"]
    assert ingest.stop(sig) == code
    stopped = [e for e in ingest.events if e["event"] == "stopped"]
    assert stopped and stopped[0]["stored"] == 250
    with open_store(store_spec) as store:
        _, values = read_good_samples(store.data_dir, "channel:S1/temperature")
        assert values.tolist() == [float(i) for i in range(250)]
        run = store.read(
            "MATCH (r:ImportRun {importer: 'live-mqtt'}) RETURN r.status AS status, r.samples AS n"
        )
        assert run == [{"status": "succeeded", "n": 250}]


def test_calibrate_and_alerts_on_file_telemetry(
    store_spec: str, shared_data: Path, tmp_path: Path
) -> None:
    source = shared_data / "sensor" / "skab" / "valve1" / "1.csv"
    if not source.is_file():
        pytest.skip(f"SKAB is not in {shared_data}")
    lines = source.read_text().splitlines()
    healthy = tmp_path / "skab-healthy.csv"
    healthy.write_text("\n".join(lines[:401]) + "\n")  # the header and 400 rows
    mapping = ROOT / "examples" / "mappings" / "skab-pump.toml"
    with open_store(store_spec) as store:
        options = ImportOptions(mapping=mapping, create_missing=True)
        refresh_after(store, [import_file(store, "telemetry", healthy, options)])
    first, last = lines[1].split(";")[0], lines[400].split(";")[0]
    runner = CliRunner()
    app = cli_app
    result = runner.invoke(
        app,
        ["--store", store_spec, "detect", "calibrate", "twin:SKAB-PUMP/RIG-1",
         "--from", first, "--to", last, "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    calibration = json.loads(result.stdout)
    assert calibration["rows"] == 400 and calibration["detector"] == "mma"
    assert len(calibration["channels"]) == 8
    again = runner.invoke(
        app,
        [
            "--store",
            store_spec,
            "detect",
            "calibrate",
            "unit:SKAB-PUMP/RIG-1",
            "--from",
            first,
            "--to",
            last,
        ],
    )
    assert again.exit_code == 0 and calibration["run"] in again.stdout  # the same calibration
    short = runner.invoke(
        app,
        [
            "--store",
            store_spec,
            "detect",
            "calibrate",
            "twin:SKAB-PUMP/RIG-1",
            "--from",
            first,
            "--to",
            first,
        ],
    )
    assert short.exit_code == 1 and "Error:" in short.stderr
    listed = runner.invoke(app, ["--store", store_spec, "alerts", "--open", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    assert runner.invoke(app, ["--store", store_spec, "alerts"]).stdout.strip() == "no alerts"


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from thread.cli.main import app\n"
        "for args in (['--help'], ['ingest', '--help'], ['ingest', 'mqtt', '--help'], ['detect', 'evaluate', '--help'], ['act', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
    )
    heavy = ("pyarrow", "scipy", "numpy", "paho", "asyncua")
    assert modules_imported_by(code, heavy, cwd=TESTS) == []
