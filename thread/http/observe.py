"""The service's request middleware, as plain ASGI: metrics, one JSON log line per request,
and no reuse of a connection whose request body was left unread. (Starlette's decorator
middleware costs a task and a queue per request, about a third of a small request's time.)"""

import json
import logging
import time
from typing import Any

from thread.clock import utc_now
from thread.http.metrics import Metrics

__all__ = ["Observe"]

log = logging.getLogger("thread.api")
Scope = dict[str, Any]
_CLOSE = (b"connection", b"close")


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


class Observe:
    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        # An answer given before the body was read (a 401, a 413) closes the connection:
        # otherwise the server would go on reading the rest of the body to reach the next
        # request on it.
        unread = _has_body(scope)

        async def track() -> dict[str, Any]:
            nonlocal unread  # read to its end once a message says no more comes
            message: dict[str, Any] = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                unread = False
            return message

        async def record(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if unread:
                    message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
            await send(message)

        try:
            await self.app(scope, track if unread else receive, record)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe_request(scope["method"], route, status, elapsed)
            log.info(json.dumps({
                "time": utc_now(), "method": scope["method"], "route": route, "path": scope["path"],
                "status": status, "duration_ms": round(elapsed * 1000, 2),
                "token": scope.get("state", {}).get("token"),
            }))  # fmt: skip
