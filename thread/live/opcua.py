"""OPC UA ingest (asyncua): a subscription to the mapping's nodes, on its own thread.

Each data change becomes a sample with the server's source timestamp (the server
timestamp when the source gives none) and its status code: samples whose status is not
Good are kept and flagged, and left out of the channel summaries. Monitored items queue
changes between publishing intervals, so a value that changes faster than the interval
is not thinned out. asyncua re-creates the subscription after a lost connection; the
values it re-sends carry their original source timestamps and are dropped as duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from datetime import UTC, datetime
from typing import Any

from thread.errors import ThreadError
from thread.live.mapping import NodeBinding, OpcuaMapping
from thread.live.opcua_client import OpcuaAccess, display_endpoint, new_client, resolve_node
from thread.live.session import LiveEvent, SampleSink

__all__ = ["OpcuaIngest"]

_QUEUE_SIZE = 1000
_BAD = 0x80000000


def _micros(stamp: datetime | None) -> int:
    if stamp is None:
        return time.time_ns() // 1000
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1_000_000)


class _Handler:
    def __init__(self, ingest: OpcuaIngest, bindings: dict[Any, NodeBinding]) -> None:
        self.ingest = ingest
        self.bindings = bindings

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        binding = self.bindings.get(node.nodeid)
        if binding is None:
            return
        value = data.monitored_item.Value
        status = value.StatusCode.value if value.StatusCode is not None else 0
        t = _micros(value.SourceTimestamp or value.ServerTimestamp)
        if isinstance(val, bool | int | float) and math.isfinite(float(val)):
            number = float(val)
        elif val is None:
            number, status = math.nan, status or _BAD
        else:
            self.ingest.sink.report(
                LiveEvent(
                    "rejected",
                    f"{binding.node}: {type(val).__name__} value {val!r} is not a number",
                    {"node": binding.node},
                )
            )
            return
        self.ingest.sink.add([(binding.sensor, binding.channel, "", t, number, status)])


class OpcuaIngest:
    """Subscribes to a mapping's nodes and feeds a `SampleSink` from a background thread."""

    def __init__(self, access: OpcuaAccess, mapping: OpcuaMapping, sink: SampleSink) -> None:
        self.access = access
        self.display = display_endpoint(access.endpoint)
        self.mapping = mapping
        self.sink = sink
        self.connected = threading.Event()
        self.error: str | None = None  # why the ingest gave up (a bad node id), if it did
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            asyncio.run(self._main(ready))

        self._thread = threading.Thread(target=run, name="opcua-ingest", daemon=True)
        self._thread.start()
        ready.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Delete the subscription, disconnect and end the thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    async def _main(self, ready: threading.Event) -> None:
        from asyncua.ua.uaerrors import UaError  # asyncua.ua does not re-export it

        self._loop = asyncio.get_running_loop()
        stop = self._stop = asyncio.Event()
        ready.set()
        delay = 1.0
        while not stop.is_set():
            try:
                client = await new_client(self.access, auto_reconnect=True)
            except ThreadError as exc:
                self._give_up(str(exc))
                return
            try:
                await client.connect()
            except (OSError, TimeoutError, UaError) as exc:
                self.sink.report(
                    LiveEvent(
                        "disconnected",
                        f"cannot reach {self.display} ({exc or type(exc).__name__}); retrying in {delay:g} s",
                    )
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 1.0
            try:
                await self._subscribe(client)
                await stop.wait()
            except (ThreadError, UaError) as exc:
                self._give_up(str(exc))
                return
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):  # the server may be gone already
                    await client.disconnect()

    def _give_up(self, reason: str) -> None:
        self.error = f"{self.display}: {reason}"
        self.sink.report(LiveEvent("error", self.error))

    async def _subscribe(self, client: Any) -> None:
        bindings: dict[Any, NodeBinding] = {}
        nodes = []
        for binding in self.mapping.nodes:
            node = await resolve_node(client, binding.node)
            bindings[node.nodeid] = binding
            nodes.append(node)
        subscription = await client.create_subscription(
            self.mapping.publishing_interval_ms, _Handler(self, bindings)
        )
        await subscription.subscribe_data_change(nodes, queuesize=_QUEUE_SIZE)
        self.connected.set()
        self.sink.report(
            LiveEvent(
                "connected",
                f"subscribed to {len(nodes)} node(s) on {self.display}",
                {"endpoint": self.display, "nodes": len(nodes)},
            )
        )
