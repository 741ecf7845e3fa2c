"""The graph as a whole: counts and import runs, one entity, and read-only Cypher within
the service's time and row limits."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from thread.http.bodies import body_doc, json_body
from thread.http.deps import READ, SettingsDep, StoreDep
from thread.http.query import bounded_query
from thread.queries.show import get_entity
from thread.queries.status import store_status

__all__ = ["CypherQuery", "router"]

router = APIRouter(tags=["graph"], dependencies=READ)


class CypherQuery(BaseModel):
    cypher: str = Field(min_length=1, description="Read-only Cypher; values go in params.")
    params: dict[str, Any] = Field(default_factory=dict)


@router.get("/status")
def status(store: StoreDep) -> dict[str, Any]:
    """Counts per label and relationship type and recent import runs (`thread status --json`)."""
    return store_status(store).to_dict()


@router.get("/entities/{uid:path}")
def entity(store: StoreDep, uid: str) -> dict[str, Any]:
    """One entity with its neighbours (`thread show UID --json`)."""
    return get_entity(store, uid).to_dict()


@router.post("/query", openapi_extra=body_doc(CypherQuery, "application/json"))
async def query(
    body: Annotated[CypherQuery, Depends(json_body(CypherQuery))],
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
) -> list[dict[str, Any]]:
    """Read-only Cypher with parameters, answered within the server's time limit; at
    most the row limit is fetched and returned (header X-Thread-Truncated says when
    rows were cut), with the columns in alphabetical order."""
    rows, truncated = await bounded_query(
        store,
        body.cypher,
        body.params,
        row_limit=settings.row_limit,
        timeout_ms=settings.query_timeout_ms,
    )
    if truncated:
        response.headers["X-Thread-Truncated"] = "true"
    return rows
