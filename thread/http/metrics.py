"""Prometheus metrics of the HTTP service, in a registry of its own (one per app)."""

from __future__ import annotations

__all__ = ["Metrics"]


class Metrics:
    """Requests by route and status, request latency, imports, store query time."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "thread_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "thread_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.imports = Counter(
            "thread_imports_total", "Import jobs", ["status"], registry=self.registry
        )
        self.store_queries = Histogram(
            "thread_store_query_seconds",
            "Store query time",
            ["kind"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5),
            registry=self.registry,
        )

    def observe_query(self, kind: str, seconds: float) -> None:
        self.store_queries.labels(kind).observe(seconds)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
