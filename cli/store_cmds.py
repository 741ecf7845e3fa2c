"""`thread store start|stop|status`: the embedded server's lifetime."""

from __future__ import annotations

from dataclasses import asdict

import typer

from thread.cli.output import err, out, print_json
from thread.cli.state import AppState
from thread.errors import StoreError
from thread.stores.embedded_server import EmbeddedServer

app = typer.Typer(help="Start, stop and inspect the embedded store's server.", no_args_is_help=True)


def _server(ctx: typer.Context) -> EmbeddedServer:
    state: AppState = ctx.obj
    spec = state.spec
    if spec.kind != "embedded":
        raise StoreError(
            f"{spec.kind} stores are servers of their own; Thread does not start or stop them"
        )
    return EmbeddedServer(spec.folder)


@app.command()
def start(ctx: typer.Context) -> None:
    """Start the embedded server and keep it running until `thread store stop`."""
    server = _server(ctx)
    server.pin()
    status = server.status()
    err.print(
        f"embedded server running (pid {status.pid}) for {status.folder}; stop it with `thread store stop`",
        markup=False,
    )


@app.command()
def stop(
    ctx: typer.Context,
    force: bool = typer.Option(
        False, "--force", help="Stop even while other processes use it (they will fail)."
    ),
) -> None:
    """Stop the embedded server (it saves everything first)."""
    server = _server(ctx)
    if server.unpin_and_stop(force=force):
        err.print(f"embedded server for {server.folder} stopped", markup=False)
    elif server.status().running:
        err.print("the server is in use by another process; it will stop when that process ends")
    else:
        err.print("the embedded server was not running")


@app.command()
def status(
    ctx: typer.Context, json_output: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Is the embedded server running, with which pid, socket and lifetime."""
    info = _server(ctx).status()
    if json_output:
        print_json(asdict(info))
        return
    state = f"running (pid {info.pid})" if info.running else "stopped"
    lifetime = (
        "pinned until `thread store stop`" if info.pinned else "stops when its last user ends"
    )
    out.print(f"{info.folder}: {state}; socket {info.socket}; {lifetime}", markup=False)
