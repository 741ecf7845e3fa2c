"""Tokens: list, create and revoke the service's bearer tokens (admin scope only)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from thread.clock import utc_now
from thread.http.bodies import body_doc, json_body
from thread.http.deps import ADMIN, TokensDep
from thread.http.tokens import Scope, TokenStore

__all__ = ["NewToken", "router"]

router = APIRouter(tags=["tokens"], dependencies=ADMIN)


class NewToken(BaseModel):
    name: str = Field(min_length=1)
    scope: Scope = "read"


@router.get("/tokens")
def token_list(tokens: TokensDep) -> list[dict[str, str]]:
    return [TokenStore.public(t) for t in tokens.list()]


@router.post("/tokens", status_code=201, openapi_extra=body_doc(NewToken, "application/json"))
def token_create(
    tokens: TokensDep, body: Annotated[NewToken, Depends(json_body(NewToken))]
) -> dict[str, str]:
    """A new token; its secret is in `token` and is shown only here."""
    created, secret = tokens.create(body.name, body.scope, utc_now())
    return {**TokenStore.public(created), "token": secret}


@router.delete("/tokens/{name}")
def token_revoke(tokens: TokensDep, name: str) -> dict[str, str]:
    return TokenStore.public(tokens.revoke(name))
