"""The age-replacement model over the graph: the optimum from the fleet's Weibull, and the
units to act on, recorded as one prediction run derived from the Weibull calibration.

Units are due when past the optimal age, or when their latest recorded RUL prediction
(of the rul-kernel model) puts the median failure inside the horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from thread.sim.errors import SimError
from thread.sim.inputs import resolve_twin
from thread.sim.maintenance import AgeReplacementModel, Candidate, ReplacementPolicy
from thread.sim.procedures.base import Procedures, RunRequest
from thread.sim.procedures.reliability import reliability
from thread.sim.reliability import WeibullFit
from thread.sim.rul import KernelRulModel
from thread.sim.runs import NewRun, RunRecord, record_runs
from thread.stores.base import GraphStore

__all__ = ["AgeReplacementProcedures", "Recommendation", "recommend"]

_DEFAULT_HORIZON = 30.0


@dataclass
class Recommendation:
    twin: str
    time_unit: str
    horizon: float
    policy: ReplacementPolicy
    due: list[Candidate]
    fit: WeibullFit
    run: RunRecord

    def to_dict(self) -> dict[str, Any]:
        return {
            "twin": self.twin,
            "time_unit": self.time_unit,
            "horizon": self.horizon,
            "policy": self.policy.summary(),
            "weibull": self.fit.summary(),
            "due": [c.to_dict() for c in self.due],
            "run_id": self.run.run_id,
        }


class AgeReplacementProcedures(Procedures[AgeReplacementModel]):
    """`thread sim run age-replacement` (and `thread sim recommend`); it does not calibrate."""

    def __init__(self) -> None:
        super().__init__(AgeReplacementModel())

    def run(self, store: GraphStore, twin_uid: str, request: RunRequest) -> Recommendation:
        """The recommendation for the costs given as `--set cost_planned=X --set cost_failure=Y`.

        Raises:
            SimError: a cost missing or out of bounds.
        """
        values = self.model.checked(request.single_values(self.model.name))
        if "cost_planned" not in values or "cost_failure" not in values:
            raise SimError("age-replacement needs --set cost_planned=X --set cost_failure=Y")
        return recommend(store, twin_uid, cost_planned=values["cost_planned"], cost_failure=values["cost_failure"],
                         horizon=request.horizon or values.get("horizon", _DEFAULT_HORIZON),
                         force=request.force)  # fmt: skip


def recommend(
    store: GraphStore,
    twin_uid: str,
    *,
    cost_planned: float,
    cost_failure: float,
    horizon: float = _DEFAULT_HORIZON,
    force: bool = False,
) -> Recommendation:
    """The age-replacement optimum from the fleet's Weibull, and the units to act on:
    past it, or with a recorded RUL prediction whose median falls inside the horizon.

    Raises:
        SimError: a cost or the horizon out of bounds; the errors of `reliability`.
    """
    model = AgeReplacementModel()
    model.checked({"cost_planned": cost_planned, "cost_failure": cost_failure, "horizon": horizon})
    fitted = reliability(store, twin_uid, horizon=horizon, force=force)
    group = fitted.groups[0]
    current = [(life.unit, life.twin, life.duration) for life in group.lives if not life.failed]
    predictions = _latest_rul(store, [twin for _, twin, _ in current])
    rul_by_unit = {unit: predictions[twin] for unit, twin, _ in current if twin in predictions}
    policy, due = model.predict(
        group.fit, current, rul_by_unit, cost_planned, cost_failure, horizon
    )
    twins = [("AggregateTwin", a) for a in resolve_twin(store, fitted.twin).aggregates]
    pending = NewRun(
        "prediction",
        twins,
        {"cost_planned": cost_planned, "cost_failure": cost_failure, "horizon": horizon},
        [
            group.run.properties["content_hash"][:16],
            *sorted(f"{u}={v}" for u, v in rul_by_unit.items()),
        ],
        derived_from=group.run.uid,
        summary={
            "interval": policy.interval,
            "cost_rate": policy.cost_rate,
            "run_to_failure_cost_rate": policy.run_to_failure_cost_rate,
            "due_count": len(due),
            "due_units": [c.unit for c in due],
            "time_unit": fitted.time_unit,
        },
        outputs={"policy": policy.summary(), "due": [c.to_dict() for c in due]},
    )
    recorded = record_runs(store, model, [pending], force=force)[0]
    return Recommendation(fitted.twin, fitted.time_unit, horizon, policy, due, group.fit, recorded)


def _latest_rul(store: GraphStore, twins: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """Each twin's latest RUL prediction (p10, p50, p90), for the twins that have one."""
    found: dict[str, tuple[float, float, float]] = {}
    if not twins:
        return found
    for row in store.read(
        "UNWIND $twins AS t MATCH (r:SimulationRun)-[:SIMULATED]->(:Entity {uid: t}) "
        "WHERE r.model = $model AND r.kind = 'prediction' AND r.status = 'succeeded' "
        "RETURN t AS twin, r.rul_p10 AS p10, r.rul_p50 AS p50, r.rul_p90 AS p90, r.finished AS finished "
        "ORDER BY twin, finished",
        {"twins": list(twins), "model": KernelRulModel.name},
    ):
        found[row["twin"]] = (float(row["p10"]), float(row["p50"]), float(row["p90"]))
    return found
