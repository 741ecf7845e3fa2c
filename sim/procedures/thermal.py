"""The thermal pump model over the graph: calibrate on a unit's telemetry, then baseline
and what-if runs derived from the calibration.

Inputs are the four channels the model's roles name (voltage, current, motor and fluid
temperature), found through the graph; the measured series are never written, a what-if
derives from the baseline, which derives from the calibration.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from thread.clock import from_epoch
from thread.sim.errors import MissingInputError, SimError
from thread.sim.inputs import Series, Twin, resolve_twin, role_series
from thread.sim.procedures.base import CalibrationRequest, Procedures, RunRequest
from thread.sim.runs import NewRun, RunKind, RunRecord, latest_run, record_runs, reusable_run
from thread.sim.thermal import DEFAULT_FREE, ThermalData, ThermalPumpModel, prepare
from thread.stores.base import GraphStore

__all__ = ["ThermalProcedures", "ThermalRun"]

_DEFAULT_HORIZON_H = 24.0


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


class ThermalProcedures(Procedures[ThermalPumpModel]):
    """`thread sim calibrate thermal-pump` and `thread sim run thermal-pump`."""

    def __init__(self) -> None:
        super().__init__(ThermalPumpModel())

    def calibrate(
        self, store: GraphStore, twin_uid: str, request: CalibrationRequest
    ) -> list[RunRecord]:
        """Fit the heat balance to the twin's record, scored on the held-out end of it.

        Raises:
            MissingInputError: not an instance twin, or a role's channel is missing.
        """
        twin = resolve_twin(store, twin_uid)
        return [
            self._calibrate(
                store,
                twin,
                channels=request.channels,
                fixed=request.fixed,
                free=request.free,
                holdout=request.holdout,
                force=request.force,
            )
        ]

    def run(self, store: GraphStore, twin_uid: str, request: RunRequest) -> ThermalRun:
        """The baseline from the latest calibration (with `--set` changes) and, when
        `--what-if` is given, the what-if derived from it (several values sweep).

        Raises:
            MissingInputError: the twin has no calibration of this model yet.
            SimError: a `--set` with several values, or a value out of bounds.
        """
        twin = resolve_twin(store, twin_uid)
        return self._run(
            store,
            twin,
            set_values=request.set_values,
            what_if=request.what_if,
            horizon=request.horizon or _DEFAULT_HORIZON_H,
            force=request.force,
        )

    def _inputs(
        self, store: GraphStore, twin: Twin, overrides: Mapping[str, str] | None
    ) -> tuple[ThermalData, dict[str, Series]]:
        if twin.unit is None:
            raise MissingInputError(
                f"the thermal model runs on an instance twin (twin:…), not {twin.uid}"
            )
        by_role = role_series(store, twin.unit, self.model.roles, overrides)
        data = prepare(
            *(
                (by_role[r].t, by_role[r].values)
                for r in ("voltage", "current", "motor_temperature", "fluid_temperature")
            )
        )
        return data, by_role

    def _calibrate(
        self,
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

        model = self.model
        data, by_role = self._inputs(store, twin, channels)
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
            window=_window(data),
        )
        reusable = reusable_run(store, model, pending, force)
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

    def _run(
        self,
        store: GraphStore,
        twin: Twin,
        *,
        set_values: Mapping[str, list[float]],
        what_if: Mapping[str, list[float]],
        horizon: float,
        force: bool,
    ) -> ThermalRun:
        import pyarrow as pa

        model = self.model
        calibration = latest_run(store, model.name, "calibration", twin.uid)
        if calibration is None:
            raise MissingInputError(
                f"{twin.uid} has no calibration of {model.name}: run `thread sim calibrate {model.name} {twin.uid}` first"
            )
        data, by_role = self._inputs(store, twin, calibration.parameters.get("channels"))
        params = {k: float(calibration.properties[k]) for k in model.defaults()}
        set_single = {k: v[0] for k, v in set_values.items()}
        for name, values in set_values.items():
            if len(values) != 1:
                raise SimError(f"--set {name}: one value only (sweeps go in --what-if)")
        base_params = {
            **params,
            **model.checked({k: v for k, v in set_single.items() if k in params}),
        }
        base_scenario = model.checked(
            {k: v for k, v in set_single.items() if k not in params}, scenario=True
        )
        last = max(1, int(3600.0 / data.step))
        mean_power = float(data.power[-last:].mean())
        lead = max(1, int(60.0 / data.step))
        initial = np.array([data.motor[-lead:].mean(), data.fluid[-lead:].mean()])
        inputs = [f"{s.info.uid}={s.checksum}" for _, s in sorted(by_role.items())]
        window = _window(data)

        def execute(
            kind: RunKind,
            parameters: dict[str, float],
            scenario: Mapping[str, list[float]],
            base: str,
        ) -> RunRecord:
            names = sorted(scenario)
            combos = list(itertools.product(*(scenario[n] for n in names))) or [()]
            arrays = {n: np.array([c[i] for c in combos]) for i, n in enumerate(names)}
            for n, values in arrays.items():
                for value in values:
                    model.checked({n: float(value)}, scenario=True)
            pending = NewRun(
                kind,
                [("InstanceTwin", twin.uid)],
                {"parameters": parameters, "scenario": {n: scenario[n] for n in names}, "horizon_h": horizon,
                 "mean_power_w": mean_power, "initial_degC": initial.tolist()},
                inputs,
                [s.info.uid for s in by_role.values()],
                base,
                window=window,
            )  # fmt: skip
            reusable = reusable_run(store, model, pending, force)
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


def _window(data: ThermalData) -> tuple[str, str]:
    """The record's first and last sample times, as stored timestamps."""
    return from_epoch(data.start), from_epoch(data.start + data.step * (len(data) - 1))
