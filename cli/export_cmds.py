"""`thread export`: the thread written out for other tools: `usd`, twin state as an overlay
layer for the scene engineers look at, and `rdf`, the graph or a twin's neighbourhood as RDF."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from thread.cli.output import err, literal, out, print_json, progress_reporter
from thread.cli.state import AppState
from thread.usd.overlay import DEFAULT_RUL_THRESHOLD, export_overlay

__all__ = ["app"]

app = typer.Typer(
    help="Write the thread out for other tools: a USD overlay layer of twin state, or RDF.",
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
        table = Table(title=literal(f"{report.scene} -> {report.out}"))
        for column in ("prim", "unit", "health", "open work orders", "last maintenance", "rul"):
            table.add_column(column, overflow="fold")
        for prim in report.prims:
            table.add_row(
                literal(prim.prim_path),
                literal(prim.unit),
                f"[{_STYLES[prim.health]}]{prim.health}[/]",
                literal(", ".join(prim.open_work_orders)),
                literal(prim.last_maintenance),
                "" if prim.rul is None else f"{prim.rul:g}",
            )
        out.print(table)
        counts = ", ".join(f"{count} {health}" for health, count in report.by_health.items())
        err.print(f"wrote {report.out} (sublayers {report.sublayer}): {counts}", markup=False)
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False)


_FORMATS = ("turtle", "json-ld", "nt")


@app.command()
def rdf(
    ctx: typer.Context,
    fmt: str = typer.Option("turtle", "--format", "-f", help="turtle, json-ld or nt (N-Triples, streamed: use it for large graphs)."),
    twin: list[str] = typer.Option([], "--twin", help="Export only the neighbourhood of this uid (repeatable)."),
    depth: int = typer.Option(2, "--depth", min=0, help="Hops around --twin."),
    out_path: Path | None = typer.Option(None, "--out", "-o", help="The file to write (stdout when left out)."),
    provenance: bool = typer.Option(False, "--provenance", help="Also export import and audit runs and each node's last run (PROV-O)."),
    no_alignment: bool = typer.Option(False, "--no-alignment", help="Leave out the Brick, RealEstateCore, PROV-O and SOSA types and predicates."),
    json_output: bool = typer.Option(False, "--json", help="Print what was written as JSON (needs --out)."),
) -> None:  # fmt: skip
    """Write the thread as RDF in the ontology's terms, typed with its classes, with
    xsd-typed literals, aligned with Brick and RealEstateCore for buildings."""
    from thread.rdf.export import FORMATS, export_rdf

    if fmt not in _FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    if json_output and out_path is None:
        raise typer.BadParameter(
            "--json reports on the file written with --out", param_hint="--json"
        )
    state: AppState = ctx.obj
    store = state.store()
    chosen = next(f for f in FORMATS if f == fmt)
    with progress_reporter(not state.quiet and out_path is not None) as progress:
        if out_path is None:
            report = export_rdf(store, sys.stdout, chosen, twins=twin, depth=depth,
                                provenance=provenance, aligned=not no_alignment)  # fmt: skip
        else:
            with open(out_path, "w", encoding="utf-8", newline="\n") as handle:
                report = export_rdf(store, handle, chosen, twins=twin, depth=depth,
                                    provenance=provenance, aligned=not no_alignment,
                                    progress=progress)  # fmt: skip
    if json_output:
        print_json(report.to_dict())
    else:
        where = out_path or "stdout"
        err.print(
            f"wrote {report.triples:,} triples ({report.nodes:,} nodes, "
            f"{report.relationships:,} relationships) to {where} in {report.seconds:.1f} s",
            markup=False,
        )
