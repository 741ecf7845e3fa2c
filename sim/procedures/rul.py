"""The RUL model over the graph: train on a fleet's run-to-failure histories, predict every
unit in service, one prediction run per unit derived from the calibration.

The fleet is the twin's aggregate (its revision's units): units with status `failed`
are the training histories, their telemetry up to the failure; the others are predicted.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from thread.pipeline.write import ProgressCallback
from thread.sim.errors import MissingInputError
from thread.sim.inputs import (
    FAILED,
    ChannelInfo,
    FleetUnit,
    Series,
    fleet_units,
    read_series,
    resolve_roles,
    resolve_twin,
    unit_channels,
)
from thread.sim.procedures.base import CalibrationRequest, Procedures, RunRequest
from thread.sim.rul import History, KernelRulModel, RulCalibration
from thread.sim.runs import NewRun, RunRecord, output_folder, record_runs, reusable_run
from thread.stores.base import GraphStore

__all__ = ["FleetRul", "RulProcedures", "rul"]


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


class RulProcedures(Procedures[KernelRulModel]):
    """`thread sim calibrate rul-kernel`, `thread sim run rul-kernel` (and `thread sim rul`)."""

    def __init__(self) -> None:
        super().__init__(KernelRulModel())

    def calibrate(
        self, store: GraphStore, twin_uid: str, request: CalibrationRequest
    ) -> list[RunRecord]:
        """Train (or reuse) the model on the twin's fleet; `--set` values are its settings."""
        result = rul(
            store,
            twin_uid,
            settings=request.fixed,
            force=request.force,
            progress=request.progress,
        )
        return [result.calibration]

    def run(self, store: GraphStore, twin_uid: str, request: RunRequest) -> FleetRul:
        """Predict the twin's unit (or every unit in service of a fleet twin)."""
        settings = request.single_values(self.model.name)
        return rul(
            store, twin_uid, settings=settings, force=request.force, progress=request.progress
        )


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
    calibration = reusable_run(store, model, pending, retrain)
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


def _histories(
    units: Sequence[FleetUnit],
    channels: Mapping[str, list[ChannelInfo]],
    series: Mapping[str, Series],
    names: Sequence[str],
) -> tuple[list[History], dict[str, list[Series]], str]:
    """Each unit's named channels as one History (on the first channel's clock), the
    series used per unit, and the time unit (cycles or days)."""
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
