"""Mapping files: how a real export's columns become Thread's fields, without code.

A mapping is a TOML file. The ones Thread ships are in `importers/mappings/`: the
documented default of each kind, and named layouts (`cmapss`); `examples/mappings/` has
mappings of real exports, and the tests' own are beside their files in `tests/data/`:

    kind = "work-orders"          # the importer it is for (checked when given)

    [source]
    separator = ","               # one ASCII character (",", ";", "|"), "tab", "space", or
                                  # "whitespace" (runs of blanks)
    encoding = "utf-8"            # a Python text codec: "cp1252", "latin-1", "utf-16", …
    header = true                 # false: name the columns with `names`
    names = []                    # names for a headerless file's columns, in order
    skip_rows = 0                 # lines to skip before the header (or the data), ≤ 1,000,000
    date_format = "%d.%m.%Y"      # strptime formats; ISO 8601 when left out
    datetime_format = "%Y-%m-%d %H:%M:%S"
    timezone = "UTC"              # IANA zone of datetimes written without one
    decimal = "."                 # "," for 1.234,5 style numbers

    [columns]                     # Thread field = source column (name, or 1-based position)
    work_order = "WONUM"

    [templates]                   # Thread field = a pattern over source columns
    serial = "{Farm Number}-{Turbine No}"
    code = "{Plant}-{Line:0>4}"   # a field may pad (fill, <>^, width ≤ 64) or cut (.3)

    [constants]                   # Thread field = a fixed value
    part_number = "WT-3MW"

    [properties]                  # extra graph properties = source columns, kept verbatim
    component_name = "Component Name"

    [values.type]                 # translate a field's source values
    CM = "corrective"
    PM = "preventive"

A field that the mapping does not mention is read from the column of the same name, so the
default mapping of every kind is simply a file whose header uses Thread's field names.

Every value is checked against bounds and an allow-list before any row is read, because a
mapping is user input like the export itself (and arrives over `POST /imports` too): a
file of at most 1 MiB of UTF-8 TOML, text codecs only, a bounded `skip_rows`, a known time
zone, and templates of plain `{column}` fields with a small format spec. A mapping outside
them is a SourceError naming the file and the key, never a hang or a traceback.
"""

from __future__ import annotations

import codecs
import re
import string
import tomllib
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from thread.errors import SourceError

__all__ = [
    "MAX_MAPPING_BYTES",
    "MAX_SKIP_ROWS",
    "MAX_TEMPLATE_WIDTH",
    "MappingSpec",
    "SourceOptions",
    "load_mapping",
    "parse_mapping",
    "parse_template",
    "template_fields",
]

MAX_MAPPING_BYTES = 1 << 20
"""A mapping is a hand-written file of a few hundred bytes; 1 MiB is far past any real one."""
MAX_SKIP_ROWS = 1_000_000
"""Preambles are a few lines; the bound keeps `skip_rows` inside what every reader takes."""
MAX_TEMPLATE_WIDTH = 64
"""Padding serials and codes needs a few characters; a width of 10^9 would allocate 1 GB a row."""

# codecs that call themselves text encodings but read no export: they fail on ordinary
# bytes with errors that name no position, or warn on every backslash
_NOT_FOR_FILES = frozenset(
    {"idna", "punycode", "raw-unicode-escape", "undefined", "unicode-escape"}
)
# what a template may do to a value: [[fill]align][0][width][.precision][s], all for text
_FORMAT_SPEC = re.compile(r"(?:[^{}]?[<>^])?0?(?P<width>\d{0,4})(?:\.\d{1,4})?s?")


class SourceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    separator: str = ","
    encoding: Annotated[str, Field(max_length=40)] = "utf-8"
    header: bool = True
    names: list[str] = Field(default_factory=list)
    skip_rows: Annotated[int, Field(ge=0, le=MAX_SKIP_ROWS)] = 0
    date_format: Annotated[str, Field(max_length=200)] | None = None
    datetime_format: Annotated[str, Field(max_length=200)] | None = None
    timezone: Annotated[str, Field(max_length=100)] = "UTC"
    decimal: Literal[".", ","] = "."

    @field_validator("separator")
    @classmethod
    def _separator(cls, value: str) -> str:
        named = {"tab": "\t", "\\t": "\t", "whitespace": "whitespace", "space": " "}
        value = named.get(value, value)
        if value in ("whitespace", "\t") or (
            len(value) == 1 and " " <= value <= "~" and value != '"'
        ):
            return value
        raise ValueError(
            "use one ASCII character other than '\"' (',', ';', '|'), 'tab', 'space' or 'whitespace'"
        )

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            info = codecs.lookup(value)
        except (LookupError, ValueError):
            raise ValueError(f"unknown encoding {value!r}") from None
        if not info._is_text_encoding or info.name in _NOT_FOR_FILES:
            raise ValueError(
                f"{value!r} is not an encoding of text files; use e.g. 'utf-8', 'cp1252', "
                "'latin-1' or 'utf-16'"
            )
        return value

    @field_validator("names")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        repeated = sorted(name for name, count in Counter(value).items() if count > 1)
        if repeated:
            raise ValueError(f"each column needs its own name; repeated: {', '.join(repeated)}")
        return value

    @field_validator("date_format", "datetime_format")
    @classmethod
    def _format(cls, value: str | None) -> str | None:
        """A format strptime can use; checked here since it would fail on every row."""
        if value is None:
            return None
        try:
            datetime.strptime("", value)
        except re.error:
            raise ValueError(f"{value!r} repeats a directive") from None
        except ValueError as exc:
            if not str(exc).startswith("time data"):  # not compiled: not a format at all
                raise ValueError(f"{value!r} is not a strptime format: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
            ) from None
        return value


def _template(pattern: str) -> str:
    if not template_fields(pattern):
        raise ValueError("the template names no column: write '{Column}'")
    return pattern


class MappingSpec(BaseModel):
    """A parsed, checked mapping file."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None = None
    source: SourceOptions = Field(default_factory=SourceOptions)
    columns: dict[str, str | int] = Field(default_factory=dict)
    templates: dict[str, Annotated[str, AfterValidator(_template)]] = Field(default_factory=dict)
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    properties: dict[str, str | int] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    telemetry: dict[str, Any] = Field(default_factory=dict)


def parse_template(pattern: str) -> list[tuple[str, str | None, str]]:
    """A template's parts, in order: (literal text, column or None, format spec).

    A column is named as it is written (`{Temp.1}` and `{a[0]}` are columns, never
    attribute or index lookups), with no conversion (`!r`) and a format spec of at most
    fill, alignment, width (up to MAX_TEMPLATE_WIDTH) and precision: what a key needs,
    and nothing that can fail on a row or build a huge value.

    Raises:
        ValueError: unbalanced braces, an empty `{}`, a conversion or another format spec.
    """
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValueError(f"{exc} (write a literal brace as '{{{{' or '}}}}')") from None
    parts: list[tuple[str, str | None, str]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            parts.append((literal, None, ""))
        elif not name:
            raise ValueError("'{}' names no column; write '{Column}'")
        elif conversion:
            raise ValueError(f"'{{{name}!{conversion}}}': conversions are not supported")
        elif not _small_format(spec or ""):
            raise ValueError(
                f"'{{{name}:{spec}}}': a format may only pad or cut the text: fill, "
                f"alignment (<, >, ^), a width up to {MAX_TEMPLATE_WIDTH} and a precision, "
                f"e.g. '{{{name}:0>6}}'"
            )
        else:
            parts.append((literal, name, spec or ""))
    return parts


def _small_format(spec: str) -> bool:
    """Whether a format spec only pads or cuts text, to at most MAX_TEMPLATE_WIDTH."""
    allowed = _FORMAT_SPEC.fullmatch(spec)
    return allowed is not None and int(allowed["width"] or 0) <= MAX_TEMPLATE_WIDTH


def template_fields(pattern: str) -> list[str]:
    """The source columns a template like '{Farm}-{Turbine No}' reads.

    Raises:
        ValueError: the template is not allowed (see `parse_template`).
    """
    return [name for _, name, _ in parse_template(pattern) if name]


def parse_mapping(data: Mapping[str, Any] | None, kind: str, where: str = "mapping") -> MappingSpec:
    """Check a mapping's content for importer `kind`.

    Raises:
        SourceError: unknown keys, wrong types, or a mapping written for another kind.
    """
    try:
        spec = MappingSpec.model_validate(dict(data or {}))
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: "
            f"{str(error['msg']).removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        raise SourceError(f"{where}: {details}") from None
    if spec.kind is not None and spec.kind != kind:
        raise SourceError(f"{where}: this mapping is for {spec.kind!r}, not {kind!r}")
    return spec


def load_mapping(path: Path) -> dict[str, Any]:
    """Read a mapping TOML file.

    Raises:
        SourceError: the file is missing, a folder, unreadable, larger than
            MAX_MAPPING_BYTES, not UTF-8, or not valid TOML (with the line).
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MAPPING_BYTES + 1)
    except FileNotFoundError:
        raise SourceError(f"{path}: mapping file not found") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a folder; name the mapping's .toml file") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the mapping file ({exc.strerror})") from None
    if len(data) > MAX_MAPPING_BYTES:
        raise SourceError(f"{path}: a mapping file may be at most {MAX_MAPPING_BYTES:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"{path}:{line}: a mapping file is UTF-8 text (byte 0x{data[exc.start]:02x} is not)"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise SourceError(f"{path}: tables or arrays are nested too deeply") from None
