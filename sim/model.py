"""The model contract: what every simulation model declares and how values are checked.

A model is a small class with class-level metadata (name, version, the twin it runs
against, its parameters with units and bounds, the channel roles it reads, its outputs)
and the operations it supports (`calibrate`, `simulate`, `predict`). The metadata is
what `thread sim models` lists and what the SimulationModel node records, so a run can
always be read back against the schema it was made with. The operations take numpy
arrays, not the graph: `sim.inputs` reads the graph and Parquet, the model's
procedures (`sim.procedures`) wire the two together and record the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

from thread.sim.errors import SimError

__all__ = [
    "Estimate",
    "Model",
    "Operation",
    "Output",
    "Parameter",
    "Role",
    "TwinKind",
    "parse_assignments",
]

Operation = Literal["calibrate", "simulate", "predict"]
TwinKind = Literal["instance", "aggregate"]


@dataclass(frozen=True)
class Parameter:
    """A named number with its unit, default and allowed range."""

    name: str
    unit: str
    default: float
    lower: float
    upper: float
    description: str

    def check(self, value: float) -> float:
        """The value as a float, or a SimError naming the bounds."""
        number = float(value)
        if not math.isfinite(number) or not self.lower <= number <= self.upper:
            raise SimError(
                f"{self.name} = {value} is outside its bounds [{self.lower}, {self.upper}] {self.unit}"
            )
        return number


@dataclass(frozen=True)
class Role:
    """A kind of input channel a model reads, found through the graph.

    A channel fills the role when its `quantity` matches; when several do, the one whose
    channel name is in `names` wins. A role with `many` takes every channel of the unit
    that is not excluded (data-driven models choose among them themselves).
    """

    name: str
    description: str
    quantity: str | None = None
    names: tuple[str, ...] = ()
    many: bool = False
    exclude_quantities: tuple[str, ...] = ()


@dataclass(frozen=True)
class Output:
    name: str
    unit: str
    description: str


@dataclass(frozen=True)
class Estimate:
    """A fitted value with its standard error and 95 % interval."""

    value: float
    stderr: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class Model:
    """Metadata shared by every model; subclasses add the operations they list.

    Subclasses set the class variables below and implement exactly the methods named in
    `operations`; nothing here pretends to calibrate or predict.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str]
    twin: ClassVar[TwinKind]
    operations: ClassVar[tuple[Operation, ...]]
    parameters: ClassVar[tuple[Parameter, ...]] = ()
    scenario: ClassVar[tuple[Parameter, ...]] = ()
    roles: ClassVar[tuple[Role, ...]] = ()
    outputs: ClassVar[tuple[Output, ...]] = ()

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.parameters}

    def scenario_defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.scenario}

    def checked(self, values: Mapping[str, float], *, scenario: bool = False) -> dict[str, float]:
        """`values` checked against the parameters (or scenario variables) by name and bounds.

        Raises:
            SimError: an unknown name (listing the known ones) or a value out of bounds.
        """
        known = {p.name: p for p in (*self.parameters, *(self.scenario if scenario else ()))}
        checked = {}
        for name, value in values.items():
            if name not in known:
                raise SimError(
                    f"{self.name} has no parameter {name!r}; it has: {', '.join(sorted(known))}"
                )
            checked[name] = known[name].check(value)
        return checked

    def schema(self) -> dict[str, Any]:
        """The model's description as plain data: for `thread sim models` and the graph."""
        return {
            "model": self.name,
            "version": self.version,
            "description": self.description,
            "twin": self.twin,
            "operations": list(self.operations),
            "parameters": [asdict(p) for p in self.parameters],
            "scenario": [asdict(p) for p in self.scenario],
            "roles": [asdict(r) for r in self.roles],
            "outputs": [asdict(o) for o in self.outputs],
        }

    def schema_json(self) -> str:
        return json.dumps(self.schema(), sort_keys=True)


def parse_assignments(items: list[str] | tuple[str, ...]) -> dict[str, list[float]]:
    """`["load=1.2", "t_ambient=30,35"]` as `{"load": [1.2], "t_ambient": [30, 35]}`.

    Raises:
        SimError: an item without `=` or a value that is not a number.
    """
    parsed: dict[str, list[float]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise SimError(f"expected NAME=VALUE, got {item!r}")
        try:
            parsed[name.strip()] = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise SimError(
                f"{item!r}: values must be numbers (comma-separated for a sweep)"
            ) from None
        if not parsed[name.strip()]:
            raise SimError(f"{item!r}: no value given")
    return parsed
