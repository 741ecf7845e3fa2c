"""Operations: whether the service is up (open to all, for load balancers and probes) and
its Prometheus metrics (behind a read token)."""

from typing import Any

from fastapi import APIRouter, Response

from thread import __version__
from thread.http.deps import READ, MetricsDep, StoreDep

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/health")
def health(store: StoreDep) -> dict[str, Any]:
    """Whether the service and its store answer (no token needed, so nothing about
    where the store is: `/status` tells that to a token)."""
    try:
        store.read("RETURN 1 AS ok")
        reachable = True
    except Exception:
        reachable = False
    return {"status": "ok" if reachable else "degraded", "version": __version__,
            "store_reachable": reachable}  # fmt: skip


@router.get("/metrics", dependencies=READ)
def prometheus(metrics: MetricsDep) -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
