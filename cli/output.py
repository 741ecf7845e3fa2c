"""How the CLI shows things: data on stdout (rich for people, JSON for scripts),
diagnostics and progress on stderr."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from thread.pipeline.write import ProgressCallback

__all__ = [
    "err",
    "out",
    "print_json",
    "print_rows",
    "progress_reporter",
    "rows_table",
    "value_text",
]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine-readable output: one JSON document on stdout, unicode kept."""
    out.file.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def value_text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else str(value)


def rows_table(rows: Sequence[Mapping[str, Any]], title: str | None = None) -> Table:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(value_text(row.get(c)) for c in columns))
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
        out.print(empty)


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
