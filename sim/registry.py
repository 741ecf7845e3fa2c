"""Models registered by name, imported only when asked for.

The registry maps a name to `module:Class`, so listing names costs nothing and the
numeric modules load only when a model is used (the CLI's start-up stays light).
"""

from __future__ import annotations

import difflib
import importlib

from thread.sim.errors import UnknownModelError
from thread.sim.model import Model

__all__ = ["get_model", "model_names", "register"]

_MODELS: dict[str, str] = {
    "thermal-pump": "thread.sim.thermal:ThermalPumpModel",
    "rul-kernel": "thread.sim.rul:KernelRulModel",
    "weibull": "thread.sim.reliability:WeibullModel",
    "age-replacement": "thread.sim.maintenance:AgeReplacementModel",
}


def register(name: str, target: str) -> None:
    """Register a model class given as `module:Class` (imported on first use)."""
    _MODELS[name] = target


def model_names() -> list[str]:
    return sorted(_MODELS)


def get_model(name: str) -> Model:
    """An instance of the model registered as `name`.

    Raises:
        UnknownModelError: no such model (with the closest names).
    """
    target = _MODELS.get(name)
    if target is None:
        near = difflib.get_close_matches(name, list(_MODELS), n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise UnknownModelError(
            f"no model named {name!r}{hint}; the models are: {', '.join(model_names())}"
        )
    module_name, _, class_name = target.partition(":")
    model_class = getattr(importlib.import_module(module_name), class_name)
    instance: Model = model_class()
    return instance
