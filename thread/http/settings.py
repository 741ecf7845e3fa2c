"""How the service runs: one object that `thread serve` fills and `create_app` keeps on
`app.state`, so a route reads its limits from the app that serves it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings"]


@dataclass
class Settings:
    """How the service runs; the CLI's `thread serve` options fill it."""

    store: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    tokens: Path = Path(".thread/tokens.json")
    query_timeout_ms: int = 10_000
    row_limit: int = 10_000
    max_upload_bytes: int = 100 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    docs: bool = False
    """Serve /docs, /redoc and /openapi.json without a token (else only /openapi.json,
    with a read token)."""
