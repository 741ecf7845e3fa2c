"""Mapping files: how a real export's columns become Thread's fields, without code.

A mapping is a TOML file (see `importers/mappings/` for the documented default of each
kind and `examples/mappings/` for real exports):

    kind = "work-orders"          # the importer it is for (checked when given)

    [source]
    separator = ","               # ",", ";", "tab", "whitespace" (runs of blanks)
    encoding = "utf-8"            # any Python codec: "cp1252", "latin-1", …
    header = true                 # false: name the columns with `names`
    names = []                    # names for a headerless file's columns, in order
    skip_rows = 0                 # lines to skip before the header (or the data)
    date_format = "%d.%m.%Y"      # strptime formats; ISO 8601 when left out
    datetime_format = "%Y-%m-%d %H:%M:%S"
    timezone = "UTC"              # zone of datetimes written without one
    decimal = "."                 # "," for 1.234,5 style numbers

    [columns]                     # Thread field = source column (name, or 1-based position)
    work_order = "WONUM"

    [templates]                   # Thread field = a pattern over source columns
    serial = "{Farm Number}-{Turbine No}"

    [constants]                   # Thread field = a fixed value
    part_number = "WT-3MW"

    [properties]                  # extra graph properties = source columns, kept verbatim
    component_name = "Component Name"

    [values.type]                 # translate a field's source values
    CM = "corrective"
    PM = "preventive"

A field that the mapping does not mention is read from the column of the same name, so the
default mapping of every kind is simply a file whose header uses Thread's field names.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from thread.errors import SourceError

__all__ = ["MappingSpec", "SourceOptions", "load_mapping", "parse_mapping", "template_fields"]


class SourceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    separator: str = ","
    encoding: str = "utf-8"
    header: bool = True
    names: list[str] = Field(default_factory=list)
    skip_rows: int = Field(0, ge=0)
    date_format: str | None = None
    datetime_format: str | None = None
    timezone: str = "UTC"
    decimal: Literal[".", ","] = "."

    @field_validator("separator")
    @classmethod
    def _separator(cls, value: str) -> str:
        named = {"tab": "\t", "\\t": "\t", "whitespace": "whitespace", "space": " "}
        value = named.get(value, value)
        if value != "whitespace" and len(value) != 1:
            raise ValueError("use one character, 'tab' or 'whitespace'")
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value


class MappingSpec(BaseModel):
    """A parsed, checked mapping file."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None = None
    source: SourceOptions = Field(default_factory=SourceOptions)
    columns: dict[str, str | int] = Field(default_factory=dict)
    templates: dict[str, str] = Field(default_factory=dict)
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    properties: dict[str, str | int] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    telemetry: dict[str, Any] = Field(default_factory=dict)

    @field_validator("templates")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            if not template_fields(pattern):
                raise ValueError(f"template for {name!r} names no column: write '{{Column}}'")
        return value


def template_fields(pattern: str) -> list[str]:
    """The source columns a template like '{Farm}-{Turbine No}' reads."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(pattern) if name]
    except ValueError as exc:
        raise ValueError(f"bad template {pattern!r}: {exc}") from None


def parse_mapping(data: Mapping[str, Any] | None, kind: str, where: str = "mapping") -> MappingSpec:
    """Check a mapping's content for importer `kind`.

    Raises:
        SourceError: unknown keys, wrong types, or a mapping written for another kind.
    """
    try:
        spec = MappingSpec.model_validate(dict(data or {}))
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise SourceError(f"{where}: {details}") from None
    if spec.kind is not None and spec.kind != kind:
        raise SourceError(f"{where}: this mapping is for {spec.kind!r}, not {kind!r}")
    return spec


def load_mapping(path: Path) -> dict[str, Any]:
    """Read a mapping TOML file.

    Raises:
        SourceError: the file is missing or is not valid TOML (with the line).
    """
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SourceError(f"{path}: mapping file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{path}: not valid TOML: {exc}") from None
