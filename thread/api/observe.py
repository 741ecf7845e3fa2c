"""The service's request middleware, as plain ASGI: the size limit, metrics and one JSON
log line per request. (Starlette's decorator middleware costs a task and a queue per
request, about a third of a small request's time.)"""

import json
import logging
import time
from typing import Any

from thread.api.metrics import Metrics
from thread.service import utc_now

__all__ = ["Observe"]

log = logging.getLogger("thread.api")
Scope = dict[str, Any]


class Observe:
    def __init__(self, app: Any, metrics: Metrics, max_body: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if scope["method"] == "POST" and self._too_large(scope):
                await self._refuse(record)
            else:
                await self.app(scope, receive, record)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe_request(scope["method"], route, status, elapsed)
            log.info(json.dumps({
                "time": utc_now(), "method": scope["method"], "route": route, "path": scope["path"],
                "status": status, "duration_ms": round(elapsed * 1000, 2),
                "token": scope.get("state", {}).get("token"),
            }))  # fmt: skip

    def _too_large(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return value.isdigit() and int(value) > self.max_body
        return False

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({
            "code": "too_large",
            "message": f"the request body is over the {self.max_body} byte limit",
            "details": {"limit": self.max_body},
        }).encode()  # fmt: skip
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
