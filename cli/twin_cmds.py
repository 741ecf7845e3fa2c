"""`thread twin list|show|refresh`: aggregate twins with their fleets, one twin, and their
derivation from the thread."""

from __future__ import annotations

import typer
from rich.table import Table

from thread.cli import output
from thread.cli.import_cmds import show_reports
from thread.cli.output import literal, out, print_json, progress_reporter, rows_table
from thread.cli.state import AppState
from thread.pipeline.twins import refresh_twins
from thread.queries.twin import list_twins, show_twin

app = typer.Typer(
    help="Aggregate twins (a revision and its fleet) and instance twins (one unit).",
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command("list")
def list_cmd(ctx: typer.Context, json_output: bool = JSON, csv_output: bool = output.CSV) -> None:
    """Aggregate twins with their fleet counts."""
    output.check_formats(json_output, csv_output)
    state: AppState = ctx.obj
    result = list_twins(state.store())
    if json_output:
        print_json(result)
        return
    if csv_output:
        columns = ("uid", "part_number", "name", "revision", "units", "in_service", "failures")
        output.print_csv(result["aggregates"], columns)
        return
    table = Table(
        title=f"aggregate twins ({result['instance_twins']} instance twins)", title_justify="left"
    )
    for column in ("uid", "part", "revision", "units", "in service", "failures"):
        table.add_column(column, overflow="fold")
    for row in result["aggregates"]:
        table.add_row(literal(row["uid"]), literal(f"{row['part_number']} {row['name'] or ''}"), literal(row["revision"]),
                      str(row["units"]), str(row["in_service"]), str(row["failures"]))  # fmt: skip
    out.print(table)


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    uid: str = typer.Argument(..., help="atwin:P-100/B or twin:P-100/SN-0042."),
    json_output: bool = JSON,
) -> None:
    """An aggregate twin's fleet, or an instance twin's unit and latest values."""
    state: AppState = ctx.obj
    result = show_twin(state.store(), uid)
    if json_output:
        print_json(result)
        return
    details = ", ".join(f"{k}={v}" for k, v in result["properties"].items() if k != "uid")
    out.print(f"[bold]{literal(result['label'])}[/] {literal(uid)}  [dim]{literal(details)}[/]")
    if result["label"] == "AggregateTwin":
        out.print(rows_table(result["fleet"], title="fleet"))
    else:
        out.print(f"unit {result['unit']}, fleet {result['aggregate']}", markup=False)
        if result["channels"]:
            out.print(rows_table(result["channels"], title="latest values"))


@app.command("refresh")
def refresh_cmd(ctx: typer.Context, json_output: bool = JSON) -> None:
    """Derive every twin from the thread again (imports do it after each change, and
    `thread status` when an import's refresh never ran)."""
    state: AppState = ctx.obj
    with progress_reporter(not state.quiet and not json_output) as progress:
        report = refresh_twins(state.store(), progress)
    show_reports([report], json_output)
