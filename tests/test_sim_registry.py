"""A model registered at run time calibrates and runs through the same API and CLI as the
built-in ones: the registry holds its procedures, `sim.api` and `thread sim` dispatch to
them by name.

The model is defined here (a channel's mean level, and the level expected after a
drift); the store is the example thread (examples/pump-fleet) on the embedded backend,
whose pumps each carry a vibration channel.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from thread.cli import main
from thread.pipeline.imports import import_folder
from thread.sim import api, get_model, model_names, register, registry
from thread.sim.errors import MissingInputError, SimError
from thread.sim.inputs import resolve_twin, role_series
from thread.sim.model import Model, Output, Parameter, Role
from thread.sim.procedures import CalibrationRequest, Procedures, RunRequest
from thread.sim.runs import NewRun, RunRecord, latest_run, record_runs
from thread.stores import GraphStore, open_store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pump-fleet"
TWIN = "twin:P-100/SN-0001"
NAME = "mean-level"
runner = CliRunner()


class MeanLevelModel(Model):
    """The numeric side: arrays in, numbers out."""

    name = NAME
    version = "1.0"
    description = "A channel's mean level and spread; the level after a linear drift."
    twin = "instance"
    operations = ("calibrate", "predict")
    parameters = (Parameter("drift", "per day", 0.0, -1e6, 1e6, "change of the level per day"),)
    roles = (Role("signal", "the monitored channel", quantity="vibration"),)
    outputs = (Output("level", "as the channel", "the level expected at the horizon"),)

    def calibrate(self, values: np.ndarray) -> dict[str, float]:
        return {"mean": float(values.mean()), "std": float(values.std())}

    def predict(self, mean: float, drift: float, horizon: float) -> float:
        return mean + drift * horizon


class MeanLevelProcedures(Procedures[MeanLevelModel]):
    """The graph side, written with sim's public helpers only."""

    def __init__(self) -> None:
        super().__init__(MeanLevelModel())

    def calibrate(
        self, store: GraphStore, twin_uid: str, request: CalibrationRequest
    ) -> list[RunRecord]:
        twin = resolve_twin(store, twin_uid)
        assert twin.unit is not None
        series = role_series(store, twin.unit, self.model.roles, request.channels)["signal"]
        fitted = self.model.calibrate(series.values)
        pending = NewRun(
            "calibration",
            [("InstanceTwin", twin.uid)],
            {"channel": series.info.uid},
            [f"{series.info.uid}={series.checksum}"],
            [series.info.uid],
            summary=fitted,
            outputs=fitted,
        )
        return record_runs(store, self.model, [pending], force=request.force)

    def run(self, store: GraphStore, twin_uid: str, request: RunRequest) -> RunRecord:
        calibration = latest_run(store, self.model.name, "calibration", twin_uid)
        if calibration is None:
            raise MissingInputError(f"{twin_uid} has no calibration of {self.model.name}")
        drift = self.model.checked(request.single_values(self.model.name)).get("drift", 0.0)
        horizon = request.horizon or 1.0
        level = self.model.predict(float(calibration.properties["mean"]), drift, horizon)
        pending = NewRun(
            "prediction",
            [("InstanceTwin", twin_uid)],
            {"drift": drift, "horizon": horizon},
            derived_from=calibration.uid,
            summary={"level": level},
            outputs={"level": level},
        )
        return record_runs(store, self.model, [pending], force=request.force)[0]


@pytest.fixture(scope="module")
def fleet(embedded_home: Path) -> Iterator[tuple[GraphStore, str]]:
    spec = f"embedded:{embedded_home}#registry{uuid.uuid4().hex[:8]}"
    with open_store(spec) as store:
        import_folder(store, EXAMPLE)
        yield store, spec


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The model registered as a script would, for this test only."""
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    register(NAME, f"{__name__}:MeanLevelProcedures")
    yield NAME


def test_a_registered_model_calibrates_and_runs_through_the_api(
    fleet: tuple[GraphStore, str], registered: str
) -> None:
    store, _ = fleet
    assert registered in model_names() and isinstance(get_model(registered), MeanLevelModel)
    assert registered in {m["model"] for m in api.list_models()}
    [calibration] = api.calibrate(store, registered, TWIN)
    assert calibration.kind == "calibration" and calibration.model == registered
    assert calibration.twins == [TWIN] and calibration.channels == ["channel:PKG-SN-0001/vibration"]
    assert calibration.properties["mean"] > 0 and calibration.properties["std"] > 0
    assert api.calibrate(store, registered, TWIN)[0].reused
    result = api.run(store, registered, TWIN, set_items=["drift=0.5"], horizon=4.0)
    assert isinstance(result, RunRecord) and result.kind == "prediction"
    assert result.derived_from == calibration.uid
    assert result.properties["level"] == pytest.approx(calibration.properties["mean"] + 2.0)
    with pytest.raises(SimError, match="mean-level has no what-if"):
        api.run(store, registered, TWIN, what_if_items=["drift=1,2"])
    with pytest.raises(SimError, match="outside its bounds"):
        api.run(store, registered, TWIN, set_items=["drift=1e9"])


def test_a_registered_model_calibrates_and_runs_through_the_cli(
    fleet: tuple[GraphStore, str], registered: str
) -> None:
    _, spec = fleet
    store_arg = ["--store", spec]
    twin = "twin:P-100/SN-0002"
    calibrated = runner.invoke(
        main.app, [*store_arg, "sim", "calibrate", registered, twin, "--json"]
    )
    assert calibrated.exit_code == 0, calibrated.stderr
    [record] = json.loads(calibrated.stdout)
    assert record["model"] == registered and record["twins"] == [twin]
    assert set(record["outputs"]) == {"mean", "std"}
    ran = runner.invoke(
        main.app,
        [
            *store_arg,
            "sim",
            "run",
            registered,
            twin,
            "--set",
            "drift=1",
            "--horizon",
            "3",
            "--json",
        ],
    )
    assert ran.exit_code == 0, ran.stderr
    prediction = json.loads(ran.stdout)
    assert prediction["kind"] == "prediction" and prediction["derived_from"] == record["uid"]
    assert prediction["outputs"]["level"] == pytest.approx(record["outputs"]["mean"] + 3.0)
    shown = runner.invoke(main.app, [*store_arg, "sim", "run", registered, twin, "--set", "drift=1",
                                     "--horizon", "3"])  # fmt: skip
    assert shown.exit_code == 0, shown.stderr
    assert prediction["run_id"] in shown.stdout and "recorded before" in shown.stdout
    listed = runner.invoke(main.app, [*store_arg, "sim", "models", "--json"])
    assert registered in {m["model"] for m in json.loads(listed.stdout)}


def test_a_registration_naming_another_model_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    register("other-name", f"{__name__}:MeanLevelProcedures")
    with pytest.raises(
        SimError, match="registered as 'other-name' but runs the model 'mean-level'"
    ):
        get_model("other-name")
