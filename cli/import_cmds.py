"""`thread import KIND FILE…` and `thread import auto DIR`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from thread.cli.output import err, out, print_json, progress_reporter
from thread.cli.state import AppState
from thread.errors import ThreadError
from thread.importers import guess_kind, importer_kinds
from thread.pipeline.imports import ImportOptions, import_file, import_folder, refresh_after
from thread.pipeline.plan import Counts
from thread.pipeline.write import ImportReport
from thread.queries.query import parse_params
from thread.stores import GraphStore


def _report_table(report: ImportReport) -> Table:
    mode = "dry run: would import" if report.dry_run else "imported"
    title = f"{mode} {report.source} ({report.importer})"
    if report.run:
        title += f" as {report.run}"
    table = Table(title=escape(title), title_justify="left")
    for column in ("", "created", "updated", "unchanged", "disappeared"):
        table.add_column(column, justify="left" if not column else "right", overflow="fold")

    def add(name: str, counts: Counts) -> None:
        table.add_row(
            escape(name),
            *(
                str(v)
                for v in (counts.created, counts.updated, counts.unchanged, counts.disappeared)
            ),
        )

    for label, counts in sorted(report.by_label.items()):
        add(label, counts)
    for rel_type, counts in sorted(report.by_type.items()):
        add(f"-[{rel_type}]->", counts)
    if report.placeholders:
        table.caption = f"{report.placeholders} placeholder node(s) created for missing references"
    return table


def show_reports(reports: list[ImportReport], json_output: bool) -> None:
    if json_output:
        print_json([r.to_dict() for r in reports])
        return
    for report in reports:
        if not report.changed and not report.dry_run:
            out.print(
                f"{report.source} ({report.importer}): unchanged, nothing to write", markup=False
            )
        else:
            out.print(_report_table(report))
        if report.samples:
            out.print(
                f"  {report.samples:,} samples {'would be ' if report.dry_run else ''}stored in Parquet"
            )
        for line in report.disappeared[:20]:
            out.print(
                f"  [yellow]disappeared from the source (kept, marked _missing):[/] {escape(line)}"
            )
        for warning in report.warnings:
            err.print(f"[yellow]warning:[/] {escape(warning)}")


@contextmanager
def _shown_on_error(reports: list[ImportReport], json_output: bool) -> Iterator[None]:
    """When a later file fails, still show what the earlier files did."""
    try:
        yield
    except ThreadError:
        if reports:
            show_reports(reports, json_output)
        raise


def _audit(store: GraphStore, json_output: bool) -> None:
    """The audits after an import, as `thread audit` runs them; their exit code is ours."""
    from thread.audit import AuditOptions, AuditUsageError, all_rules, run_audit
    from thread.cli.audit_cmds import EXIT_USAGE, show_report

    try:
        result = run_audit(store, all_rules(project=Path.cwd()), AuditOptions())
    except AuditUsageError as exc:
        err.print(f"[bold red]Error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from None
    if not json_output:
        show_report(result, 10)
    raise typer.Exit(result.exit_code)


def _variants(pairs: list[str]) -> dict[str, str]:
    variants = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r} is not SET=VALUE", param_hint="--variant")
        variants[name] = value
    return variants


def import_(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="What the files are (see --help for the kinds), or 'auto' for a thread folder."),
    paths: list[Path] = typer.Argument(..., help="The files to import (each all or nothing), or the folder for 'auto'."),
    mapping: Path | None = typer.Option(None, "--mapping", "-m", help="A TOML mapping from the export's columns to Thread's fields."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be created, updated, unchanged and removed; write nothing."),
    create_missing: bool = typer.Option(False, "--create-missing", help="Create placeholder nodes for references to things that do not exist yet."),
    source_id: str | None = typer.Option(None, "--source-id", help="A stable name for the source when each export has a new file name."),
    option: list[str] = typer.Option([], "--option", "-o", help="Importer option NAME=VALUE (VALUE read as JSON when it parses)."),
    no_payloads: bool = typer.Option(False, "--no-payloads", help="USD: do not load payloads."),
    variant: list[str] = typer.Option([], "--variant", help="USD: variant selection SET=VALUE for every prim with that set."),
    json_output: bool = typer.Option(False, "--json", help="Print the import reports as JSON."),
    audit: bool = typer.Option(False, "--audit", help="Run the audits after the import; exit 1 when they fail."),
) -> None:  # fmt: skip
    """Import files into the thread: validate everything first, write nothing on any error."""
    state: AppState = ctx.obj
    if kind not in (*importer_kinds(), "auto"):
        guessed = guess_kind(Path(kind))
        if guessed is None or not Path(kind).exists():
            raise typer.BadParameter(
                f"unknown kind {kind!r}; known kinds: auto, {', '.join(importer_kinds())}",
                param_hint="KIND",
            )
        kind, paths = guessed, [Path(kind), *paths]
    store = state.store()
    reports: list[ImportReport] = []
    with (
        progress_reporter(not state.quiet and not json_output) as progress,
        _shown_on_error(reports, json_output),
    ):
        if kind == "auto":
            if len(paths) != 1 or not paths[0].is_dir():
                raise typer.BadParameter(
                    "'auto' takes one folder holding a thread-manifest.toml", param_hint="PATHS"
                )
            reports = import_folder(store, paths[0], dry_run=dry_run, progress=progress)
        else:
            options = parse_params(option)
            if no_payloads:
                options["payloads"] = False
            if variant:
                options["variants"] = _variants(variant)
            settings = ImportOptions(mapping, create_missing, dry_run, source_id, options)
            for path in paths:
                reports.append(import_file(store, kind, path, settings, progress))
            refresh_after(store, reports, progress)
    show_reports(reports, json_output)
    if audit and not dry_run:
        _audit(store, json_output)


import_.__doc__ = (import_.__doc__ or "") + "\n\nKinds: auto, " + ", ".join(importer_kinds()) + "."
