"""Models registered by name, imported only when asked for.

The registry maps a model's name to its procedures class as `module:Class` (a
`sim.procedures.Procedures` subclass, which holds the model), so listing names costs
nothing and a model's modules load only when it is used (the CLI's start-up stays light).
`sim.api` finds a model's calibration and run here, by name and nothing else.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING

from thread.sim.errors import SimError, UnknownModelError
from thread.sim.model import Model

if TYPE_CHECKING:
    from thread.sim.procedures.base import Procedures

__all__ = ["get_model", "get_procedures", "model_names", "register"]

_MODELS: dict[str, str] = {
    "thermal-pump": "thread.sim.procedures.thermal:ThermalProcedures",
    "rul-kernel": "thread.sim.procedures.rul:RulProcedures",
    "weibull": "thread.sim.procedures.reliability:WeibullProcedures",
    "age-replacement": "thread.sim.procedures.maintenance:AgeReplacementProcedures",
}


def register(name: str, target: str) -> None:
    """Register a model by its procedures class, given as `module:Class`.

    The class is a `thread.sim.procedures.Procedures` subclass that takes no arguments and
    holds the model (whose `name` must be `name`); it is imported on first use, and from
    then on `thread sim calibrate NAME` / `thread sim run NAME` (and `sim.api`) call it.
    Registering a name again replaces the model.
    """
    _MODELS[name] = target


def model_names() -> list[str]:
    return sorted(_MODELS)


def get_procedures(name: str) -> Procedures[Model]:
    """The procedures (calibrate, run over the graph) of the model registered as `name`.

    Raises:
        UnknownModelError: no such model (with the closest names).
        SimError: the registered class holds a model of another name.
    """
    target = _MODELS.get(name)
    if target is None:
        near = difflib.get_close_matches(name, list(_MODELS), n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise UnknownModelError(
            f"no model named {name!r}{hint}; the models are: {', '.join(model_names())}"
        )
    module_name, _, class_name = target.partition(":")
    procedures_class = getattr(importlib.import_module(module_name), class_name)
    procedures: Procedures[Model] = procedures_class()
    if procedures.model.name != name:
        raise SimError(
            f"{target} is registered as {name!r} but runs the model {procedures.model.name!r}"
        )
    return procedures


def get_model(name: str) -> Model:
    """An instance of the model registered as `name` (metadata and numeric operations).

    Raises:
        UnknownModelError: no such model (with the closest names).
    """
    return get_procedures(name).model
