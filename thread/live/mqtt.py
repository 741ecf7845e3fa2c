"""MQTT ingest (paho-mqtt): a persistent session whose QoS 1 messages are acknowledged
only once their samples are stored.

The client connects with a stable client id and a persistent session (MQTT 5: clean
start off and a session expiry; MQTT 3.1.1: clean session off), so the broker queues
what is published while Thread is away and delivers it on reconnect. Acknowledgements
are manual: a message's PUBACK is sent after the flush that stored its samples, so a
crash of Thread before that flush makes the broker deliver it again, and the duplicate
samples it brings are dropped by time. paho reconnects by itself with exponential backoff.

A broker crash: what Thread received is stored even if the connection broke before the
flush (its acknowledgement is not sent: a packet id belongs to the connection that
brought it). A broker restarts from its last saved state, so it may deliver again what
was stored (dropped as duplicates), or have lost what it had sent but not saved (stored
from what Thread received). What it had accepted from a publisher but neither sent nor
saved is lost in the broker, out of any subscriber's reach: run it with persistence and
frequent saves (Mosquitto: `persistence true`, `autosave_interval 1`; its default is 30
minutes). Exactly once holds per (channel, time) of the source: samples stamped with
their arrival time (no time field in the payload) come twice if the broker sends their
message twice.

Flow control: with MQTT 5 the client announces a receive maximum of 65535 unacknowledged
messages. MQTT 3.1.1 has no such field, and Mosquitto then sends a client at most
`max_inflight_messages` (default 20) unacknowledged messages, so for 3.1.1 raise that
setting on the broker (0 for no limit) or every flush interval carries only 20 messages.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from thread.errors import SourceError
from thread.live.payloads import PayloadError, TopicRouter
from thread.live.session import LiveEvent, SampleSink

__all__ = ["Broker", "MqttIngest", "default_client_id"]

Protocol = Literal["5", "3.1.1"]
_RECEIVE_MAXIMUM = 65535


@dataclass(frozen=True)
class Broker:
    """Where the broker is: `mqtt://HOST:PORT` (or `mqtts://` for TLS)."""

    host: str
    port: int
    tls: bool = False

    @classmethod
    def parse(cls, url: str, tls: bool = False) -> Broker:
        """Raises SourceError for anything but mqtt[s]://HOST[:PORT] (credentials go in
        options, never in the URL, so the URL can be shown and recorded)."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise SourceError(f"broker {url!r}: use mqtt://HOST:PORT or mqtts://HOST:PORT")
        if parts.username or parts.password:
            raise SourceError(
                "put the MQTT user in --username and the password in the environment, not in the URL"
            )
        secure = tls or parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if secure else 1883)
        except ValueError:
            raise SourceError(f"broker {url!r}: the port is not a number") from None
        if not parts.hostname:
            raise SourceError(f"broker {url!r}: no host")
        return cls(parts.hostname, port, secure)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def default_client_id(broker: Broker, mapping_identity: str) -> str:
    """A client id that stays the same across restarts (the persistent session's name)."""
    digest = hashlib.blake2b(f"{broker.url}|{mapping_identity}".encode(), digest_size=6)
    return f"thread-{digest.hexdigest()}"


class MqttIngest:
    """Subscribes to a mapping's topics and feeds a `SampleSink` (see the module docstring)."""

    def __init__(
        self,
        broker: Broker,
        router: TopicRouter,
        sink: SampleSink,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        protocol: Protocol = "5",
        session_expiry_s: int = 7 * 24 * 3600,
        keepalive_s: int = 30,
        ca_file: str | None = None,
    ) -> None:
        self.broker = broker
        self.router = router
        self.sink = sink
        self.client_id = client_id
        self.protocol = protocol
        self.session_expiry_s = session_expiry_s
        self.keepalive_s = keepalive_s
        self.connected = threading.Event()
        self._username = username
        self._password = password
        self._ca_file = ca_file
        self._connection = 0  # counts connections: packet ids are only valid on theirs
        self._client: Any = None

    def start(self) -> None:
        """Connect in the background; paho retries until the broker answers."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        v5 = self.protocol == "5"
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if self._username:
            client.username_pw_set(self._username, self._password)
        if self.broker.tls:
            client.tls_set(ca_certs=self._ca_file)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self.session_expiry_s
            properties.ReceiveMaximum = _RECEIVE_MAXIMUM
        self._client = client
        client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=self.keepalive_s,
            clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        client.loop_start()

    def acknowledge(self, tokens: list[Any]) -> int:
        """Acknowledge stored messages, in the order they arrived. Messages of an earlier
        connection are skipped: their packet ids may name other messages now, and a broker
        that still has them sends them again (their samples then count as duplicates).
        Returns how many acknowledgements were sent."""
        sent = 0
        if self._client is None or not self.connected.is_set():
            return sent
        for connection, mid in tokens:
            if connection == self._connection:
                self._client.ack(mid, 1)
                sent += 1
        return sent

    def stop(self, timeout_s: float = 5.0) -> None:
        """Disconnect cleanly (after the last acknowledgements) and stop the network thread."""
        client, self._client = self._client, None
        if client is None:
            return
        client.disconnect()
        deadline = time.monotonic() + timeout_s
        while self.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        client.loop_stop()

    # ------------------------------------------------------------------ paho callbacks

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self.sink.report(
                LiveEvent("disconnected", f"{self.broker.url} refused the connection: {reason}")
            )
            return
        from paho.mqtt.subscribeoptions import SubscribeOptions

        self._connection += 1
        for rule in self.router.rules:
            if self.protocol == "5":
                # retained messages only for a new subscription, not on every reconnect
                options = SubscribeOptions(qos=rule.qos, retainHandling=1)
                client.subscribe(rule.filter, options=options)
            else:
                client.subscribe(rule.filter, qos=rule.qos)
        self.connected.set()
        resumed = "resumed" if flags.session_present else "new"
        self.sink.report(
            LiveEvent(
                "connected",
                f"connected to {self.broker.url} as {self.client_id} ({resumed} session)",
                {"broker": self.broker.url, "client_id": self.client_id, "session": resumed},
            )
        )

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self.sink.report(
            LiveEvent("disconnected", f"cannot reach {self.broker.url}; retrying with backoff")
        )

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.connected.clear()  # what is buffered stays, and is stored at the next flush
        if self._client is not None:  # not a stop we asked for
            self.sink.report(
                LiveEvent(
                    "disconnected",
                    f"lost {self.broker.url} ({reason}); reconnecting with backoff",
                    {"broker": self.broker.url},
                )
            )

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        arrival_us = time.time_ns() // 1000
        topic = message.topic
        try:
            samples = self.router.decode(topic, message.payload, arrival_us)
        except PayloadError as exc:
            samples = []
            self.sink.report(
                LiveEvent(
                    "malformed",
                    f"{topic}: {exc}; message skipped",
                    {"topic": topic, "reason": str(exc)},
                )
            )
        self.sink.add(samples, (self._connection, message.mid) if message.qos else None)
