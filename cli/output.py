"""How the CLI shows things: data on stdout (rich for people, JSON for scripts),
diagnostics and progress on stderr."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from thread.pipeline.write import ProgressCallback

__all__ = [
    "CSV",
    "check_formats",
    "err",
    "literal",
    "out",
    "print_csv",
    "print_json",
    "print_rows",
    "progress_reporter",
    "rows_table",
    "value_text",
]

_UNBOUNDED = 1_000_000
"""The width of stdout in a pipe or a file: lines are never broken or cut there."""


class _DataConsole(Console):
    """Stdout for data. On a terminal it is as wide as the terminal, and what is wider
    wraps (tables fold their cells, trees wrap their labels): nothing is cut. In a pipe or a
    file it is as wide as COLUMNS when that is set, else lines are printed whole."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self.is_terminal:
            return size
        columns = os.environ.get("COLUMNS", "")
        return ConsoleDimensions(int(columns) if columns.isdigit() else _UNBOUNDED, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


out = _DataConsole(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)
CSV = typer.Option(False, "--csv", help="Print CSV: a header row, then every row.")


def print_json(data: Any) -> None:
    """Machine-readable output: one JSON document on stdout, unicode kept."""
    out.file.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def value_text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else str(value)


def literal(value: Any) -> str:
    """A value (None as nothing) as text rich prints as it is, inside markup: a name like
    "[properties]" keeps its brackets."""
    return escape(value_text(value))


def check_formats(json_output: bool, csv_output: bool) -> None:
    """--json and --csv are two answers to one question: asking for both is a usage error."""
    if json_output and csv_output:
        raise typer.BadParameter("--csv and --json cannot be used together", param_hint="--csv")


def print_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Rows as CSV on stdout: a header row (`columns`, or every key in order of first use),
    then every row; lists and mappings as JSON, None as an empty cell."""
    rows = list(rows)
    header = list(columns or [])
    if columns is None:
        for row in rows:
            header.extend(k for k in row if k not in header)
    writer = csv.writer(out.file, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows([value_text(row.get(c)) for c in header] for row in rows)


def rows_table(rows: Sequence[Mapping[str, Any]], title: str | None = None) -> Table:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    table = Table(title=escape(title) if title else None, show_lines=False)
    for column in columns:
        table.add_column(escape(column), overflow="fold")
    for row in rows:
        table.add_row(*(literal(row.get(c)) for c in columns))
    return table


def print_rows(
    rows: Sequence[Mapping[str, Any]], json_output: bool, empty: str = "(no rows)"
) -> None:
    """Rows as JSON for scripts, a table for people, or a line saying there are none."""
    if json_output:
        print_json(list(rows))
    elif rows:
        out.print(rows_table(rows))
    else:
        out.print(empty, markup=False)


@contextmanager
def progress_reporter(enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr, fed through the library's progress callback."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def report(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        yield report
