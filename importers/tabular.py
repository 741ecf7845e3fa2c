"""Reading delimited text exports row by row, through a mapping, into pydantic rows.

Everything a tabular importer needs except what its rows mean: decoding with the named
encoding (a wrong one is an error naming the line), CSV or whitespace splitting, headers or
positional names, the mapping's columns, templates and constants, date, datetime and
number formats, and a Problem per bad row that names the file, line and source column.

Lines end at LF, CRLF or a lone CR (old Mac exports), the way editors count them. A field
may hold up to MAX_FIELD_CHARS characters (long free text in work orders and change
orders is real); a longer one is an error naming its line, never a traceback.
"""

from __future__ import annotations

import csv
import io
from abc import abstractmethod
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo

from thread.clock import utc_text
from thread.errors import Problem, SourceError
from thread.importers.base import ImportContext, Importer
from thread.importers.mapping import MappingSpec, SourceOptions, parse_mapping, parse_template
from thread.records import Origin, Record

__all__ = [
    "MAX_FIELD_CHARS",
    "Date",
    "DateTime",
    "Number",
    "Row",
    "TabularImporter",
    "decode",
    "read_rows",
    "row_props",
    "split_rows",
]

MAX_FIELD_CHARS = 1 << 20
"""The longest field read (1,048,576 characters): eight times Python's csv default, far
past any free-text field of a real export, and small enough that one row stays cheap."""


def _options(info: ValidationInfo) -> SourceOptions:
    return info.context if isinstance(info.context, SourceOptions) else SourceOptions()


def _to_datetime(value: Any, info: ValidationInfo) -> Any:
    if value is None or isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        options = _options(info)
        text = str(value).strip()
        try:
            if options.datetime_format:
                parsed = datetime.strptime(text, options.datetime_format)
            else:
                parsed = datetime.fromisoformat(text)
        except ValueError:
            expected = options.datetime_format or "ISO 8601 (2025-03-01T12:00:00Z)"
            raise ValueError(f"{text!r} is not a datetime in the format {expected}") from None
    if parsed is None:
        return None
    if parsed.tzinfo is None:  # the mapping's zone, known since the mapping was checked
        parsed = parsed.replace(tzinfo=ZoneInfo(_options(info).timezone))
    return utc_text(parsed)


def _to_date(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    options = _options(info)
    text = str(value).strip()
    try:
        if options.date_format:
            return datetime.strptime(text, options.date_format).date().isoformat()
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        expected = options.date_format or "ISO 8601 (2025-03-01)"
        raise ValueError(f"{text!r} is not a date in the format {expected}") from None


def _to_number(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str) and _options(info).decimal == ",":
        return value.strip().replace(".", "").replace(",", ".")
    return value


Date = Annotated[str, BeforeValidator(_to_date)]
"""A calendar date, stored as 'YYYY-MM-DD'."""
DateTime = Annotated[str, BeforeValidator(_to_datetime)]
"""An instant, stored as a UTC ISO-8601 string 'YYYY-MM-DDTHH:MM:SSZ'."""
Number = Annotated[float, BeforeValidator(_to_number)]
"""A number, read with the mapping's decimal separator."""


class Row(BaseModel):
    """Base of every importer's row model: strict about unknown fields and blanks."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def decode(path: Path, display: str, encoding: str) -> str:
    """The file's text; a wrong encoding names the line and suggests the fix."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{display}: file not found") from None
    except IsADirectoryError:
        raise SourceError(f"{display}: is a folder, not a file") from None
    except OSError as exc:
        raise SourceError(f"{display}: cannot read the file ({exc.strerror})") from None
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"{display}:{line}: not valid {encoding} text (byte 0x{data[exc.start]:02x}); "
            'set [source] encoding in a mapping file, e.g. encoding = "cp1252"'
        ) from None
    except UnicodeError as exc:  # a codec's complaint about the whole file (a missing BOM)
        raise SourceError(f"{display}: not valid {encoding} text ({exc})") from None


def split_rows(text: str, options: SourceOptions, display: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line, after skip_rows, split as the
    mapping's `[source]` says (whitespace, or a csv separator with its quoting).

    Public for the readers that take a file's rows without importing them (sim's
    evaluation, the telemetry importer's whitespace blocks).

    Raises:
        SourceError: a field longer than MAX_FIELD_CHARS, or a line csv cannot split.
    """
    if options.separator == "whitespace":
        for number, line in enumerate(text.splitlines(), 1):
            if number > options.skip_rows and line.strip():
                yield number, line.split()
        return
    lines = io.StringIO(text, newline="")  # "": split at LF, CRLF and CR, keep quoted ones
    skipped = 0
    while skipped < options.skip_rows and lines.readline():
        skipped += 1
    csv.field_size_limit(MAX_FIELD_CHARS)  # process-wide, so set where it is relied on
    # strict: a quoted field that never closes is an error, not the rest of the file
    reader = csv.reader(lines, delimiter=options.separator, strict=True)
    previous = skipped
    try:
        for fields in reader:
            start, previous = previous + 1, skipped + reader.line_num
            if any(f.strip() for f in fields):
                yield start, fields
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise SourceError(
                f"{display}:{previous + 1}: a field is longer than {MAX_FIELD_CHARS:,} "
                "characters, the longest Thread reads"
            ) from None
        if "unexpected end of data" in str(exc):
            opened = _unclosed_quote(text, previous + 1, options.separator)
            raise SourceError(
                f"{display}:{opened}: a quoted field starts on this line and is never closed "
                '(a missing closing "); the rest of the file would have been one value'
            ) from None
        raise SourceError(f"{display}:{previous + 1}: cannot split the line: {exc}") from None


def _unclosed_quote(text: str, start: int, separator: str) -> int:
    """The line of the quote that opens the field csv found never closed, reading the
    record that begins on line `start` (line breaks counted as split_rows counts them)."""
    opened, quoted, at_field_start = start, False, True
    lines = io.StringIO(text, newline="").readlines()[start - 1 :]
    for number, line in enumerate(lines, start):
        i = 0
        while i < len(line):
            char = line[i]
            if quoted:
                if char == '"' and line[i + 1 : i + 2] == '"':
                    i += 1  # an escaped quote inside the field
                elif char == '"':
                    quoted = at_field_start = False
            elif char == '"' and at_field_start:
                quoted, opened = True, number
            else:
                at_field_start = char in (separator, "\r", "\n")
            i += 1
    return opened


class _Resolver:
    """Finds each model field's value in a row: column, template, constant or same name."""

    def __init__(
        self, spec: MappingSpec, header: list[str], model: type[Row], display: str
    ) -> None:
        self.header = header
        index = {name: i for i, name in enumerate(header)}
        self.getters: dict[str, Any] = {}
        self.columns: dict[str, str] = {}

        def position(ref: str | int, field: str) -> int:
            if isinstance(ref, int):
                if not 1 <= ref <= len(header):
                    raise SourceError(
                        f"{display}: column {ref} (for {field}) is outside the {len(header)} columns"
                    )
                return ref - 1
            if ref not in index:
                raise SourceError(
                    f"{display}: no column {ref!r} (mapped to {field}); the columns are: {', '.join(header)}"
                )
            return index[ref]

        for field, info in model.model_fields.items():
            if field in spec.constants:
                value = spec.constants[field]
                self.getters[field] = lambda _row, v=value: v
                self.columns[field] = "constant"
            elif field in spec.templates:
                pattern = spec.templates[field]
                slots = [
                    (literal, None if name is None else position(name, field), fmt)
                    for literal, name, fmt in parse_template(pattern)
                ]
                self.getters[field] = lambda row, s=slots: _fill(s, row)
                self.columns[field] = pattern
            elif field in spec.columns or field in index:
                at = position(spec.columns.get(field, field), field)
                self.getters[field] = lambda row, i=at: row[i] if i < len(row) else None
                self.columns[field] = header[at]
            elif info.is_required():
                raise SourceError(
                    f"{display}: nothing gives the required field {field!r}; name a column for it "
                    "in the mapping's [columns], [templates] or [constants]"
                )
        self.translations = spec.values
        unknown = set(spec.columns) | set(spec.templates) | set(spec.constants) | set(spec.values)
        unknown -= set(model.model_fields)
        if unknown:
            raise SourceError(
                f"{display}: the mapping names fields this importer does not have: {', '.join(sorted(unknown))} "
                f"(fields: {', '.join(model.model_fields)}; keep other columns with [properties])"
            )
        self.properties = {name: position(ref, name) for name, ref in spec.properties.items()}

    def fields(self, row: list[str]) -> dict[str, Any]:
        """The model's fields from one row: translated, blanks as None (one pass, as this
        runs for every row of a file)."""
        values: dict[str, Any] = {}
        translations = self.translations
        for name, get in self.getters.items():
            value = get(row)
            if isinstance(value, str):
                table = translations.get(name)
                if table is not None:
                    value = table.get(value.strip(), value)
                if isinstance(value, str) and not value.strip():
                    value = None
            values[name] = value
        return values

    def extra(self, row: list[str]) -> dict[str, str]:
        return {
            name: row[i].strip()
            for name, i in self.properties.items()
            if i < len(row) and row[i].strip()
        }


def _fill(slots: list[tuple[str, int | None, str]], row: list[str]) -> str | None:
    """A template's value for one row (None when a column it reads is blank): literal
    text and each column's value, padded or cut by its format spec."""
    out = []
    for literal, at, spec in slots:
        out.append(literal)
        if at is not None:
            value = row[at].strip() if at < len(row) else ""
            if not value:
                return None
            out.append(format(value, spec) if spec else value)
    return "".join(out)


def read_rows(
    path: Path, display: str, spec: MappingSpec, model: type[Row]
) -> Iterator[tuple[int, Row, dict[str, str]] | Problem]:
    """(line, validated row, extra properties) for every good row, a Problem for each bad one.

    Raises:
        SourceError: the file cannot be read, is empty, or the mapping does not fit it.
    """
    options = spec.source
    rows = split_rows(decode(path, display, options.encoding), options, display)
    if options.header:
        first = next(rows, None)
        if first is None:
            raise SourceError(f"{display}: the file is empty")
        header = [name.strip() for name in first[1]]
    else:
        header = list(options.names)
    resolver = _Resolver(spec, header, model, display)
    width = len(header)
    seen = False
    for line, fields in rows:
        seen = True
        if width and len(fields) != width:
            yield Problem(display, f"expected {width} columns, found {len(fields)}", line)
            continue
        try:
            row = model.model_validate(resolver.fields(fields), context=options)
        except ValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else ""
                column = resolver.columns.get(field, field) or None
                yield Problem(display, _message(error), line, column)
            continue
        yield line, row, resolver.extra(fields)
    if not seen:
        raise SourceError(f"{display}: the file has no data rows")


def _message(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing" or (
        error["type"].endswith("_type") and error.get("input") is None
    ):
        return "a value is required"
    given = error.get("input")
    if isinstance(given, str) and given and repr(given) not in message:
        return f"{message} (got {given!r})"
    return message


def row_props(row: Row, extra: dict[str, str], *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The row's set fields and the mapping's extra properties, as node properties."""
    # the instance's own fields (model_dump would copy them through the serializer)
    values = {k: v for k, v in row.__dict__.items() if v is not None and k not in skip}
    return {**extra, **values}


class TabularImporter(Importer):
    """An importer of delimited text whose rows are `row_model`; subclasses say what a
    row means in `to_records`."""

    row_model: ClassVar[type[Row]]
    extensions = (".csv", ".tsv", ".txt")

    def records(self, path: Path, context: ImportContext) -> Iterator[Record]:
        spec = parse_mapping(context.mapping, self.kind, context.mapping_path or "mapping")
        for item in read_rows(path, context.display, spec, self.row_model):
            if isinstance(item, Problem):
                yield item
                continue
            line, row, extra = item
            yield from self.to_records(row, extra, context, Origin(context.display, line))

    @abstractmethod
    def to_records(
        self, row: Any, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        """The graph records one validated row stands for."""
