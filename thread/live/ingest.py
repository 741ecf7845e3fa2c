"""Running a live ingest: a session, a stream adapter and detectors, until told to stop.

`ingest_mqtt` and `ingest_opcua` block until `stop` is set (the CLI sets it on Ctrl-C and
SIGTERM) or `duration` passes, flushing every `flush_interval` seconds or sooner when
enough samples or unacknowledged messages are waiting. Stopping flushes what is buffered,
acknowledges it, disconnects, and records the session's end on its ImportRun: for OPC UA,
`failed`, and a LiveError, when no sample was stored (nothing arrived, or nothing matched
the mapping).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from thread.live.detection import LiveDetector, load_calibration
from thread.live.mapping import load_mqtt_mapping, load_opcua_mapping
from thread.live.mqtt import Broker, MqttIngest, default_client_id
from thread.live.opcua import OpcuaIngest
from thread.live.opcua_client import OpcuaAccess, display_endpoint
from thread.live.payloads import TopicRouter
from thread.live.session import ChannelSpec, LiveError, LiveEvent, LiveSession, LiveStats
from thread.records import PropValue
from thread.stores.base import GraphStore

__all__ = ["IngestOptions", "StopSignal", "ingest_mqtt", "ingest_opcua"]


class StopSignal(Protocol):
    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass(frozen=True)
class IngestOptions:
    """How a live ingest runs (the same for the CLI and scripts).

    Attributes:
        create_missing: create channels (and sensors) the graph does not know yet.
        flush_interval: seconds between flushes.
        flush_size: flush sooner when this many samples are buffered.
        max_unacked: flush sooner when this many messages wait for their acknowledgement.
        horizon_s: how far back duplicates are found in memory (older ones on disk).
        detectors: calibration runs (SimulationRun uids) that score the stream.
        duration: stop after this many seconds (None: until stopped).
    """

    create_missing: bool = False
    flush_interval: float = 1.0
    flush_size: int = 10_000
    max_unacked: int = 10_000
    horizon_s: float = 3600.0
    detectors: tuple[str, ...] = ()
    duration: float | None = None


class _Adapter(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


def _session(
    store: GraphStore,
    importer: str,
    source: str,
    source_id: str,
    options: IngestOptions,
    specs: Callable[[str, str], ChannelSpec | None],
    on_event: Callable[[LiveEvent], None] | None,
) -> LiveSession:
    if options.flush_interval <= 0:
        raise LiveError("the flush interval must be positive")
    return LiveSession(
        store,
        importer=importer,
        source=source,
        source_id=source_id,
        specs=specs,
        create_missing=options.create_missing,
        flush_size=options.flush_size,
        max_unacked=options.max_unacked,
        horizon_s=options.horizon_s,
        on_event=on_event,
        options={
            "create_missing": options.create_missing,
            "flush_interval": options.flush_interval,
            "flush_size": options.flush_size,
            "detectors": list(options.detectors),
        },
    )


def _run(
    session: LiveSession,
    adapter: _Adapter,
    options: IngestOptions,
    stop: StopSignal,
    acknowledge: Callable[[list[Any]], int] | None,
    failed: Callable[[], str | None],
    declared: list[ChannelSpec] | None = None,
    must_store: bool = False,
) -> LiveStats:
    """Run the session until stopped; with `must_store`, a session that stored no sample
    fails (an MQTT session may legitimately store none: it subscribes a persistent
    session, so the broker keeps what is published until the next run)."""
    store = session.store
    calibrations = [load_calibration(store, uid) for uid in options.detectors]
    session.start()
    status: Literal["succeeded", "failed"] = "failed"
    error = nothing = None
    try:
        session.declare(declared or [])
        for calibration in calibrations:
            detector = LiveDetector(store, calibration)
            warmed = detector.warm()
            session.detectors.append(detector)
            session.report(
                LiveEvent(
                    "started",
                    f"detector {calibration.run_uid} on {calibration.twin_uid} (warmed with {warmed} stored rows)",
                )
            )
        adapter.start()
        began = time.monotonic()
        next_flush = began + options.flush_interval
        while not stop.is_set():
            if options.duration is not None and time.monotonic() - began >= options.duration:
                break
            problem = failed()
            if problem:
                raise LiveError(problem)
            wait = max(0.0, min(next_flush - time.monotonic(), 0.25))
            if session.flush_due.wait(wait) or time.monotonic() >= next_flush:
                result = session.flush()
                if acknowledge:
                    acknowledge(result.tokens)
                next_flush = time.monotonic() + options.flush_interval
        result = session.flush()  # what is buffered, acknowledged while still connected
        if acknowledge:
            acknowledge(result.tokens)
        adapter.stop()
        session.finish()  # QoS 0 and OPC UA samples that came meanwhile, last detector rows
        nothing = _nothing_stored(session) if must_store else None
        if nothing is None:
            status = "succeeded"
        else:
            error = f"LiveError: {nothing}"
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        adapter.stop()
        raise
    finally:
        session.close(status, error)
    if nothing is not None:
        raise LiveError(nothing)
    return session.stats


def _nothing_stored(session: LiveSession) -> str | None:
    """Why a session that stored no sample failed, or None when it stored some.

    A session that received only samples already stored (a resumed MQTT session
    redelivering them) stored its data: like a re-import of unchanged data, it succeeded."""
    stats = session.stats
    if stats.stored or stats.duplicates:
        return None
    dropped = {
        "for channels the graph does not know (--create-missing creates them)": stats.unknown,
        "rejected": stats.rejected,
        "malformed messages": stats.malformed_messages,
    }
    said = ", ".join(f"{count:,} {what}" for what, count in dropped.items() if count)
    return (
        f"{session.source}: no sample was stored ({stats.received:,} received"
        f"{', ' + said if said else ''}); check that the mapping's node ids name nodes "
        "the server updates, and that they change within the session (--duration)"
    )


def ingest_mqtt(
    store: GraphStore,
    broker_url: str,
    mapping_path: Path,
    stop: StopSignal,
    *,
    options: IngestOptions | None = None,
    tls: bool = False,
    username: str | None = None,
    password: str | None = None,
    client_id: str | None = None,
    protocol: str = "5",
    ca_file: str | None = None,
    on_event: Callable[[LiveEvent], None] | None = None,
) -> LiveStats:
    """Ingest an MQTT broker's topics as the mapping says, until `stop` is set.

    The session's identity (its Parquet files, its lock) is the broker and the client id;
    the default client id derives from the broker and the mapping file's path, so
    restarting the same command resumes the same persistent session.

    Raises:
        SourceError: the mapping or the broker address is invalid.
        LiveError: another ingest of this source runs, or a bad option.
        DetectionError: a detector is not a calibration.
    """
    options = options or IngestOptions()
    mapping = load_mqtt_mapping(mapping_path)
    broker = Broker.parse(broker_url, tls)
    if protocol not in ("5", "3.1.1"):
        raise LiveError(f"MQTT protocol {protocol!r}: use 5 or 3.1.1")
    client = client_id or default_client_id(broker, str(mapping_path.resolve()))
    router = TopicRouter(mapping.topics)
    source_id = f"{broker.url}/{client}"
    session = _session(store, "live-mqtt", broker.url, source_id, options, router.spec, on_event)
    ingest = MqttIngest(
        broker,
        router,
        session,
        client_id=client,
        username=username,
        password=password,
        protocol="5" if protocol == "5" else "3.1.1",
        ca_file=ca_file,
    )
    return _run(session, ingest, options, stop, ingest.acknowledge, lambda: None)


def ingest_opcua(
    store: GraphStore,
    access: OpcuaAccess,
    mapping_path: Path,
    stop: StopSignal,
    *,
    options: IngestOptions | None = None,
    on_event: Callable[[LiveEvent], None] | None = None,
) -> LiveStats:
    """Ingest an OPC UA server's nodes as the mapping says, until `stop` is set.

    `access` is the endpoint with its user and security string, if the server asks.

    The mapping's channels are declared on the graph first: each gets its OPC UA node id
    and endpoint, and control channels their set-point bounds (what `thread act` reads).

    Raises:
        SourceError: the mapping is invalid.
        OpcuaError: the endpoint is not an opc.tcp URL.
        LiveError: another ingest of this source runs, a bad option, the server
            rejected the mapping's node ids, or the session ended without storing a
            sample (its ImportRun is then `failed`).
    """
    options = options or IngestOptions()
    mapping = load_opcua_mapping(mapping_path)
    shown = display_endpoint(access.endpoint)
    specs: dict[tuple[str, str], ChannelSpec] = {}
    for binding in mapping.nodes:
        observes = mapping.sensors.get(binding.sensor)
        props: dict[str, PropValue] = {"opcua_node": binding.node, "opcua_endpoint": shown}
        if binding.control:
            props.update(
                {"control": True, "setpoint_min": binding.min, "setpoint_max": binding.max}
            )
        specs[(binding.sensor, binding.channel)] = ChannelSpec(
            binding.sensor,
            binding.channel,
            binding.unit,
            binding.quantity,
            (observes.part_number, observes.serial) if observes else None,
            props,
        )
    session = _session(
        store,
        "live-opcua",
        shown,
        f"{shown}#opcua",
        options,
        lambda sensor_id, channel: specs.get((sensor_id, channel)),
        on_event,
    )
    ingest = OpcuaIngest(access, mapping, session)
    return _run(
        session, ingest, options, stop, None, lambda: ingest.error, list(specs.values()), True
    )
