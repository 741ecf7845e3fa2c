"""`thread export usd`: twin state written back into the tools engineers look at."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from thread.cli.output import err, out, print_json
from thread.cli.state import AppState
from thread.usd.overlay import DEFAULT_RUL_THRESHOLD, export_overlay

__all__ = ["app"]

app = typer.Typer(
    help="Write twin state out for the tools engineers look at (a USD overlay layer).",
    no_args_is_help=True,
)

_STYLES = {"good": "green", "warning": "yellow", "critical": "red", "unknown": "dim"}


@app.command()
def usd(
    ctx: typer.Context,
    scene: str = typer.Argument(..., help="The scene's uid or path, e.g. scene:plant.usda."),
    out_path: Path = typer.Option(
        ..., "--out", "-o", help="The overlay layer to write (.usda, .usdc or .usd)."
    ),
    rul_threshold: float = typer.Option(
        DEFAULT_RUL_THRESHOLD,
        "--rul-threshold",
        help="A remaining useful life below this makes a unit's health 'warning'.",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Write the twin state of SCENE's bound prims as a new USD layer.

    The overlay sublayers the scene (its files are never edited) and authors on each prim
    bound to a unit its health, maintenance, sensor values and remaining useful life, with
    a displayColor by health.
    """
    state: AppState = ctx.obj
    report = export_overlay(state.store(), scene, out_path, rul_threshold=rul_threshold)
    if json_output:
        print_json(report.to_dict())
    else:
        table = Table(title=f"{report.scene} -> {report.out}")
        for column in ("prim", "unit", "health", "open work orders", "last maintenance", "rul"):
            table.add_column(column, overflow="fold")
        for prim in report.prims:
            table.add_row(
                prim.prim_path,
                prim.unit or "",
                f"[{_STYLES[prim.health]}]{prim.health}[/]",
                ", ".join(prim.open_work_orders),
                prim.last_maintenance or "",
                "" if prim.rul is None else f"{prim.rul:g}",
            )
        out.print(table)
        counts = ", ".join(f"{count} {health}" for health, count in report.by_health.items())
        err.print(f"wrote {report.out} (sublayers {report.sublayer}): {counts}")
    for warning in report.warnings:
        err.print(f"warning: {warning}")
