"""`thread serve` and `thread token create|list|revoke`."""

from __future__ import annotations

import ipaddress
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from thread.cli import output
from thread.cli.output import err, literal, out, print_json, print_rows
from thread.cli.state import AppState
from thread.errors import ThreadError

if TYPE_CHECKING:
    from thread.http.tokens import TokenStore

token_app = typer.Typer(
    help="Bearer tokens for `thread serve`: read, write or admin.", no_args_is_help=True
)
JSON = typer.Option(False, "--json", help="Print JSON.")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8700, "--port", min=1, max=65535),
    ssl_certfile: Path | None = typer.Option(None, "--ssl-certfile", help="TLS certificate (needed for a public address)."),
    ssl_keyfile: Path | None = typer.Option(None, "--ssl-keyfile", help="TLS private key."),
    insecure_public: bool = typer.Option(False, "--insecure-public", help="Bind a public address without TLS (behind a TLS proxy)."),
    query_timeout_ms: int = typer.Option(10_000, "--query-timeout-ms", min=1, help="Stop POST /query after this long (504)."),
    row_limit: int = typer.Option(10_000, "--row-limit", min=1, help="Most rows POST /query returns."),
    max_upload_mb: int = typer.Option(100, "--max-upload-mb", min=1, help="Largest upload to POST /imports (413 beyond)."),
    max_json_mb: int = typer.Option(1, "--max-json-mb", min=1, help="Largest JSON body, e.g. of POST /query (413 beyond)."),
    header_timeout_s: float = typer.Option(10.0, "--header-timeout-s", min=0.1, help="Close a connection whose request headers take longer (408)."),
    docs: bool = typer.Option(False, "--docs", help="Serve /docs, /redoc and /openapi.json without a token (for development)."),
) -> None:  # fmt: skip
    """Serve the thread over HTTP; every call but /health needs a token (/openapi.json too,
    unless --docs)."""
    if not _loopback(host) and not (ssl_certfile and ssl_keyfile) and not insecure_public:
        raise ThreadError(
            f"refusing to serve {host} without TLS: pass --ssl-certfile and --ssl-keyfile, "
            "or --insecure-public when a TLS proxy sits in front"
        )
    import uvicorn

    from thread.http import Settings, create_app
    from thread.http.server import server_config
    from thread.http.tokens import tokens_file

    state: AppState = ctx.obj
    settings = Settings(
        store=state.store_text,
        user=state.user,
        password=state.password,
        database=state.database,
        tokens=tokens_file(state.spec),
        query_timeout_ms=query_timeout_ms,
        row_limit=row_limit,
        max_upload_bytes=max_upload_mb * 1024 * 1024,
        max_json_bytes=max_json_mb * 1024 * 1024,
        docs=docs,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    requests_log = logging.getLogger("thread.api")
    requests_log.addHandler(handler)
    requests_log.setLevel(logging.INFO)
    if not settings.tokens.exists():
        err.print(
            f"[yellow]no tokens yet:[/] create one with `thread token create --name NAME --scope read` ({literal(settings.tokens)})"
        )
    config = server_config(
        create_app(settings),
        host=host,
        port=port,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        header_timeout_s=header_timeout_s,
    )
    uvicorn.Server(config).run()


def _tokens(ctx: typer.Context) -> TokenStore:
    from thread.http.tokens import TokenStore, tokens_file

    state: AppState = ctx.obj
    return TokenStore(tokens_file(state.spec))


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: str = typer.Option(
        ..., "--name", help="Who or what uses it (shown in logs and import runs)."
    ),
    scope: str = typer.Option(
        "read", "--scope", help="read, write (imports, runs) or admin (tokens)."
    ),
    json_output: bool = JSON,
) -> None:
    """Create a token; its secret is printed once and only its hash is kept."""
    from thread.clock import utc_now
    from thread.http.tokens import TokenStore

    token, secret = _tokens(ctx).create(name, scope, utc_now())
    if json_output:
        print_json({**TokenStore.public(token), "token": secret})
        return
    out.print(secret, markup=False)
    err.print(
        f"token {token.name!r} ({token.scope}) created; keep the line above, it is not shown again",
        markup=False,
    )


@token_app.command("list")
def token_list(ctx: typer.Context, json_output: bool = JSON, csv_output: bool = output.CSV) -> None:
    """The tokens (names, scopes, dates; never the secrets)."""
    from thread.http.tokens import TokenStore

    output.check_formats(json_output, csv_output)
    rows = [TokenStore.public(t) for t in _tokens(ctx).list()]
    if csv_output:
        output.print_csv(rows)
        return
    print_rows(rows, json_output, "(no tokens)")


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context, name: str = typer.Argument(..., help="The token's name.")
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    token = _tokens(ctx).revoke(name)
    err.print(f"token {token.name!r} revoked", markup=False)
