"""`thread demo`: import the example thread into a fresh embedded store and show a pump."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.table import Table

from thread.cli.output import err, literal, out, progress_reporter
from thread.cli.traceability_cmds import trace_tree
from thread.errors import SourceError
from thread.pipeline.imports import import_folder
from thread.queries.recall import recall
from thread.queries.status import store_status
from thread.queries.trace import trace
from thread.stores import embedded_spec, open_store

EXAMPLE = Path(__file__).parent / "demo"
"""The example thread: examples/pump-fleet in a checkout, shipped in the wheel as data."""
PUMP = "unit:P-100/SN-0012"
LOT = "lot:LOT-B-2302"


def demo(
    ctx: typer.Context,
    folder: Path | None = typer.Option(
        None, "--folder", help="Keep the demo store in this (new or empty) folder."
    ),
) -> None:
    """Import the example pump fleet into a fresh embedded store and trace one pump."""
    if not (EXAMPLE / "thread-manifest.toml").exists():
        raise SourceError(
            f"the example thread is not at {EXAMPLE}: reinstall Thread (pip install --force-reinstall digital-thread)"
        )
    if folder is not None and folder.exists() and any(folder.iterdir()):
        raise SourceError(f"{folder} is not empty; the demo starts from a fresh store")
    with tempfile.TemporaryDirectory(prefix="thread-demo-") as scratch:
        home = folder or Path(scratch)
        with open_store(embedded_spec(home)) as store:
            err.print(
                f"importing the example thread from {EXAMPLE} into {store.description}",
                markup=False,
            )
            with progress_reporter(not ctx.obj.quiet) as progress:
                reports = import_folder(store, EXAMPLE, progress=progress)
            status = store_status(store)
            table = Table(
                title=f"example thread: {status.nodes} nodes, {sum(status.relationships.values())} relationships",
                title_justify="left",
            )
            table.add_column("imported", overflow="fold")
            table.add_column("nodes", justify="right")
            table.add_column("relationships", justify="right")
            table.add_column("samples", justify="right")
            for report in reports:
                name = Path(report.source).name if report.importer != "twins" else "(derived)"
                table.add_row(
                    literal(f"{report.importer} {name}"),
                    str(report.nodes.created),
                    str(report.relationships.created),
                    f"{report.samples:,}" if report.samples else "",
                )
            out.print(table)
            out.print(f"\n[bold]The thread of pump {PUMP}[/]")
            result = trace(store, PUMP)
            out.print(trace_tree(result.to_dict(), result.sections["structure"]))
            suspect = recall(store, LOT)
            out.print(
                f"\nBearing lot {LOT} was found defective: it reached {len(suspect.top_units)} units "
                f"and {len(suspect.sub_units)} sub-units, {len(suspect.top_still_installed)} units and "
                f"{len(suspect.sub_still_installed)} sub-units still contain it (thread recall {LOT}).",
                markup=False,
            )
        if folder is not None:
            out.print(
                f"\nThe store is in {folder}; explore it with:\n  thread --store {embedded_spec(folder)} trace {PUMP}",
                markup=False,
            )
