"""Twins: aggregate twins with their fleets, and one twin's fleet or state."""

from typing import Any

from fastapi import APIRouter

from thread.http.deps import READ, StoreDep
from thread.queries.twin import list_twins, show_twin

__all__ = ["router"]

router = APIRouter(tags=["twins"], dependencies=READ)


@router.get("/twins")
def twins(store: StoreDep) -> dict[str, Any]:
    """Aggregate twins with their fleet counts (`thread twin list --json`)."""
    return list_twins(store)


@router.get("/twins/{uid:path}")
def twin(store: StoreDep, uid: str) -> dict[str, Any]:
    """One twin: an aggregate's fleet or an instance's state (`thread twin show --json`)."""
    return show_twin(store, uid)
