"""Real components for the live tests: a Mosquitto broker and an asyncua pump server, each
on a free localhost port.

Helpers only (no tests here): conftest.py's `broker` and the test modules wrap them in
fixtures.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from support.net import free_port, wait_for_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def require_mosquitto() -> None:
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.skip(
            f"MQTT tests skipped: no Mosquitto broker at {MOSQUITTO} (install the Debian package "
            "'mosquitto'; .ci/run does)"
        )


class Mosquitto:
    """A broker with persistence in `folder`, restartable on the same port.

    It saves its state every `autosave_interval` seconds (and when stopped cleanly), so a
    SIGKILL loses what it received since its last save."""

    def __init__(self, folder: Path, autosave_interval: int = 1) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            f"autosave_interval {autosave_interval}\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            f"log_dest file {folder}/mosquitto.log\n"
            # as root Mosquitto would drop to a user that cannot write this folder
            f"user {getpass.getuser()}\n"
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def wait_saved(self, since: float, timeout: float = 30.0) -> None:
        """Until the broker has saved its state (autosave) after the wall-clock time
        `since`: what it had confirmed by then survives a SIGKILL. Mosquitto saves between
        messages, never during one, so a save that ends after `since` holds them all."""
        database = self.folder / "mosquitto.db"
        deadline = time.monotonic() + timeout
        while not (database.exists() and database.stat().st_mtime > since):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the broker saved nothing to {database} in {timeout} s")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)
        self.process = None


@contextmanager
def mosquitto(folder: Path, autosave_interval: int = 1) -> Iterator[Mosquitto]:
    require_mosquitto()
    broker = Mosquitto(folder, autosave_interval)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


class Publisher:
    """A QoS 1 publisher that keeps what it could not send while the broker was away (paho
    resends it on reconnect) and can wait until the broker has confirmed every message."""

    def __init__(self, port: int, client_id: str = "test-publisher") -> None:
        import paho.mqtt.client as mqtt

        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(0.2, 1)
        self.sent = 0
        self.confirmed = 0
        self._lock = threading.Lock()
        self.client.on_publish = self._confirm
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _confirm(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            self.confirmed += 1

    def publish(self, topic: str, payload: str | bytes, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos)
        if qos:
            self.sent += 1

    def flush(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.confirmed < self.sent:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the broker confirmed {self.confirmed} of {self.sent} messages")
            time.sleep(0.01)

    def close(self) -> None:
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()


class PumpServer:
    """An asyncua server with one pump: Temperature, Vibration and a writable SpeedSetpoint."""

    NAMESPACE = "urn:thread:test-pump"

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"opc.tcp://127.0.0.1:{self.port}/pump"
        self.nodes: dict[str, Any] = {}
        self.namespace = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.namespace = await server.register_namespace(self.NAMESPACE)
        pump = await server.nodes.objects.add_object(self.namespace, "Pump1")
        for name, value in (("Temperature", 20.0), ("Vibration", 0.1), ("SpeedSetpoint", 1450.0)):
            node = await pump.add_variable(
                ua.NodeId(f"Pump1.{name}", self.namespace),
                name,
                ua.Variant(value, ua.VariantType.Double),
            )
            self.nodes[name] = node
        await self.nodes["SpeedSetpoint"].set_writable()
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with server:
            self._ready.set()
            await self._stop.wait()

    def node_id(self, name: str) -> str:
        return f"ns={self.namespace};s=Pump1.{name}"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(20):
            raise TimeoutError("the OPC UA server did not start")
        wait_for_port(self.port)

    def _call(self, coroutine: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def set(self, name: str, value: float | None, at: datetime, status: int = 0) -> None:
        """Write a value as the device would: with its source timestamp and status code."""
        from asyncua import ua

        variant = ua.Variant(value, ua.VariantType.Double) if value is not None else ua.Variant()
        data = ua.DataValue(variant, ua.StatusCode(status), SourceTimestamp=at.astimezone(UTC))
        self._call(self.nodes[name].write_value(data))

    def read(self, name: str) -> Any:
        return self._call(self.nodes[name].read_value())

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)


@contextmanager
def pump_server() -> Iterator[PumpServer]:
    server = PumpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
