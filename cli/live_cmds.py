"""`thread ingest mqtt|opcua`, `thread detect calibrate|evaluate`, `thread alerts`, `thread act`.

Thin: parse, call the library, render. The library modules (numpy, paho-mqtt, asyncua,
pyarrow behind them) are imported inside the commands, so `thread --help` stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from thread.cli import output
from thread.cli.output import err, literal, out, print_json, rows_table
from thread.cli.state import AppState
from thread.queries.query import parse_params

if TYPE_CHECKING:
    from thread.live.ingest import IngestOptions
    from thread.live.session import LiveEvent, LiveStats

__all__ = ["act_cmd", "alerts_cmd", "detect_app", "ingest_app"]

EXIT_INTERRUPTED = 130
JSON = typer.Option(False, "--json", help="Print JSON (ingest: one JSON event per line).")

ingest_app = typer.Typer(
    help="Stream telemetry into the thread from MQTT or OPC UA until stopped (Ctrl-C, SIGTERM).",
    no_args_is_help=True,
)
detect_app = typer.Typer(
    help="Anomaly detectors: calibrate one on a twin's healthy window, evaluate on labelled files.",
    no_args_is_help=True,
)


class Detector(StrEnum):
    mma = "mma"
    pca = "pca"


class MqttVersion(StrEnum):
    v5 = "5"
    v311 = "3.1.1"


# ---------------------------------------------------------------------- ingest


class _Watcher:
    """Shows a live session: a status line on stderr, or one JSON event per line on stdout."""

    def __init__(self, json_output: bool) -> None:
        self.json_output = json_output
        self.live: Live | None = None
        self.began = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, event: LiveEvent) -> None:
        with self._lock:
            if self.json_output:
                out.file.write(json.dumps(event.to_dict(), default=str) + "\n")
                out.file.flush()
                return
            if event.kind == "flush":
                totals = event.data["totals"]
                rate = totals["stored"] / max(time.monotonic() - self.began, 1e-9)
                line = (
                    f"{totals['stored']:,} stored ({rate:,.0f}/s), {totals['duplicates']:,} duplicates, "
                    f"{totals['unknown'] + totals['rejected']:,} dropped, "
                    f"{totals['malformed_messages']:,} malformed messages, {totals['alerts']} alert updates; "
                    f"last flush {event.data['stored']:,} samples in {event.data['seconds'] * 1000:.0f} ms"
                )
                if self.live is not None:
                    self.live.update(Text(line))
                return
            style = {"error": "red", "malformed": "yellow", "rejected": "yellow"}.get(
                event.kind, "cyan"
            )
            if event.kind in ("unknown_channel", "disconnected"):
                style = "yellow"
            err.print(
                f"[{style}]{literal(event.kind)}:[/] {literal(event.message)}",
                markup=True,
                highlight=False,
            )


@contextmanager
def _until_signalled() -> Iterator[tuple[threading.Event, list[int]]]:
    """A stop event set by Ctrl-C or SIGTERM (the ingest then flushes and returns)."""
    stop = threading.Event()
    received: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop, received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_ingest(
    state: AppState,
    json_output: bool,
    run: Callable[[threading.Event, Callable[[LiveEvent], None]], LiveStats],
) -> None:
    watcher = _Watcher(json_output)
    with _until_signalled() as (stop, received):
        if json_output or state.quiet:
            stats = run(stop, watcher)
        else:
            with Live(Text("waiting for samples…"), console=err, transient=True) as live:
                watcher.live = live
                stats = run(stop, watcher)
            watcher.live = None
    if not json_output:
        table = Table(title="live session", title_justify="left")
        table.add_column("", overflow="fold")
        table.add_column("count", justify="right")
        for name, count in stats.to_dict().items():
            table.add_row(literal(name.replace("_", " ")), f"{count:,}")
        out.print(table)
    if signal.SIGINT in received:
        raise typer.Exit(EXIT_INTERRUPTED)


def _quiet_asyncua() -> None:
    """asyncua logs a warning for every revised session setting; the ingest reports what
    matters (connections, rejected nodes) as its own events."""
    import logging

    logging.getLogger("asyncua").setLevel(logging.ERROR)


def _options(
    create_missing: bool,
    flush_interval: float,
    flush_size: int,
    detector: list[str],
    duration: float | None,
) -> IngestOptions:
    from thread.live.ingest import IngestOptions

    return IngestOptions(
        create_missing=create_missing,
        flush_interval=flush_interval,
        flush_size=flush_size,
        detectors=tuple(detector),
        duration=duration,
    )


MAPPING = typer.Option(
    ..., "--mapping", "-m", help="The TOML mapping of topics or nodes to channels."
)
CREATE = typer.Option(
    False,
    "--create-missing",
    help="Create channels and sensors the graph does not know (else they are reported and dropped).",
)
DETECTORS = typer.Option(
    [],
    "--detector",
    "-d",
    help="A calibration (SimulationRun uid from `thread detect calibrate`) to score the stream with; repeatable.",
)
FLUSH_INTERVAL = typer.Option(
    1.0, "--flush-interval", help="Seconds between flushes to Parquet and the graph."
)
FLUSH_SIZE = typer.Option(
    10_000, "--flush-size", help="Flush sooner when this many samples are buffered."
)
DURATION = typer.Option(
    None, "--duration", help="Stop after this many seconds (default: until Ctrl-C or SIGTERM)."
)


@ingest_app.command("mqtt")
def ingest_mqtt_cmd(
    ctx: typer.Context,
    broker: str = typer.Option(..., "--broker", "-b", help="mqtt://HOST:PORT (mqtts:// for TLS)."),
    mapping: Path = MAPPING,
    tls: bool = typer.Option(False, "--tls", help="Use TLS (the default port becomes 8883)."),
    ca_file: str | None = typer.Option(None, "--ca-file", help="CA certificates for TLS (default: the system's)."),
    username: str | None = typer.Option(None, "--username", envvar="THREAD_MQTT_USER", show_envvar=True, help="MQTT user."),
    password: str | None = typer.Option(None, "--password", envvar="THREAD_MQTT_PASSWORD", show_envvar=True, show_default=False, help="MQTT password (prefer the environment variable)."),
    client_id: str | None = typer.Option(None, "--client-id", help="The persistent session's client id (default: derived from the broker and the mapping)."),
    mqtt_version: MqttVersion = typer.Option(MqttVersion.v5, "--mqtt-version", help="MQTT protocol version."),
    create_missing: bool = CREATE,
    detector: list[str] = DETECTORS,
    flush_interval: float = FLUSH_INTERVAL,
    flush_size: int = FLUSH_SIZE,
    duration: float | None = DURATION,
    json_output: bool = JSON,
) -> None:  # fmt: skip
    """Subscribe to an MQTT broker (QoS 1, persistent session) and store what arrives.

    Run the broker with persistence and frequent saves (Mosquitto: `persistence true`,
    `autosave_interval 1`): a crashed broker loses what it accepted since its last save
    and had not yet sent.
    """
    from thread.live.ingest import ingest_mqtt

    state: AppState = ctx.obj
    options = _options(create_missing, flush_interval, flush_size, detector, duration)
    store = state.store()

    def run(stop: threading.Event, on_event: Callable[[LiveEvent], None]) -> LiveStats:
        return ingest_mqtt(
            store,
            broker,
            mapping,
            stop,
            options=options,
            tls=tls,
            username=username,
            password=password,
            client_id=client_id,
            protocol=mqtt_version.value,
            ca_file=ca_file,
            on_event=on_event,
        )

    _run_ingest(state, json_output, run)


OPCUA_USER = typer.Option(
    None,
    "--opcua-user",
    envvar="THREAD_OPCUA_USER",
    show_envvar=True,
    help="OPC UA user, if the server asks for one.",
)
OPCUA_PASSWORD = typer.Option(
    None,
    "--opcua-password",
    envvar="THREAD_OPCUA_PASSWORD",
    show_envvar=True,
    show_default=False,
    help="OPC UA password (prefer the environment variable).",
)
SECURITY = typer.Option(
    None,
    "--security",
    help="OPC UA security: Policy,Mode,certificate,private_key[,server_certificate] (e.g. Basic256Sha256,SignAndEncrypt,client.der,client.pem).",
)


@ingest_app.command("opcua")
def ingest_opcua_cmd(
    ctx: typer.Context,
    endpoint: str = typer.Option(..., "--endpoint", "-e", help="opc.tcp://HOST:PORT[/PATH]."),
    mapping: Path = MAPPING,
    opcua_user: str | None = OPCUA_USER,
    opcua_password: str | None = OPCUA_PASSWORD,
    security: str | None = SECURITY,
    create_missing: bool = CREATE,
    detector: list[str] = DETECTORS,
    flush_interval: float = FLUSH_INTERVAL,
    flush_size: int = FLUSH_SIZE,
    duration: float | None = DURATION,
    json_output: bool = JSON,
) -> None:  # fmt: skip
    """Subscribe to an OPC UA server's nodes (source timestamps, status codes) and store them."""
    from thread.live.ingest import ingest_opcua
    from thread.live.opcua_client import OpcuaAccess

    _quiet_asyncua()
    state: AppState = ctx.obj
    options = _options(create_missing, flush_interval, flush_size, detector, duration)
    access = OpcuaAccess(endpoint, opcua_user, opcua_password, security)
    store = state.store()

    def run(stop: threading.Event, on_event: Callable[[LiveEvent], None]) -> LiveStats:
        return ingest_opcua(store, access, mapping, stop, options=options, on_event=on_event)

    _run_ingest(state, json_output, run)


# ---------------------------------------------------------------------- detect

SETTINGS = typer.Option(
    [],
    "--set",
    "-s",
    help="A detector setting NAME=VALUE (e.g. threshold=8, window=20); repeatable.",
)
DETECTOR = typer.Option(
    Detector.mma,
    "--detector",
    help="mma: moving-average chart with drift-aware scaling; pca: Hotelling T² and Q.",
)


@detect_app.command("calibrate")
def calibrate_cmd(
    ctx: typer.Context,
    twin: str = typer.Argument(..., help="The instance twin (twin:…) or its unit (unit:…)."),
    start: str = typer.Option(..., "--from", help="Start of the healthy window (ISO 8601, UTC when naive)."),
    end: str = typer.Option(..., "--to", help="End of the healthy window."),
    detector: Detector = DETECTOR,
    channel: list[str] = typer.Option([], "--channel", "-c", help="Only these channels (name or uid); repeatable. Default: every non-control channel."),
    period: float = typer.Option(1.0, "--period", help="Seconds per row: samples are averaged per period and aligned across channels."),
    setting: list[str] = SETTINGS,
    json_output: bool = JSON,
) -> None:  # fmt: skip
    """Fit a detector on a twin's healthy window and record it as a SimulationRun."""
    from thread.live.detection import calibrate

    state: AppState = ctx.obj
    settings = parse_params(setting)  # a usage error before the store is opened
    calibration = calibrate(
        state.store(),
        twin,
        start,
        end,
        kind=detector.value,
        settings=settings,
        channels=channel,
        period_s=period,
    )
    data = calibration.to_dict()
    if json_output:
        print_json(data)
        return
    what = f"{data['run']} ({data['detector']}) for {data['twin']}"
    out.print(f"[bold]calibrated[/] {literal(what)}")
    out.print(
        f"  {data['rows']} rows from {data['window_start']} to {data['window_end']}, "
        f"period {data['period_s']:g} s, settings {data['settings']}",
        markup=False,
    )
    out.print(f"  channels: {', '.join(data['channels'])}", markup=False)
    if data["ignored"]:
        out.print(
            f"  [yellow]ignored (constant or silent):[/] {literal(', '.join(data['ignored']))}"
        )


@detect_app.command("evaluate")
def evaluate_cmd(
    files: list[Path] = typer.Argument(..., help="Labelled files (SKAB: ';'-separated, datetime, channels, anomaly)."),
    train_rows: int = typer.Option(400, "--train-rows", help="Rows per file to calibrate on (labels unused)."),
    detector: Detector = DETECTOR,
    setting: list[str] = SETTINGS,
    label: str = typer.Option("anomaly", "--label", help="The 0/1 label column."),
    time_column: str = typer.Option("datetime", "--time-column", help="The time column."),
    exclude: list[str] = typer.Option(["changepoint"], "--exclude", help="Columns that are neither channels nor the label."),
    json_output: bool = JSON,
) -> None:  # fmt: skip
    """Score labelled files by the SKAB protocol: F1, false-alarm rate (FAR), missed-alarm rate (MAR)."""
    from thread.sim.anomaly.evaluate import evaluate

    result = evaluate(
        files,
        kind=detector.value,
        train_rows=train_rows,
        settings=parse_params(setting),
        time_column=time_column,
        label=label,
        exclude=exclude,
    )
    data = result.to_dict()
    if json_output:
        print_json(data)
        return
    base = os.path.commonpath([os.path.dirname(os.path.abspath(f["path"])) for f in data["files"]])
    rows = [
        {
            "file": os.path.relpath(os.path.abspath(f["path"]), base),
            "test rows": f["test_rows"],
            "TP": f["tp"],
            "FP": f["fp"],
            "FN": f["fn"],
            "TN": f["tn"],
            "F1": f"{f['f1']:.3f}",
            "episodes": f["episodes"],
        }
        for f in data["files"]
    ]
    settings = f" {data['settings']}" if data["settings"] else ""
    out.print(rows_table(rows, title=f"{data['detector']}{settings} on {base}"))
    out.print(
        f"[bold]F1 {data['f1']:.3f}[/]  FAR {data['far']:.1%}  MAR {data['mar']:.1%}  "
        f"(TP {data['tp']}, FP {data['fp']}, FN {data['fn']}, TN {data['tn']}; "
        f"calibrated on the first {train_rows} rows of each file)"
    )


# ---------------------------------------------------------------------- alerts, act


ALERT_COLUMNS = ("uid", "status", "severity", "unit", "start", "end", "peak_score", "threshold",
                 "contributors", "detected_by")  # fmt: skip


def alerts_cmd(
    ctx: typer.Context,
    open_only: bool = typer.Option(False, "--open", help="Only alerts that have not cleared."),
    twin: str | None = typer.Option(None, "--twin", help="Only the alerts of this twin (or unit)."),
    json_output: bool = JSON,
    csv_output: bool = output.CSV,
) -> None:  # fmt: skip
    """Alerts raised by detectors on units, newest first."""
    from thread.live.alerts import list_alerts

    output.check_formats(json_output, csv_output)
    state: AppState = ctx.obj
    rows = list_alerts(state.store(), open_only=open_only, twin=twin)
    if json_output:
        print_json(rows)
        return
    if csv_output:
        output.print_csv(
            [{**r, "contributors": ", ".join(r["contributors"] or [])} for r in rows], ALERT_COLUMNS
        )
        return
    if not rows:
        out.print("no alerts")
        return
    shown: list[dict[str, Any]] = [
        {
            "alert": r["uid"],
            "status": r["status"],
            "severity": r["severity"],
            "unit": r["unit"],
            "start": r["start"],
            "end": r["end"] or "",
            "peak / threshold": f"{r['peak_score']:.3g} / {r['threshold']:.3g}",
            "contributors": ", ".join(r["contributors"] or []),
        }
        for r in rows
    ]
    out.print(rows_table(shown))


def act_cmd(
    ctx: typer.Context,
    twin: str = typer.Argument(..., help="The instance twin (twin:…) or its unit."),
    setpoint: str = typer.Argument(..., help="The control channel to set (its name or uid)."),
    value: float = typer.Argument(..., help="The value to write."),
    reason: str = typer.Option("", "--reason", help="Why: recorded on the Command."),
    confirm: bool = typer.Option(False, "--confirm", help="Write to the asset (default: a dry run that writes nothing)."),
    answers: str | None = typer.Option(None, "--answers", help="The Alert or SimulationRun (recommendation) this command responds to."),
    by: str | None = typer.Option(None, "--by", help="Who issues it (default: the login name)."),
    endpoint: str | None = typer.Option(None, "--endpoint", help="The OPC UA endpoint (default: the one recorded on the channel)."),
    opcua_user: str | None = OPCUA_USER,
    opcua_password: str | None = OPCUA_PASSWORD,
    security: str | None = SECURITY,
    json_output: bool = JSON,
) -> None:  # fmt: skip
    """Write a set point to a twin's asset, within its bounds and when no critical alert forbids it."""
    from thread.live.opcua_client import OpcuaAccess
    from thread.live.setpoints import act

    _quiet_asyncua()
    state: AppState = ctx.obj
    access = None
    if endpoint or opcua_user or security:
        access = OpcuaAccess(endpoint or "", opcua_user, opcua_password, security)
    result = act(
        state.store(),
        twin,
        setpoint,
        value,
        reason=reason,
        confirm=confirm,
        answers=answers,
        issued_by=by,
        access=access,
    )
    if json_output:
        print_json(result.to_dict())
        return
    low, high = result.bounds
    target = f"{result.setpoint} = {result.value:g} on {result.node} at {result.endpoint}"
    if result.status == "dry-run":
        out.print(
            f"[bold]dry run:[/] would set {literal(target)} (bounds {low:g} .. {high:g}); pass --confirm to write"
        )
        return
    out.print(f"[bold]{literal(result.command)}[/] {literal(f'{result.status}: set {target}')}")
    out.print(f"  before {result.before}, read back {result.read_back}", markup=False)
