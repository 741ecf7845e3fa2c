"""The `thread` command: argument parsing and rendering only; the work is in the library."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from thread import __version__
from thread.cli import (
    audit_cmds,
    demo_cmds,
    export_cmds,
    graph_cmds,
    import_cmds,
    live_cmds,
    serve_cmds,
    sim_cmds,
    store_cmds,
    traceability_cmds,
    twin_cmds,
)
from thread.cli.output import err
from thread.cli.state import AppState
from thread.errors import ThreadError, UsageError

if TYPE_CHECKING:
    # what a group is handed: the click Context typer vendors, not typer.Context (its subclass)
    from typer._click import Context

__all__ = ["app", "run"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class ThreadGroup(TyperGroup):
    """Turns library errors into `Error: …` on stderr and exit code 1, or 2 for a value the
    user gave that Thread does not accept (130 on Ctrl-C)."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except ThreadError as exc:
            if isinstance(ctx.obj, AppState) and ctx.obj.debug:
                raise
            # the message is text, not markup: "[properties]" must print as it is
            err.print(f"[bold red]Error:[/] {escape(str(exc))}", markup=True, highlight=False)
            raise typer.Exit(EXIT_USAGE if isinstance(exc, UsageError) else EXIT_ERROR) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None


app = typer.Typer(
    cls=ThreadGroup,
    name="thread",
    help="Thread: the digital thread of parts, units, sensors, scenes and buildings as one graph.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"thread {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    store: str | None = typer.Option(
        None, "--store", envvar="THREAD_STORE", show_envvar=True,
        help="embedded:PATH (default embedded:./.thread or THREAD_HOME), bolt://… or neo4j://…",
    ),
    user: str | None = typer.Option(None, "--user", envvar="NEO4J_USER", show_envvar=True, help="Neo4j user."),
    password: str | None = typer.Option(
        None, "--password", envvar="NEO4J_PASSWORD", show_envvar=True, show_default=False,
        help="Neo4j password (prefer the environment variable).",
    ),
    database: str | None = typer.Option(None, "--database", envvar="NEO4J_DATABASE", show_envvar=True, help="Neo4j database."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:  # fmt: skip
    ctx.obj = AppState(store, user, password, database, debug, quiet, ctx.invoked_subcommand)
    ctx.call_on_close(ctx.obj.close)


app.command()(demo_cmds.demo)
app.command()(graph_cmds.init)
app.command()(graph_cmds.status)
app.command()(graph_cmds.show)
app.command()(graph_cmds.query)
app.command(name="import")(import_cmds.import_)
app.command(name="trace")(traceability_cmds.trace_cmd)
app.command(name="where-used")(traceability_cmds.where_used_cmd)
app.command(name="recall")(traceability_cmds.recall_cmd)
app.command(name="as-of")(traceability_cmds.as_of_cmd)
app.command(name="diff")(traceability_cmds.diff_cmd)
app.command(name="path")(traceability_cmds.path_cmd)
app.add_typer(twin_cmds.app, name="twin")
app.command()(serve_cmds.serve)
app.add_typer(serve_cmds.token_app, name="token")
app.add_typer(store_cmds.app, name="store")
app.add_typer(export_cmds.app, name="export")
app.command(name="audit")(audit_cmds.audit)
app.command(name="validate")(audit_cmds.validate)
app.add_typer(sim_cmds.app, name="sim")
app.add_typer(live_cmds.ingest_app, name="ingest")
app.add_typer(live_cmds.detect_app, name="detect")
app.command(name="alerts")(live_cmds.alerts_cmd)
app.command(name="act")(live_cmds.act_cmd)


def run() -> None:
    """Console-script entry point."""
    app()
