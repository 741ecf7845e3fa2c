"""Thermal model of a motor-driven pump: parameter recovery, the real SKAB rig, what-if.

Real data: the Skoltech Anomaly Benchmark anomaly-free run (waico/SKAB, GPL-3.0; see
../shared/data/README.md), imported through the telemetry importer like any thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from thread.pipeline.imports import ImportOptions, import_file
from thread.pipeline.twins import refresh_twins
from thread.sim import api
from thread.sim.runs import read_output
from thread.sim.thermal import DEFAULT_FREE, ThermalData, ThermalPumpModel, steady_state
from thread.stores import GraphStore

MAPPINGS = Path(__file__).resolve().parents[1] / "examples" / "mappings"
TWIN = "twin:SKAB-PUMP/RIG-1"
TRUE = {
    "c_motor": 12_000.0,
    "c_fluid": 350_000.0,
    "r_motor_fluid": 0.4,
    "r_motor_ambient": 1.5,
    "r_fluid_ambient": 0.05,
    "loss_fraction": 0.2,
    "pump_fraction": 0.15,
    "t_ambient": 22.0,
}


def _synthetic(seed: int = 3) -> ThermalData:
    """Two days at 1 min: power stepping between 0 and 900 W every 20-60 min, small noise."""
    rng = np.random.default_rng(seed)
    step, steps = 60.0, 48 * 60
    power = np.empty(steps)
    i = 0
    while i < steps:
        length = int(rng.integers(20, 60))
        power[i : i + length] = rng.uniform(0.0, 900.0)
        i += length
    model = ThermalPumpModel()
    temps = model.simulate(TRUE, power[None, :], np.array([[40.0, 25.0]]), step)[0, :-1]
    motor = temps[:, 0] + rng.normal(0, 0.05, steps)
    fluid = temps[:, 1] + rng.normal(0, 0.01, steps)
    return ThermalData(0.0, step, power, motor, fluid)


def test_recovers_known_parameters_within_two_percent() -> None:
    model = ThermalPumpModel()
    free = [*DEFAULT_FREE, "r_motor_ambient", "pump_fraction", "t_ambient"]
    result = model.calibrate(_synthetic(), free=free, fixed={"loss_fraction": 0.2}, holdout=0.2)
    for name in free:
        assert result.parameters[name] == pytest.approx(TRUE[name], rel=0.02), name
        estimate = result.estimates[name]
        assert estimate.low <= TRUE[name] <= estimate.high, name
    assert result.holdout_rmse["motor"] < 0.1 and result.holdout_rmse["fluid"] < 0.05


def test_vectorised_scenarios_match_an_ode_solver() -> None:
    """The exact zero-order-hold stepping agrees with scipy's adaptive integrator."""
    from scipy.integrate import solve_ivp

    model = ThermalPumpModel()
    rng = np.random.default_rng(0)
    power = rng.uniform(0, 900, size=(3, 120))  # two hours at 1-minute steps
    params = {**TRUE, "t_ambient": np.array([15.0, 22.0, 35.0])}
    out = model.simulate(params, power, np.array([40.0, 25.0]), 60.0)
    for s in range(3):
        p = {k: (v[s] if isinstance(v, np.ndarray) else v) for k, v in params.items()}

        def rhs(t: float, x: np.ndarray, p: dict = p, s: int = s) -> list[float]:
            u = power[s, min(int(t // 60.0), 119)]
            tm, tf = x
            dm = (
                p["loss_fraction"] * u
                - (tm - tf) / p["r_motor_fluid"]
                - (tm - p["t_ambient"]) / p["r_motor_ambient"]
            ) / p["c_motor"]
            df = (
                p["pump_fraction"] * u
                + (tm - tf) / p["r_motor_fluid"]
                - (tf - p["t_ambient"]) / p["r_fluid_ambient"]
            ) / p["c_fluid"]
            return [dm, df]

        ref = solve_ivp(
            rhs,
            (0, 7200),
            [40.0, 25.0],
            t_eval=np.arange(121) * 60.0,
            max_step=30.0,
            rtol=1e-8,
            atol=1e-8,
        )
        assert np.abs(ref.y.T - out[s]).max() < 0.01
    steady = steady_state(TRUE, 500.0)
    long_run = model.simulate(TRUE, np.full((1, 3000), 500.0), np.array([20.0, 20.0]), 600.0)
    assert long_run[0, -1] == pytest.approx(steady, abs=1e-3)


@pytest.fixture(scope="module")
def skab(embedded_home: Path, shared_data: Path) -> GraphStore:
    import uuid

    from thread.stores import open_store

    with open_store(f"embedded:{embedded_home}#skab{uuid.uuid4().hex[:8]}") as store:
        source = shared_data / "sensor/skab/anomaly-free/anomaly-free.csv"
        options = ImportOptions(mapping=MAPPINGS / "skab-pump.toml", create_missing=True)
        import_file(store, "telemetry", source, options)
        refresh_twins(store)
        yield store


def test_skab_calibration_beats_persistence_and_is_recorded(skab: GraphStore) -> None:
    [run] = api.calibrate(skab, "thermal-pump", TWIN)
    outputs = run.outputs
    for channel in ("motor", "fluid"):
        assert outputs["holdout_rmse"][channel] < outputs["persistence_rmse"][channel], channel
    assert outputs["holdout_rmse"]["fluid"] < 0.5 * outputs["persistence_rmse"]["fluid"]
    for name, estimate in outputs["estimates"].items():
        assert estimate["low"] < estimate["value"] < estimate["high"], name
        assert estimate["low"] > 0, name
    for name in ("c_fluid", "r_motor_fluid", "r_fluid_ambient"):  # the well-determined ones
        estimate = outputs["estimates"][name]
        assert estimate["high"] - estimate["low"] < 0.2 * estimate["value"], name
    assert run.kind == "calibration" and run.twins == [TWIN] and not run.reused
    assert run.channels == sorted(
        f"channel:SKAB-RIG/{c}" for c in ("Current", "Temperature", "Thermocouple", "Voltage")
    )
    model = skab.read(
        "MATCH (:SimulationRun {uid: $u})-[:USED_MODEL]->(m:SimulationModel) RETURN m.version AS v, m.parameter_schema AS s",
        {"u": run.uid},
    )
    assert model[0]["v"] == "1.0" and '"c_motor"' in model[0]["s"]
    held = read_output(skab, run)
    assert held.num_rows > 2000 and {"motor_measured", "motor_model"} <= set(held.column_names)
    again = api.calibrate(skab, "thermal-pump", TWIN)[0]
    assert again.reused and again.uid == run.uid
    forced = api.calibrate(skab, "thermal-pump", TWIN, force=True)[0]
    assert forced.uid != run.uid and not forced.reused


def test_what_if_derives_from_baseline_and_leaves_measurements_alone(skab: GraphStore) -> None:
    before = skab.read(
        "MATCH (c:Channel) RETURN c.uid AS uid, c.last_value AS v, c.count AS n ORDER BY uid"
    )
    result = api.run(
        skab, "thermal-pump", TWIN, what_if_items=["load=1.0,1.5", "t_ambient=35"], horizon=24
    )
    baseline, what_if = result.baseline, result.what_if
    assert what_if is not None
    assert baseline.kind == "baseline" and baseline.derived_from == result.calibration.uid
    assert what_if.kind == "what-if" and what_if.derived_from == baseline.uid
    scenarios = what_if.outputs["per_scenario"]
    assert [s["load"] for s in scenarios] == [1.0, 1.5]
    base_steady = baseline.outputs["per_scenario"][0]["steady_motor"]
    assert scenarios[1]["steady_motor"] > scenarios[0]["steady_motor"] > base_steady
    table = read_output(skab, what_if)
    assert table.num_rows == 2 * (24 * 60 + 1)
    after = skab.read(
        "MATCH (c:Channel) RETURN c.uid AS uid, c.last_value AS v, c.count AS n ORDER BY uid"
    )
    assert after == before
    assert api.run(
        skab, "thermal-pump", TWIN, what_if_items=["load=1.0,1.5", "t_ambient=35"], horizon=24
    ).what_if.reused
