"""`thread export rdf`: the graph, or a twin's neighbourhood, as RDF."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from thread.cli.output import err, print_json, progress_reporter
from thread.cli.state import AppState

__all__ = ["rdf"]

_FORMATS = ("turtle", "json-ld", "nt")


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
            f"{report.relationships:,} relationships) to {where} in {report.seconds:.1f} s"
        )
