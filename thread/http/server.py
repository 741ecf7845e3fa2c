"""The service's connections: uvicorn over httptools, with the limits uvicorn leaves out.

uvicorn arms a timer only between two requests (`timeout_keep_alive`, and any byte
cancels it), so a client that opens a connection and sends its request head a byte at a
time holds it for ever (slowloris); and neither uvicorn nor httptools bounds a head's
size or its number of headers, both kept in memory. The protocol here adds the three
limits nginx, Node and Go servers have: a head must arrive within `header_timeout_s`
(408), be at most MAX_HEAD_BYTES and hold at most MAX_HEADERS headers (431). A refusal
answers in Thread's error shape and closes the connection.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = [
    "HEADER_TIMEOUT_S",
    "MAX_HEADERS",
    "MAX_HEAD_BYTES",
    "GuardedHttpToolsProtocol",
    "server_config",
]

HEADER_TIMEOUT_S = 10.0
"""How long a client has to send a whole request head (Go servers commonly use 10 s)."""
MAX_HEAD_BYTES = 16 * 1024
"""The request line and headers together (Node and h11 allow 16 KiB; Thread's clients
send a token and a few headers)."""
MAX_HEADERS = 100
"""Headers in one request (Apache's LimitRequestFields, hyper's default)."""
LINGER_S = 2.0
"""After an answer given while the client is still sending (a 401 or 413 before the end
of the body, a refused head), how long what it sends is read and dropped before the
connection closes: closing at once would reset the connection, and with it the answer
the client has not read yet (nginx's lingering close)."""


class _HeadRefused(Exception):
    """Raised in a parser callback to stop httptools: uvicorn then answers through
    send_400_response, which sends the refusal recorded before the raise."""


def _refusal(
    status: int, code: str, message: str, default_headers: list[tuple[bytes, bytes]]
) -> bytes:
    body = json.dumps({"code": code, "message": message, "details": {}}).encode()
    head = [STATUS_LINE[status]]
    head += [name + b": " + value + b"\r\n" for name, value in default_headers]
    head += [
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode() + b"\r\n",
        b"connection: close\r\n\r\n",
    ]
    return b"".join(head) + body


class _Transport:
    """The connection's transport as uvicorn sees it, whose close() lingers when the
    client may still be sending."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        self._protocol.close(linger=self._protocol.body_open)

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header-read timeout and head size limits.

    The timer runs while the connection waits for a request head: from the connection's
    start, and again from the end of each response, until the head is complete. Bytes of
    an incomplete head are counted as they arrive, so a head that never ends cannot grow
    in memory; a head that arrives whole in one read is measured by its parsed parts.
    A connection closed while the client is still sending lingers (LINGER_S).
    """

    header_timeout_s: ClassVar[float] = HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._pending: int | None = 0  # bytes of an incomplete head; None once complete
        self._head_size = 0
        self._head_count = 0
        self._refused: tuple[int, str, str] | None = None
        self._raw: asyncio.Transport | None = None
        self.body_open = False  # the request's body has not all arrived
        self.lingering = False

    # ------------------------------------------------------------ connection

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        self._raw = transport
        super().connection_made(cast(asyncio.Transport, _Transport(transport, self)))
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def close(self, *, linger: bool) -> None:
        """Close the connection; with `linger`, first send what is written and an end of
        stream, then drop what still comes for at most LINGER_S."""
        assert self._raw is not None
        if self.lingering:
            return
        if not linger or not self._raw.can_write_eof():
            self._raw.close()
            return
        self.lingering = True
        self._stop_head_timer()
        self.flow.resume_reading()
        self._raw.write_eof()
        self.loop.call_later(LINGER_S, self._raw.close)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return
        waiting = self._pending is not None
        super().data_received(data)
        if waiting and self._pending is not None and not self.transport.is_closing():
            self._pending += len(data)
            if self._pending > MAX_HEAD_BYTES:
                self._refuse(
                    431, "headers_too_large", f"the request head is over {MAX_HEAD_BYTES} bytes"
                )

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # the next request's head is already here
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._await_head()

    # ------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0
        self._head_count = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url), 0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, 1)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._pending = None
        self._stop_head_timer()
        self.body_open = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.body_open = False
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request httptools cannot parse, in Thread's shape (and a
        431 when a callback here stopped the parser)."""
        status, code, message = self._refused or (400, "bad_request", msg)
        self._refuse(status, code, message)

    # ------------------------------------------------------------ limits

    def _count(self, size: int, headers: int) -> None:
        self._head_size += size
        self._head_count += headers
        if self._head_count > MAX_HEADERS:
            self._refused = (
                431,
                "headers_too_large",
                f"the request has over {MAX_HEADERS} headers",
            )
        elif self._head_size > MAX_HEAD_BYTES:
            self._refused = (
                431,
                "headers_too_large",
                f"the request head is over {MAX_HEAD_BYTES} bytes",
            )
        if self._refused is not None:
            raise _HeadRefused

    def _await_head(self) -> None:
        self._pending = 0
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self._refuse(
                408,
                "request_timeout",
                f"the request head did not arrive within {self.header_timeout_s:g} s",
            )

    def _refuse(self, status: int, code: str, message: str) -> None:
        self.logger.warning("refused a request: %s", message)
        self.transport.write(_refusal(status, code, message, self.server_state.default_headers))
        self.transport.close()


def server_config(
    app: Any,
    *,
    host: str,
    port: int,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    header_timeout_s: float = HEADER_TIMEOUT_S,
) -> uvicorn.Config:
    """uvicorn's configuration for `thread serve`: the guarded protocol, no access log
    (the app logs each request as JSON), 30 s for in-flight requests on shutdown.

    uvicorn makes one protocol object per connection from a class, so the header timeout
    travels as an attribute of a subclass made here."""
    protocol = type(
        "ThreadHttpProtocol", (GuardedHttpToolsProtocol,), {"header_timeout_s": header_timeout_s}
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
