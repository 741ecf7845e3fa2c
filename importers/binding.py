"""Bindings: how a prim or a building element names the unit or part it stands for.

A scene or a building model never matches twins by name or position: it declares keys
(a serial number and a part number in USD `customData`, or in the IFC manufacturer
property sets) and Thread links through them exactly. The key names are configurable
per importer in a mapping file:

    kind = "usd"                        # optional; checked when given
    [bindings]
    serial = "thread:serial"            # one key, or a list tried in order
    part_number = ["thread:partNumber", "partNumber"]

A declared binding becomes an optional `REPRESENTS` relationship: the service skips it
with a warning when the unit or part is not in the graph, so an unresolved binding is
reported (and stays findable through the `bind_serial` / `bind_part_number`
properties), never fatal and never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from thread.errors import SourceError
from thread.ontology import Ontology
from thread.records import NodeRecord, Notice, Origin, PropValue, Record, rel

__all__ = ["BindingKeys", "Declared", "binding_records", "declared_binding", "parse_bindings"]


class BindingKeys(BaseModel):
    """The property names that carry a serial number and a part number, tried in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    serial: tuple[str, ...]
    part_number: tuple[str, ...]

    @field_validator("serial", "part_number", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        keys = [value] if isinstance(value, str) else value
        if not isinstance(keys, list | tuple) or not keys:
            raise ValueError("give a key name or a non-empty list of key names")
        if not all(isinstance(k, str) and k.strip() for k in keys):
            raise ValueError("key names must be non-empty strings")
        return tuple(keys)


class _MappingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str | None = None
    bindings: dict[str, Any] = Field(default_factory=dict)


def _details(exc: ValidationError, prefix: str = "") -> str:
    return "; ".join(
        f"{prefix}{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
        for error in exc.errors()
    )


def parse_bindings(
    mapping: Mapping[str, Any] | None, kind: str, defaults: BindingKeys, where: str
) -> BindingKeys:
    """The binding keys of a scene or building mapping file (the defaults without one).

    Raises:
        SourceError: an unknown key, a wrong type, or a mapping written for another kind;
            the message names the key.
    """
    if mapping is None:
        return defaults
    try:
        spec = _MappingFile.model_validate(dict(mapping))
    except ValidationError as exc:
        raise SourceError(f"{where}: {_details(exc)}") from None
    if spec.kind is not None and spec.kind != kind:
        raise SourceError(f"{where}: this mapping is for {spec.kind!r}, not {kind!r}")
    try:
        return BindingKeys.model_validate({**defaults.model_dump(), **spec.bindings})
    except ValidationError as exc:
        raise SourceError(f"{where}: {_details(exc, 'bindings.')}") from None


@dataclass(frozen=True, slots=True)
class Declared:
    """The serial and part number a prim or element declares (either may be missing)."""

    serial: str | None
    serial_key: str
    part_number: str | None

    def props(self) -> dict[str, PropValue]:
        """What the node keeps of its binding, so audits find the unresolved ones."""
        out: dict[str, PropValue] = {}
        if self.serial:
            out["bind_serial"] = self.serial
        if self.part_number:
            out["bind_part_number"] = self.part_number
        return out

    def unit(self, onto: Ontology) -> str | None:
        """The uid of the declared unit, when both keys are declared."""
        if self.serial and self.part_number:
            return onto.uid("Unit", self.part_number, self.serial)
        return None


def _text(value: PropValue) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, list):
        return None
    text = str(value).strip()
    return text or None


def _first(
    sources: Sequence[Mapping[str, PropValue]], keys: Sequence[str]
) -> tuple[str | None, str]:
    """The first non-empty value of `keys` (in order) in `sources` (in order), and its key."""
    for key in keys:
        for source in sources:
            value = _text(source.get(key))
            if value:
                return value, key
    return None, keys[0]


def declared_binding(
    sources: Sequence[Mapping[str, PropValue]], keys: BindingKeys
) -> Declared | None:
    """The serial and part number declared in `sources` (searched in order), or None when
    neither is. Values are taken verbatim, only trimmed."""
    serial, serial_key = _first(sources, keys.serial)
    part_number, _ = _first(sources, keys.part_number)
    if not serial and not part_number:
        return None
    return Declared(serial, serial_key, part_number)


def binding_records(
    onto: Ontology,
    subject: NodeRecord,
    declared: Declared,
    what: str,
    origin: Origin | None,
) -> Iterator[Record]:
    """`REPRESENTS` from `subject` to the declared unit (or to the part when only a part
    number is declared), optional so that an unknown unit or part is a warning.

    A serial without a part number cannot name a unit (units are keyed by both), so it is
    reported instead.
    """
    unit = declared.unit(onto)
    if unit:
        yield rel("REPRESENTS", subject, ("Unit", unit), origin=origin, optional=True)
    elif declared.part_number:
        part = onto.uid("Part", declared.part_number)
        yield rel("REPRESENTS", subject, ("Part", part), origin=origin, optional=True)
    else:
        yield Notice(
            f"{what} declares serial {declared.serial!r} ({declared.serial_key}) but no part "
            "number: units are keyed by part number and serial, so it is not bound",
            origin,
        )
