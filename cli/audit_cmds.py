"""`thread audit` and `thread validate`: lifecycle audits with CI-ready reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer
from rich.table import Table

from thread.audit.model import SEVERITIES, AuditUsageError, Severity
from thread.cli import output
from thread.cli.output import err, literal, out, print_json, progress_reporter
from thread.cli.state import AppState
from thread.queries.query import parse_params

if TYPE_CHECKING:
    from thread.audit import AuditReport, Rule

__all__ = ["EXIT_USAGE", "audit", "show_report", "validate"]

EXIT_USAGE = 2
_STYLES = {
    "pass": "green",
    "vacuous": "yellow",
    "warn": "yellow",
    "fail": "bold red",
    "error": "bold red",
    "skipped": "dim",
}
_FAIL_ON = ("error", "warning")


def _usage(message: str) -> typer.Exit:
    err.print(f"[bold red]Error:[/] {literal(message)}", markup=True, highlight=False)
    return typer.Exit(EXIT_USAGE)


def _choice(value: str | None, choices: tuple[str, ...], option: str) -> str | None:
    if value is not None and value not in choices:
        raise typer.BadParameter(f"choose one of {', '.join(choices)}", param_hint=option)
    return value


def show_report(report: AuditReport, limit: int) -> None:
    """The summary table, the vacuous rules, and the first `limit` new violations of each
    failing rule (also what `thread import --audit` shows)."""
    table = Table(title=literal(f"audit {report.run or report.run_id} as of {report.as_of}"))
    for column in ("rule", "severity", "outcome"):
        table.add_column(column, overflow="fold")
    for column in ("targets", "violations", "new", "seconds"):
        table.add_column(column, justify="right", overflow="fold")
    table.add_column("note", overflow="fold")
    for r in report.results:
        table.add_row(
            literal(r.rule),
            literal(r.severity),
            f"[{_STYLES[r.outcome]}]{r.outcome}[/]",
            "—" if r.targets is None else str(r.targets),
            str(r.violations),
            str(r.new),
            f"{r.seconds:.3f}",
            literal(r.note),
        )
    out.print(table)
    vacuous = [r.rule for r in report.results if r.outcome == "vacuous"]
    if vacuous:
        out.print(f"[yellow]checked nothing[/] (not a pass): {literal(', '.join(vacuous))}")
    for r in report.results:
        if r.outcome not in ("fail", "warn", "error") or not (r.rows or r.note):
            continue
        if r.outcome == "error":
            out.print(f"[bold red]{literal(r.rule)}[/] could not run: {literal(r.note)}")
            continue
        rows = [row for row in r.rows if not row.get("known")]
        out.print(
            f"[bold]{literal(r.rule)}[/] ({r.level}): {len(rows)} new violation(s), {literal(r.description)}"
        )
        for row in rows[:limit]:
            message = str(row["message"])
            out.print(
                f"  {message}" if str(row["uid"]) in message else f"  {row['uid']}: {message}",
                markup=False,
            )
        if len(rows) > limit:
            out.print(f"  … and {len(rows) - limit} more (--limit, --json for all)")
    summary = ", ".join(f"{n} {o}" for o, n in report.counts().items() if n)
    err.print(
        f"{report.status}: {summary}; {sum(r.new for r in report.results)} new violation(s)",
        markup=False,
    )


RESULT_COLUMNS = ("rule", "severity", "outcome", "level", "targets", "violations", "new", "known",
                  "seconds", "note")  # fmt: skip


def _emit(
    report: AuditReport, json_output: bool, limit: int, junit: Path | None, csv_output: bool = False
) -> None:
    """The report on stdout (JSON, CSV: one row per rule, or tables), and as JUnit XML when
    asked: `audit` and `validate` answer alike."""
    from thread.audit.reports import to_json, to_junit

    if json_output:
        out.file.write(to_json(report) + "\n")
    elif csv_output:
        output.print_csv([r.to_dict(0) for r in report.results], RESULT_COLUMNS)
    else:
        show_report(report, limit)
    if junit:
        junit.write_text(to_junit(report), encoding="utf-8")
        err.print(f"wrote {junit}", markup=False)


def audit(
    ctx: typer.Context,
    rule_ids: list[str] = typer.Argument(None, help="Rules to run (all when none)."),
    rules: list[Path] = typer.Option([], "--rules", help="A rule file or a folder of them (TOML); repeatable. ./thread-rules/ is always read."),
    severity: str = typer.Option("info", "--severity", help="Run rules of this severity and above: error, warning or info."),
    as_of: str | None = typer.Option(None, "--as-of", help="Audit the thread as of this date (YYYY-MM-DD; default today)."),
    twin: str | None = typer.Option(None, "--twin", help="Audit one twin's units (InstanceTwin, AggregateTwin or Unit uid)."),
    param: list[str] = typer.Option([], "--param", "-p", help="Rule parameter NAME=VALUE (VALUE read as JSON when it parses)."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON (shape in thread.audit.reports)."),
    csv_output: bool = typer.Option(False, "--csv", help="Print the summary as CSV: a header row, then one row per rule."),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML (one testcase per rule) to FILE."),
    html_path: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report to FILE."),
    fail_on: str = typer.Option("error", "--fail-on", help="Exit 1 when a rule fails at this level or above: error or warning."),
    baseline: Path | None = typer.Option(None, "--baseline", help="Known violations (JSON): fail only on new ones."),
    write_baseline: Path | None = typer.Option(None, "--write-baseline", help="Write the violations found as a baseline FILE."),
    limit: int = typer.Option(10, "--limit", min=0, help="Violations shown per failing rule (all go to --json, --junit, --html)."),
    list_rules: bool = typer.Option(False, "--list", help="List the rules with their rationale and exit."),
    no_record: bool = typer.Option(False, "--no-record", help="Do not write the AuditRun node (audit a store you may only read)."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Rules run at a time (the store serves reads concurrently)."),
) -> None:  # fmt: skip
    """Audit the thread: built-in rules, the ontology shapes and user rules, read-only.

    Exit code 0 when nothing at or above --fail-on fails, 1 when something does, 2 for
    usage errors (a rule file that cannot be read or validated, an unknown rule or
    parameter) or a rule that could not run. Each audit is recorded as an AuditRun node
    (unless --no-record).
    """
    from thread.audit import (
        AuditOptions,
        all_rules,
        read_baseline,
        run_audit,
        select_rules,
    )
    from thread.audit import write_baseline as save_baseline
    from thread.audit.reports import to_html

    output.check_formats(json_output, csv_output)
    state: AppState = ctx.obj
    _choice(severity, SEVERITIES, "--severity")
    _choice(fail_on, _FAIL_ON, "--fail-on")
    try:
        params = parse_params(param)
        chosen = select_rules(
            all_rules(rules, project=Path.cwd()), rule_ids or [], _severity(severity)
        )
        if list_rules:
            _list(chosen, json_output, csv_output)
            return
        options = AuditOptions(
            as_of=as_of,
            twin=twin,
            params=params,
            fail_on=_fail_on(fail_on),
            baseline=read_baseline(baseline) if baseline else None,
            record=not no_record,
            jobs=jobs,
        )
        store = state.store()
        with progress_reporter(not state.quiet and not json_output) as progress:
            report = run_audit(store, chosen, options, progress)
    except AuditUsageError as exc:
        raise _usage(str(exc)) from None
    _emit(report, json_output, limit, junit, csv_output)
    if html_path:
        html_path.write_text(to_html(report), encoding="utf-8")
        err.print(f"wrote {html_path}", markup=False)
    if write_baseline:
        written = save_baseline(
            write_baseline,
            report.finished,
            (
                (r.rule, str(row["uid"]), str(row["message"]))
                for r in report.results
                for row in r.rows
            ),
        )
        err.print(f"wrote {write_baseline}: {written} known violation(s)", markup=False)
    raise typer.Exit(report.exit_code)


def _severity(value: str) -> Severity:
    for choice in SEVERITIES:
        if choice == value:
            return choice
    raise typer.BadParameter(f"choose one of {', '.join(SEVERITIES)}", param_hint="--severity")


def _fail_on(value: str) -> Literal["error", "warning"]:
    return "warning" if value == "warning" else "error"


def _list(chosen: list[Rule], json_output: bool, csv_output: bool = False) -> None:
    if json_output:
        print_json(
            [
                {
                    "rule": r.id,
                    "severity": r.severity,
                    "description": r.description,
                    "source": r.source,
                    "params": {
                        name: {"type": p.type, "default": p.default, "description": p.description}
                        for name, p in r.params.items()
                    },
                    "twin_scoped": r.twin_scoped,
                }
                for r in chosen
            ]
        )
        return
    rows = [
        {"rule": r.id, "severity": r.severity, "rationale": r.description,
         "parameters": ", ".join(f"{n}={p.default!r}" for n, p in r.params.items()), "source": r.source}
        for r in chosen
    ]  # fmt: skip
    if csv_output:
        output.print_csv(rows)
        return
    table = Table(title=f"{len(chosen)} rules")
    for column in ("rule", "severity", "rationale", "parameters", "source"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(literal(v) for v in row.values()))
    out.print(table)


def validate(
    ctx: typer.Context,
    shapes: Path | None = typer.Option(None, "--shapes", help="A SHACL shapes file (default: the ontology's shapes)."),
    twin: str | None = typer.Option(None, "--twin", help="Validate only this entity's neighbourhood."),
    depth: int = typer.Option(2, "--depth", min=0, help="Hops around --twin."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON (the audit shape)."),
    csv_output: bool = typer.Option(False, "--csv", help="Print the summary as CSV: a header row, then one row per node shape."),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML (one testcase per node shape) to FILE."),
    limit: int = typer.Option(10, "--limit", min=0, help="Results shown per failing shape."),
) -> None:  # fmt: skip
    """Validate the RDF export with pySHACL against your own shapes.

    Exit code 0 when no shape has a violation, 1 when one has, 2 when the shapes file
    cannot be read.
    """
    from thread.audit.validate import validate_store

    output.check_formats(json_output, csv_output)
    state: AppState = ctx.obj
    try:
        report = validate_store(state.store(), shapes, twin=twin, depth=depth)
    except AuditUsageError as exc:
        raise _usage(str(exc)) from None
    _emit(report, json_output, limit, junit, csv_output)
    raise typer.Exit(report.exit_code)
