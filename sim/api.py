"""The operations `thread sim …` offers, as functions over a store.

Each reads its inputs from the graph and the Parquet telemetry (through sim.inputs), runs
a model, records the run(s) through sim.runs and returns a result with `to_dict()`. A
result computed before is returned as recorded (same model, inputs and parameters)
unless `force` is given.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thread.clock import from_epoch
from thread.pipeline.write import ProgressCallback
from thread.sim.errors import MissingInputError, NotEnoughDataError, SimError
from thread.sim.inputs import (
    FAILED,
    ChannelInfo,
    FleetUnit,
    Life,
    Series,
    Twin,
    fleet_units,
    life_data,
    read_series,
    resolve_roles,
    resolve_twin,
    unit_channels,
)
from thread.sim.model import parse_assignments
from thread.sim.registry import get_model, model_names
from thread.sim.runs import NewRun, RunRecord, get_run, latest_run, output_folder, record_runs
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


def _iso(seconds: float) -> str:
    return from_epoch(seconds)


# ---------------------------------------------------------------------- thermal


def _thermal_inputs(
    store: GraphStore, twin: Twin, overrides: Mapping[str, str] | None
) -> tuple[Any, dict[str, Series]]:
    from thread.sim.thermal import ThermalPumpModel, prepare

    if twin.unit is None:
        raise MissingInputError(
            f"the thermal model runs on an instance twin (twin:…), not {twin.uid}"
        )
    model = ThermalPumpModel()
    channels = unit_channels(store, [twin.unit]).get(twin.unit, [])
    roles = resolve_roles(model.roles, channels, twin.unit, overrides)
    infos = [found[0] for found in roles.values()]
    series = read_series(store.data_dir, infos)
    by_role = {}
    for role, found in roles.items():
        if found[0].uid not in series:
            raise MissingInputError(f"{found[0].uid} has no samples in the store")
        by_role[role] = series[found[0].uid]
    data = prepare(
        *(
            (by_role[r].t, by_role[r].values)
            for r in ("voltage", "current", "motor_temperature", "fluid_temperature")
        )
    )
    return data, by_role


def _calibrate_thermal(
    store: GraphStore,
    twin: Twin,
    *,
    channels: Mapping[str, str] | None,
    fixed: Mapping[str, float],
    free: Sequence[str] | None,
    holdout: float,
    force: bool,
) -> RunRecord:
    import pyarrow as pa

    from thread.sim.thermal import DEFAULT_FREE, ThermalPumpModel

    model = ThermalPumpModel()
    data, by_role = _thermal_inputs(store, twin, channels)
    free = list(free or [n for n in DEFAULT_FREE if n not in fixed])
    options = {
        "free": free,
        "fixed": dict(fixed),
        "holdout": holdout,
        "channels": {role: s.info.uid for role, s in sorted(by_role.items())},
    }
    inputs = [f"{s.info.uid}={s.checksum}" for _, s in sorted(by_role.items())]
    pending = NewRun(
        "calibration",
        [("InstanceTwin", twin.uid)],
        options,
        inputs,
        [s.info.uid for s in by_role.values()],
        window=(_iso(data.start), _iso(data.start + data.step * (len(data) - 1))),
    )
    reusable = _reuse(store, model, pending, force)
    if reusable is not None:
        return reusable
    result = model.calibrate(data, free=free, fixed=fixed, holdout=holdout)
    held = result.holdout
    assert held is not None and result.holdout_prediction is not None
    times = held.start + held.step * np.arange(len(held))
    pending.table = pa.table(
        {
            "t": pa.array((times * 1e6).astype("int64"), pa.timestamp("us", "UTC")),
            "motor_measured": held.motor,
            "fluid_measured": held.fluid,
            "motor_model": result.holdout_prediction[:, 0],
            "fluid_model": result.holdout_prediction[:, 1],
        }
    )
    pending.outputs = result.summary()
    pending.summary = {
        **{k: float(v) for k, v in result.parameters.items()},
        "holdout_rmse_motor": result.holdout_rmse["motor"],
        "holdout_rmse_fluid": result.holdout_rmse["fluid"],
        "persistence_rmse_motor": result.persistence_rmse["motor"],
        "persistence_rmse_fluid": result.persistence_rmse["fluid"],
        "samples": result.samples,
    }
    return record_runs(store, model, [pending], force=force)[0]


def _reuse(store: GraphStore, model: Any, pending: NewRun, force: bool) -> RunRecord | None:
    """The recorded run with this content, when not forced (checked before computing)."""
    if force:
        return None
    from thread.sim.runs import content_hash

    rows = store.read(
        "MATCH (r:SimulationRun) WHERE r.model = $model AND r.content_hash = $h "
        "AND r.status = 'succeeded' RETURN r.uid AS uid ORDER BY r.finished DESC LIMIT 1",
        {"model": model.name, "h": content_hash(model, pending)},
    )
    if not rows:
        return None
    record = get_run(store, rows[0]["uid"])
    record.reused = True
    return record


@dataclass
class ThermalRun:
    """A baseline run and, when asked, the what-if run derived from it."""

    calibration: RunRecord
    baseline: RunRecord
    what_if: RunRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "calibration": self.calibration.run_id,
            "baseline": self.baseline.to_dict(),
            "what_if": self.what_if.to_dict() if self.what_if else None,
        }


def _thermal_run(
    store: GraphStore,
    twin: Twin,
    *,
    set_values: Mapping[str, list[float]],
    what_if: Mapping[str, list[float]],
    horizon: float,
    force: bool,
) -> ThermalRun:
    import pyarrow as pa

    from thread.sim.thermal import ThermalPumpModel

    model = ThermalPumpModel()
    calibration = latest_run(store, model.name, "calibration", twin.uid)
    if calibration is None:
        raise MissingInputError(
            f"{twin.uid} has no calibration of {model.name}: run `thread sim calibrate {model.name} {twin.uid}` first"
        )
    data, by_role = _thermal_inputs(store, twin, calibration.parameters.get("channels"))
    params = {k: float(calibration.properties[k]) for k in model.defaults()}
    set_single = {k: v[0] for k, v in set_values.items()}
    for name, values in set_values.items():
        if len(values) != 1:
            raise SimError(f"--set {name}: one value only (sweeps go in --what-if)")
    base_params = {**params, **model.checked({k: v for k, v in set_single.items() if k in params})}
    base_scenario = model.checked(
        {k: v for k, v in set_single.items() if k not in params}, scenario=True
    )
    last = max(1, int(3600.0 / data.step))
    mean_power = float(data.power[-last:].mean())
    lead = max(1, int(60.0 / data.step))
    initial = np.array([data.motor[-lead:].mean(), data.fluid[-lead:].mean()])
    inputs = [f"{s.info.uid}={s.checksum}" for _, s in sorted(by_role.items())]
    window = (_iso(data.start), _iso(data.start + data.step * (len(data) - 1)))

    def execute(
        kind: str, parameters: dict[str, float], scenario: Mapping[str, list[float]], base: str
    ) -> RunRecord:
        names = sorted(scenario)
        combos = list(itertools.product(*(scenario[n] for n in names))) or [()]
        arrays = {n: np.array([c[i] for c in combos]) for i, n in enumerate(names)}
        for n, values in arrays.items():
            for value in values:
                model.checked({n: float(value)}, scenario=True)
        pending = NewRun(
            kind,  # type: ignore[arg-type]
            [("InstanceTwin", twin.uid)],
            {"parameters": parameters, "scenario": {n: scenario[n] for n in names}, "horizon_h": horizon,
             "mean_power_w": mean_power, "initial_degC": initial.tolist()},
            inputs,
            [s.info.uid for s in by_role.values()],
            base,
            window=window,
        )  # fmt: skip
        reusable = _reuse(store, model, pending, force)
        if reusable is not None:
            return reusable
        result = model.what_if(
            {**parameters, **{k: arrays[k] for k in arrays if k in parameters}},
            mean_power=mean_power,
            initial=initial,
            horizon_h=horizon,
            scenarios={k: v for k, v in arrays.items() if k not in parameters},
        )
        count, steps = result.temperatures.shape[:2]
        pending.table = pa.table(
            {
                "scenario": np.repeat(np.arange(count), steps),
                "t_s": np.tile(result.times, count),
                "motor": result.temperatures[:, :, 0].ravel(),
                "fluid": result.temperatures[:, :, 1].ravel(),
            }
        )
        summary = result.summary()
        pending.outputs = {
            **summary,
            "per_scenario": [
                {**{n: float(arrays[n][i]) for n in names}, "steady_motor": float(result.steady[i, 0]),
                 "steady_fluid": float(result.steady[i, 1]),
                 "time_to_limit_h": float(result.time_to_limit[i] / 3600.0) if np.isfinite(result.time_to_limit[i]) else None,
                 "max_motor": float(result.temperatures[i, :, 0].max())}
                for i in range(count)
            ],
        }  # fmt: skip
        pending.summary = {
            "scenarios": count,
            "horizon_h": horizon,
            "steady_motor": float(np.median(result.steady[:, 0])),
            "steady_fluid": float(np.median(result.steady[:, 1])),
            "max_motor": float(result.temperatures[:, :, 0].max()),
            "limit": result.limit,
            "reach_limit_fraction": summary["reach_limit_fraction"],
        }
        return record_runs(store, model, [pending], force=force)[0]

    baseline = execute(
        "baseline", base_params, {k: [v] for k, v in base_scenario.items()}, calibration.uid
    )
    derived = None
    if what_if:
        changed_params = {k: v for k, v in what_if.items() if k in params}
        scenario = {k: v for k, v in what_if.items() if k not in params}
        sweep = {**{k: [v] for k, v in base_scenario.items()}, **scenario, **changed_params}
        derived = execute("what-if", base_params, sweep, baseline.uid)
    return ThermalRun(calibration, baseline, derived)


# ---------------------------------------------------------------------- RUL


@dataclass
class FleetRul:
    """The calibration the predictions come from and one prediction per unit in service."""

    twin: str
    calibration: RunRecord
    predictions: list[RunRecord]
    time_unit: str

    def rows(self) -> list[dict[str, Any]]:
        rows = [
            {
                "unit": p.properties.get("unit"),
                "twin": p.twins[0] if p.twins else None,
                "age": p.properties.get("age"),
                "rul_p10": p.properties.get("rul_p10"),
                "rul_p50": p.properties.get("rul_p50"),
                "rul_p90": p.properties.get("rul_p90"),
                "run_id": p.run_id,
            }
            for p in self.predictions
        ]
        return sorted(rows, key=lambda r: (r["rul_p50"], r["unit"]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "twin": self.twin,
            "time_unit": self.time_unit,
            "calibration": self.calibration.to_dict(),
            "predictions": self.rows(),
        }


def _histories(
    units: Sequence[FleetUnit],
    channels: Mapping[str, list[ChannelInfo]],
    series: Mapping[str, Series],
    names: Sequence[str],
) -> tuple[list[Any], dict[str, list[Series]], str]:
    from thread.sim.rul import History

    histories, used = [], {}
    kind = "index"
    for unit in units:
        by_name = {c.channel: series[c.uid] for c in channels.get(unit.unit, []) if c.uid in series}
        if not all(n in by_name for n in names):
            continue
        first = by_name[names[0]]
        kind = first.info.index_kind
        t = first.t
        columns = [by_name[n].values if len(by_name[n].t) == len(t) and np.array_equal(by_name[n].t, t)
                   else np.interp(t, by_name[n].t, by_name[n].values) for n in names]  # fmt: skip
        age = t if kind == "index" else (t - t[0]) / 86400.0
        histories.append(History(unit.unit, age, np.column_stack(columns), unit.status == FAILED))
        used[unit.unit] = [by_name[n] for n in names]
    return histories, used, "cycles" if kind == "index" else "days"


def rul(
    store: GraphStore,
    twin_uid: str,
    *,
    settings: Mapping[str, float] | None = None,
    force: bool = False,
    retrain: bool | None = None,
    progress: ProgressCallback | None = None,
) -> FleetRul:
    """Train (or reuse) the RUL model on the fleet's run-to-failure histories and predict
    every unit in service of the twin (the whole fleet for an aggregate twin).

    `force` records the predictions again; `retrain` (default: as `force`) also trains
    the model again instead of reusing the recorded calibration with the same inputs.

    Raises:
        MissingInputError / NotEnoughDataError: no fleet, no telemetry, too few failures.
    """
    from thread.sim.rul import KernelRulModel, RulCalibration

    model = KernelRulModel()
    twin = resolve_twin(store, twin_uid)
    if not twin.aggregates:
        raise MissingInputError(
            f"{twin_uid} belongs to no aggregate twin: its unit has no revision"
        )
    fleet = resolve_twin(store, twin.aggregates[0]) if len(twin.aggregates) == 1 else twin
    units = fleet_units(store, fleet)
    if progress:
        progress("reading telemetry", 0, None)
    channels = unit_channels(store, [u.unit for u in units])
    role = model.roles[0]
    for unit in list(channels):
        channels[unit] = resolve_roles(model.roles, channels[unit], unit)[role.name]
    names = _common_names(units, channels)
    failed_units = [u for u in units if u.status == FAILED]
    series = read_series(
        store.data_dir,
        [c for u in failed_units for c in channels.get(u.unit, []) if c.channel in names],
    )
    failed, used, time_unit = _histories(failed_units, channels, series, names)
    overrides = model.checked(settings or {})
    aggregates = [("AggregateTwin", a) for a in fleet.aggregates]
    pending = NewRun(
        "calibration",
        aggregates,
        {"settings": model.settings(overrides), "channels": names},
        [f"{s.info.uid}={s.checksum}" for h in failed for s in used[h.unit]],
        [s.info.uid for h in failed for s in used[h.unit]],
        outputs={},
    )
    retrain = force if retrain is None else retrain
    calibration = _reuse(store, model, pending, retrain)
    if calibration is not None and (output_folder(store, calibration) / "model.npz").exists():
        trained = RulCalibration.load(output_folder(store, calibration) / "model.npz")
    else:
        if progress:
            progress("training", 0, None)
        trained = model.calibrate(failed, names, overrides)
        buffer = io.BytesIO()
        trained.save(buffer)  # type: ignore[arg-type]
        pending.files = {"model.npz": buffer.getvalue()}
        pending.outputs = {"cross_validation": trained.metrics, "channels": trained.channels,
                           "interval_bins": trained.bin_edges.tolist(), "p10_offsets": trained.low.tolist(),
                           "p90_offsets": trained.high.tolist(), "training_units": trained.units}  # fmt: skip
        pending.summary = {**{f"cv_{k}": v for k, v in trained.metrics.items()}, "training_units": trained.units,
                           "rul_unit": time_unit}  # fmt: skip
        calibration = record_runs(store, model, [pending], force=retrain)[0]
    # units in service: only the channels the trained model reads
    serving = [u for u in units if u.status != FAILED and twin.unit in (None, u.unit)]
    series = read_series(
        store.data_dir,
        [c for u in serving for c in channels.get(u.unit, []) if c.channel in trained.channels],
    )
    in_service, used, _ = _histories(serving, channels, series, trained.channels)
    predictions = model.predict(trained, in_service)
    twin_of = {u.unit: u.twin for u in units}
    runs = []
    for h, p in zip(in_service, predictions, strict=True):
        chosen = used[h.unit]
        runs.append(
            NewRun(
                "prediction",
                [("InstanceTwin", twin_of[h.unit])],
                {"calibration": calibration.run_id},
                [f"{s.info.uid}={s.checksum}" for s in chosen],
                [s.info.uid for s in chosen],
                calibration.uid,
                summary={
                    "unit": h.unit,
                    "age": p.age,
                    "rul_p10": p.p10,
                    "rul_p50": p.p50,
                    "rul_p90": p.p90,
                    "rul_unit": time_unit,
                },
                window=(float(h.age[0]), float(h.age[-1])),
            )
        )
    recorded = record_runs(store, model, runs, force=force, progress=progress) if runs else []
    return FleetRul(twin.uid, calibration, recorded, time_unit)


def _common_names(
    units: Sequence[FleetUnit], channels: Mapping[str, list[ChannelInfo]]
) -> list[str]:
    """Channel names every unit with telemetry has (a fleet shares one sensor layout)."""
    sets = [{c.channel for c in channels[u.unit]} for u in units if channels.get(u.unit)]
    if not sets:
        raise MissingInputError(
            "no unit of this fleet has telemetry (import sensors and samples first)"
        )
    common = sorted(set.intersection(*sets))
    if not common:
        raise MissingInputError("the fleet's units share no channel name")
    return common


# ---------------------------------------------------------------------- reliability


@dataclass
class GroupFit:
    """One Weibull fit (of the whole fleet or of one failure mode) and its run."""

    group: str
    fit: Any
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


def reliability(
    store: GraphStore,
    twin_uid: str,
    *,
    by_mode: bool = False,
    horizon: float = 30.0,
    age: float | None = None,
    force: bool = False,
) -> ReliabilityResult:
    """Weibull fits of the fleet's lives (per failure mode when asked), censoring units in
    service; expected failures among them over the horizon.

    Raises:
        NotEnoughDataError: no group has two failures.
    """
    from thread.sim.reliability import WeibullModel

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
        import hashlib

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


# ---------------------------------------------------------------------- recommendation


@dataclass
class Recommendation:
    twin: str
    time_unit: str
    horizon: float
    policy: Any
    due: list[Any]
    fit: Any
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


def recommend(
    store: GraphStore,
    twin_uid: str,
    *,
    cost_planned: float,
    cost_failure: float,
    horizon: float = 30.0,
    force: bool = False,
) -> Recommendation:
    """The age-replacement optimum from the fleet's Weibull, and the units to act on:
    past it, or with a recorded RUL prediction whose median falls inside the horizon."""
    from thread.sim.maintenance import AgeReplacementModel

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
    found: dict[str, tuple[float, float, float]] = {}
    if not twins:
        return found
    for row in store.read(
        "UNWIND $twins AS t MATCH (r:SimulationRun)-[:SIMULATED]->(:Entity {uid: t}) "
        "WHERE r.model = 'rul-kernel' AND r.kind = 'prediction' AND r.status = 'succeeded' "
        "RETURN t AS twin, r.rul_p10 AS p10, r.rul_p50 AS p50, r.rul_p90 AS p90, r.finished AS finished "
        "ORDER BY twin, finished",
        {"twins": list(twins)},
    ):
        found[row["twin"]] = (float(row["p10"]), float(row["p50"]), float(row["p90"]))
    return found


# ---------------------------------------------------------------------- generic entry points


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

    Raises:
        SimError: the model does not calibrate, or its inputs are missing.
    """
    model = get_model(model_name)
    if "calibrate" not in model.operations:
        raise SimError(
            f"{model_name} does not calibrate; its operations are: {', '.join(model.operations)}"
        )
    if model_name == "thermal-pump":
        twin = resolve_twin(store, twin_uid)
        return [
            _calibrate_thermal(
                store,
                twin,
                channels=channels,
                fixed=fixed or {},
                free=free,
                holdout=holdout,
                force=force,
            )
        ]
    if model_name == "rul-kernel":
        return [rul(store, twin_uid, settings=fixed, force=force, progress=progress).calibration]
    if model_name == "weibull":
        return [g.run for g in reliability(store, twin_uid, by_mode=by_mode, force=force).groups]
    raise SimError(f"no calibration procedure for {model_name}")


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
) -> Any:
    """Run a model on a twin: a thermal baseline (and what-if), or a model's prediction.

    `set_items` are `NAME=VALUE` (parameters or scenario variables of the baseline),
    `what_if_items` `NAME=V1,V2,…` (the what-if's changes; several values sweep).
    """
    model = get_model(model_name)
    set_values = parse_assignments(list(set_items))
    what_if = parse_assignments(list(what_if_items))
    if model_name == "thermal-pump":
        twin = resolve_twin(store, twin_uid)
        return _thermal_run(
            store,
            twin,
            set_values=set_values,
            what_if=what_if,
            horizon=horizon or 24.0,
            force=force,
        )
    if what_if:
        raise SimError(f"{model_name} has no what-if; --what-if applies to the thermal model")
    single = {k: v[0] for k, v in set_values.items()}
    if model_name == "rul-kernel":
        return rul(store, twin_uid, settings=single, force=force, progress=progress)
    if model_name == "weibull":
        return reliability(
            store, twin_uid, horizon=horizon or 30.0, age=single.get("age"), force=force
        )
    if model_name == "age-replacement":
        values = model.checked(single)
        if "cost_planned" not in values or "cost_failure" not in values:
            raise SimError("age-replacement needs --set cost_planned=X --set cost_failure=Y")
        return recommend(store, twin_uid, cost_planned=values["cost_planned"], cost_failure=values["cost_failure"],
                         horizon=horizon or values.get("horizon", 30.0), force=force)  # fmt: skip
    raise SimError(f"no run procedure for {model_name}")


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
