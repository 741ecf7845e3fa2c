"""The operations `thread sim …` offers, as functions over a store; scripts import this.

`calibrate` and `run` look the model up in the registry and call its procedures
(`sim.procedures`), so they know no model by name: a model registered with
`thread.sim.register` calibrates and runs through them like the built-in ones. The
commands made for one built-in model (`thread sim rul`, `reliability`, `recommend`) are
re-exported from that model's procedures, so a script needs this module only. A result
computed before is returned as recorded (same model, inputs and parameters) unless
`force` is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from thread.pipeline.write import ProgressCallback
from thread.sim.errors import SimError
from thread.sim.model import parse_assignments
from thread.sim.procedures.base import CalibrationRequest, RunRequest, SimResult
from thread.sim.procedures.maintenance import Recommendation, recommend
from thread.sim.procedures.reliability import GroupFit, ReliabilityResult, reliability
from thread.sim.procedures.rul import FleetRul, rul
from thread.sim.procedures.thermal import ThermalRun
from thread.sim.registry import get_model, get_procedures, model_names
from thread.sim.runs import RunRecord, get_run
from thread.stores.base import GraphStore

__all__ = [
    "FleetRul",
    "GroupFit",
    "Recommendation",
    "ReliabilityResult",
    "ThermalRun",
    "calibrate",
    "compare",
    "list_models",
    "recommend",
    "reliability",
    "rul",
    "run",
]


def list_models() -> list[dict[str, Any]]:
    """Every registered model's schema (parameters, roles, outputs, operations)."""
    return [get_model(name).schema() for name in model_names()]


def calibrate(
    store: GraphStore,
    model_name: str,
    twin_uid: str,
    *,
    channels: Mapping[str, str] | None = None,
    fixed: Mapping[str, float] | None = None,
    free: Sequence[str] | None = None,
    holdout: float = 0.3,
    by_mode: bool = False,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> list[RunRecord]:
    """Calibrate a model on a twin and record the calibration run(s).

    Each model reads the options it has (see `CalibrationRequest`) and ignores the others.

    Raises:
        UnknownModelError: no model of this name is registered.
        SimError: the model does not calibrate, or its inputs are missing.
    """
    procedures = get_procedures(model_name)
    model = procedures.model
    if "calibrate" not in model.operations:
        raise SimError(
            f"{model_name} does not calibrate; its operations are: {', '.join(model.operations)}"
        )
    request = CalibrationRequest(
        channels=channels,
        fixed=dict(fixed or {}),
        free=free,
        holdout=holdout,
        by_mode=by_mode,
        force=force,
        progress=progress,
    )
    return procedures.calibrate(store, twin_uid, request)


def run(
    store: GraphStore,
    model_name: str,
    twin_uid: str,
    *,
    set_items: Sequence[str] = (),
    what_if_items: Sequence[str] = (),
    horizon: float | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> SimResult:
    """Run a model on a twin: a baseline (and what-if), or a prediction, as the model does.

    `set_items` are `NAME=VALUE` (parameters or scenario variables of the baseline),
    `what_if_items` `NAME=V1,V2,…` (the what-if's changes; several values sweep); a model
    without what-if refuses them.

    Raises:
        UnknownModelError: no model of this name is registered.
        SimError: an assignment that is not NAME=NUMBER, or the model's own errors.
    """
    procedures = get_procedures(model_name)
    request = RunRequest(
        set_values=parse_assignments(list(set_items)),
        what_if=parse_assignments(list(what_if_items)),
        horizon=horizon,
        force=force,
        progress=progress,
    )
    return procedures.run(store, twin_uid, request)


def compare(store: GraphStore, first: str, second: str) -> dict[str, Any]:
    """Two runs side by side: parameters and summary outputs, with what differs."""
    a, b = get_run(store, first), get_run(store, second)
    skip = {
        "uid",
        "run_id",
        "started",
        "finished",
        "content_hash",
        "parameters",
        "outputs",
        "input_checksums",
    }
    keys = sorted((set(a.properties) | set(b.properties)) - skip)
    rows = []
    for key in keys:
        va, vb = a.properties.get(key), b.properties.get(key)
        delta = (
            vb - va
            if isinstance(va, int | float)
            and isinstance(vb, int | float)
            and not isinstance(va, bool)
            else None
        )
        rows.append({"property": key, "first": va, "second": vb, "delta": delta, "same": va == vb})
    pa_, pb_ = a.parameters, b.parameters
    parameters = [
        {
            "parameter": k,
            "first": pa_.get(k),
            "second": pb_.get(k),
            "same": pa_.get(k) == pb_.get(k),
        }
        for k in sorted(set(pa_) | set(pb_))
    ]
    return {
        "first": a.to_dict(),
        "second": b.to_dict(),
        "properties": rows,
        "parameters": parameters,
    }
