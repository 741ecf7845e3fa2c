"""The Weibull model over the graph: a fleet's lives from its history, censored at now for
the units in service, one fit (and calibration run) per group.

A group is the whole fleet, or one failure mode when asked (the maintenance history
names them); a group needs two failures to fit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thread.sim.errors import MissingInputError, NotEnoughDataError
from thread.sim.inputs import Life, fleet_units, life_data, resolve_twin
from thread.sim.procedures.base import CalibrationRequest, Procedures, RunRequest
from thread.sim.reliability import WeibullFit, WeibullModel
from thread.sim.runs import NewRun, RunRecord, record_runs
from thread.stores.base import GraphStore

__all__ = ["GroupFit", "ReliabilityResult", "WeibullProcedures", "reliability"]

_DEFAULT_HORIZON = 30.0


@dataclass
class GroupFit:
    """One Weibull fit (of the whole fleet or of one failure mode) and its run."""

    group: str
    fit: WeibullFit
    run: RunRecord
    lives: list[Life]
    expected_failures: float
    reliability_at_age: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            **self.fit.summary(),
            "expected_failures": self.expected_failures,
            "reliability_at_age": self.reliability_at_age,
            "run_id": self.run.run_id,
            "reused": self.run.reused,
        }


@dataclass
class ReliabilityResult:
    twin: str
    time_unit: str
    horizon: float
    age: float | None
    groups: list[GroupFit]
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "twin": self.twin,
            "time_unit": self.time_unit,
            "horizon": self.horizon,
            "age": self.age,
            "groups": [g.to_dict() for g in self.groups],
            "skipped": self.skipped,
        }


class WeibullProcedures(Procedures[WeibullModel]):
    """`thread sim calibrate weibull`, `thread sim run weibull` (and `thread sim reliability`)."""

    def __init__(self) -> None:
        super().__init__(WeibullModel())

    def calibrate(
        self, store: GraphStore, twin_uid: str, request: CalibrationRequest
    ) -> list[RunRecord]:
        """One calibration run per group that has two failures (per mode with `by_mode`)."""
        result = reliability(store, twin_uid, by_mode=request.by_mode, force=request.force)
        return [g.run for g in result.groups]

    def run(self, store: GraphStore, twin_uid: str, request: RunRequest) -> ReliabilityResult:
        """The fleet's fit with the failures expected over the horizon (`--set age=A` adds
        the reliability at that age)."""
        single = request.single_values(self.model.name)
        return reliability(
            store,
            twin_uid,
            horizon=request.horizon or _DEFAULT_HORIZON,
            age=single.get("age"),
            force=request.force,
        )


def reliability(
    store: GraphStore,
    twin_uid: str,
    *,
    by_mode: bool = False,
    horizon: float = _DEFAULT_HORIZON,
    age: float | None = None,
    force: bool = False,
) -> ReliabilityResult:
    """Weibull fits of the fleet's lives (per failure mode when asked), censoring units in
    service; expected failures among them over the horizon.

    Raises:
        MissingInputError: the twin belongs to no fleet.
        NotEnoughDataError: no group has two failures.
    """
    model = WeibullModel()
    twin = resolve_twin(store, twin_uid)
    fleet = (
        resolve_twin(store, twin.aggregates[0])
        if twin.unit is not None and twin.aggregates
        else twin
    )
    if not fleet.aggregates:
        raise MissingInputError(f"{twin_uid} belongs to no fleet (aggregate twin)")
    units = fleet_units(store, fleet)
    groups, time_unit = life_data(store, units, by_mode=by_mode)
    aggregates = [("AggregateTwin", a) for a in fleet.aggregates]
    results, skipped = [], {}
    for group, lives in groups.items():
        durations = [life.duration for life in lives]
        failed = [life.failed for life in lives]
        if sum(failed) < 2:
            skipped[group] = f"{sum(failed)} failure(s): a fit needs two"
            continue
        fit = model.calibrate(durations, failed, time_unit)
        at_risk = np.array([life.duration for life in lives if not life.failed])
        expected = float(model.predict(fit, at_risk, horizon).sum()) if len(at_risk) else 0.0
        at_age = float(fit.reliability(age)) if age else None
        lives_key = json.dumps(
            sorted(
                (life.unit, round(life.start, 6), round(life.end, 6), life.failed) for life in lives
            )
        )
        pending = NewRun(
            "calibration",
            aggregates,
            {
                "group": group,
                "by": "failure-mode" if by_mode else "all",
                "horizon": horizon,
                "age": age,
            },
            [hashlib.sha256(lives_key.encode()).hexdigest()[:16]],
            summary={
                "failure_mode": group,
                "weibull_shape": fit.shape.value,
                "weibull_scale": fit.scale.value,
                "weibull_shape_low": fit.shape.low,
                "weibull_shape_high": fit.shape.high,
                "weibull_scale_low": fit.scale.low,
                "weibull_scale_high": fit.scale.high,
                "b10": fit.b10.value,
                "failures": fit.failures,
                "censored": fit.censored,
                "expected_failures": expected,
                "reliability_at_age": at_age,
                "time_unit": time_unit,
            },
            outputs={
                **fit.summary(),
                "expected_failures": expected,
                "horizon": horizon,
                "reliability_at_age": at_age,
                "age": age,
            },
        )
        recorded = record_runs(store, model, [pending], force=force)[0]
        results.append(GroupFit(group, fit, recorded, lives, expected, at_age))
    if not results:
        reasons = "; ".join(f"{g}: {r}" for g, r in skipped.items())
        raise NotEnoughDataError(f"no Weibull fit possible ({reasons})")
    return ReliabilityResult(fleet.uid, time_unit, horizon, age, results, skipped)
