"""Traceability: a unit's whole thread, where a part is used, what a recall reaches, a
configuration on a date or across its lives, and the chain between two entities."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from thread.http.deps import READ, StoreDep
from thread.http.errors import ApiError
from thread.queries.as_of import as_of
from thread.queries.diff import diff
from thread.queries.path import shortest_path
from thread.queries.recall import recall
from thread.queries.trace import SECTIONS, Section, trace
from thread.queries.where_used import where_used

__all__ = ["router"]

router = APIRouter(tags=["traceability"], dependencies=READ)


@router.get("/trace/{uid:path}")
def trace_of(
    store: StoreDep,
    uid: str,
    sections: Annotated[
        str | None, Query(description=f"comma-separated: {', '.join(SECTIONS)}")
    ] = None,
    depth: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """The whole thread of a unit (`thread trace UID --json`)."""
    chosen = tuple(s.strip() for s in sections.split(",")) if sections else SECTIONS
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        raise ApiError(
            422,
            "bad_parameters",
            f"unknown section(s): {', '.join(unknown)}",
            {"sections": list(SECTIONS)},
        )
    picked: tuple[Section, ...] = tuple(s for s in SECTIONS if s in chosen)
    return trace(store, uid, sections=picked, depth=depth).to_dict()


@router.get("/where-used/{part:path}")
def where_used_of(store: StoreDep, part: str, rev: str | None = None) -> dict[str, Any]:
    """Assemblies and units that contain a part (`thread where-used PART --json`)."""
    return where_used(store, part, revision=rev).to_dict()


@router.get("/recall/{uid:path}")
def recall_of(store: StoreDep, uid: str, as_of: str | None = None) -> dict[str, Any]:
    """Units reached by a suspect lot, supplier, revision or serial (`thread recall --json`)."""
    return recall(store, uid, as_of=as_of).to_dict()


@router.get("/as-of/{uid:path}")
def configuration_as_of(store: StoreDep, uid: str, date: str) -> dict[str, Any]:
    """A unit's configuration on a date (`thread as-of UID DATE --json`)."""
    return as_of(store, uid, date).to_dict()


@router.get("/diff/{uid:path}")
def configuration_diff(store: StoreDep, uid: str) -> dict[str, Any]:
    """As designed vs as built vs as maintained (`thread diff UID --json`)."""
    return diff(store, uid).to_dict()


@router.get("/path")
def path_between(
    store: StoreDep, source: str, target: str, max_hops: Annotated[int, Query(ge=1, le=40)] = 12
) -> dict[str, Any]:
    """The shortest chain of relationships between two entities (`thread path --json`)."""
    return shortest_path(store, source, target, max_hops=max_hops).to_dict()
