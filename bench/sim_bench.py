"""Simulation benchmarks and the measured accuracy figures of the models, in one run.

- Thermal what-if Monte Carlo: 10,000 scenarios (parameters drawn from the SKAB
  calibration's intervals, load, ambient and duty cycle drawn at random) over 24 h at
  1-minute steps, vectorised, against a per-scenario `scipy.integrate.solve_ivp` loop on a
  subset (RK45 with the step held under the 1-minute input switches). Target: >= 50x
  faster per scenario, the same temperatures to 0.1 K.
- RUL for a fleet of 10,000 units end to end on the embedded store: a fleet of the 100
  FD001 training engines (status failed) and 10,000 units in service (FD001 trajectories
  cut at random points), imported through the telemetry importer (not timed), then
  `sim.api.rul` timed twice: first read the graph and the Parquet telemetry, train on the
  100 failed engines (5-fold cross-validation included), predict and record 10,001 runs;
  then predict and record the 10,000 runs again (forced) with the recorded calibration:
  read, predict, record. Target: under 30 s.
- Thermal calibration on 1,000,000 samples (11.6 days at 1 Hz, simulated with known
  parameters plus noise). Target: under 5 s.
- Accuracy: the thermal fit on SKAB (parameters with 95 % intervals, held-out RMSE vs
  persistence); the RUL model cross-validated on FD001 train by unit with the test protocol
  emulated (seeds 1-3; settings were chosen on seed 0); the Weibull of the FD001 lives.

    python bench/sim_bench.py [--units 10000] [--scenarios 10000] [--samples 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from thread.pipeline.imports import ImportOptions, import_file  # noqa: E402
from thread.pipeline.twins import refresh_twins  # noqa: E402
from thread.sim import api  # noqa: E402
from thread.sim.reliability import fit_weibull  # noqa: E402
from thread.sim.rul import History, KernelRulModel, cross_validate  # noqa: E402
from thread.sim.thermal import ThermalData, ThermalPumpModel  # noqa: E402
from thread.stores import open_store  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
MAPPINGS = ROOT / "examples" / "mappings"
SENSORS = [
    "s2",
    "s3",
    "s4",
    "s7",
    "s8",
    "s9",
    "s11",
    "s12",
    "s13",
    "s14",
    "s15",
    "s17",
    "s20",
    "s21",
]


def thermal_accuracy(folder: Path) -> dict[str, object]:
    with open_store(f"embedded:{folder}") as store:
        source = DATA / "sensor/skab/anomaly-free/anomaly-free.csv"
        import_file(
            store,
            "telemetry",
            source,
            ImportOptions(mapping=MAPPINGS / "skab-pump.toml", create_missing=True),
        )
        refresh_twins(store)
        [run] = api.calibrate(store, "thermal-pump", "twin:SKAB-PUMP/RIG-1")
    return run.outputs


def monte_carlo(calibration: dict[str, object], scenarios: int, subset: int) -> dict[str, float]:
    from scipy.integrate import solve_ivp

    model = ThermalPumpModel()
    rng = np.random.default_rng(0)
    estimates = calibration["estimates"]
    params: dict[str, object] = dict(calibration["parameters"])  # type: ignore[arg-type]
    for name, e in estimates.items():  # type: ignore[union-attr]
        sigma = (np.log(e["high"]) - np.log(e["low"])) / (2 * 1.959964)
        params[name] = e["value"] * np.exp(rng.normal(0.0, sigma, scenarios))
    load = rng.uniform(0.8, 1.3, scenarios)
    duty = rng.uniform(0.5, 1.0, scenarios)
    params["t_ambient"] = rng.uniform(15.0, 40.0, scenarios)
    mean_power, initial = 550.0, np.array([89.0, 29.4])
    start = time.perf_counter()
    result = model.what_if(
        params, mean_power=mean_power, initial=initial, horizon_h=24.0,
        scenarios={"load": load, "duty": duty, "duty_period": np.full(scenarios, 60.0)},
    )  # fmt: skip
    vectorised = time.perf_counter() - start
    from thread.sim.thermal import scenario_power

    power = scenario_power(mean_power, load[:subset], duty[:subset], np.full(subset, 60.0), 1440)
    worst = 0.0
    start = time.perf_counter()
    for s in range(subset):
        p = {k: (v[s] if isinstance(v, np.ndarray) else v) for k, v in params.items()}
        u = power[s]

        def rhs(t: float, x: np.ndarray, p: dict = p, u: np.ndarray = u) -> list[float]:
            q = u[min(int(t // 60.0), 1439)]
            tm, tf = x
            dm = (
                p["loss_fraction"] * q
                - (tm - tf) / p["r_motor_fluid"]
                - (tm - p["t_ambient"]) / p["r_motor_ambient"]
            ) / p["c_motor"]
            df = (
                p["pump_fraction"] * q
                + (tm - tf) / p["r_motor_fluid"]
                - (tf - p["t_ambient"]) / p["r_fluid_ambient"]
            ) / p["c_fluid"]
            return [dm, df]

        ref = solve_ivp(
            rhs,
            (0.0, 86400.0),
            initial,
            t_eval=np.arange(1441) * 60.0,
            max_step=60.0,
            rtol=1e-6,
            atol=1e-6,
        )
        worst = max(worst, float(np.abs(ref.y.T - result.temperatures[s]).max()))
    loop = time.perf_counter() - start
    per_vector, per_loop = vectorised / scenarios, loop / subset
    return {"scenarios": scenarios, "vectorised_s": vectorised, "per_scenario_vectorised_ms": per_vector * 1e3,
            "solve_ivp_subset": subset, "per_scenario_solve_ivp_ms": per_loop * 1e3,
            "speedup_per_scenario": per_loop / per_vector, "max_difference_K": worst,
            "reach_limit_fraction": float(np.isfinite(result.time_to_limit).mean())}  # fmt: skip


def calibration_speed(samples: int) -> dict[str, float]:
    model = ThermalPumpModel()
    rng = np.random.default_rng(1)
    true = {
        **model.defaults(),
        "c_motor": 12_000.0,
        "c_fluid": 250_000.0,
        "r_motor_fluid": 0.5,
        "r_fluid_ambient": 0.04,
    }
    power = np.repeat(rng.uniform(200, 900, samples // 1800 + 1), 1800)[:samples]
    temps = model.simulate(true, power[None, :], np.array([[60.0, 28.0]]), 1.0)[0, :-1]
    data = ThermalData(
        0.0,
        1.0,
        power,
        temps[:, 0] + rng.normal(0, 0.2, samples),
        temps[:, 1] + rng.normal(0, 0.02, samples),
    )
    start = time.perf_counter()
    result = model.calibrate(data)
    seconds = time.perf_counter() - start
    errors = {k: abs(result.parameters[k] / true[k] - 1) for k in result.estimates}
    return {
        "samples": samples,
        "seconds": seconds,
        "fit_points": result.fit_points,
        "max_relative_error": max(errors.values()),
    }


def rul_accuracy() -> dict[str, object]:
    data = np.loadtxt(DATA / "sensor/cmapss/train_FD001.txt")
    names = [f"s{i}" for i in range(1, 22)]
    index = [names.index(s) for s in SENSORS]
    histories = [
        History(str(u), d[:, 1], d[:, 5:26][:, index], True)
        for u in range(1, 101)
        for d in [data[data[:, 0] == u]]
    ]
    model = KernelRulModel()
    runs = {
        seed: cross_validate(model, histories, model.settings(), seed=seed, cuts=5).metrics()
        for seed in (1, 2, 3)
    }
    mean = {
        k: float(np.mean([r[k] for r in runs.values()]))
        for k in ("rmse", "nasa_score_per_100_units", "mae")
    }
    lives = np.array([data[data[:, 0] == u, 1].max() for u in range(1, 101)])
    weibull = fit_weibull(lives, np.ones(100, bool), "cycles").summary()
    return {"per_seed": runs, "mean": mean, "weibull_fd001": weibull}


def fleet(folder: Path, units: int) -> dict[str, float]:
    data = np.loadtxt(DATA / "sensor/cmapss/train_FD001.txt")
    rng = np.random.default_rng(5)
    rows = ["part_number,serial,revision,build_date,status"]
    rows += [f"CMAPSS-TURBOFAN,FD001-{e},A,2008-01-01,failed" for e in range(1, 101)]
    rows += [f"CMAPSS-TURBOFAN,FD001-{e},A,2008-01-01,in_service" for e in range(101, 101 + units)]
    (folder / "units.csv").write_text("\n".join(rows) + "\n")
    (folder / "parts.csv").write_text("part_number\nCMAPSS-TURBOFAN\n")
    (folder / "revisions.csv").write_text("part_number,revision\nCMAPSS-TURBOFAN,A\n")
    blocks = [data]
    for e in range(101, 101 + units):
        source = data[data[:, 0] == rng.integers(1, 101)]
        cut = int(rng.integers(31, len(source) - 6))
        block = source[:cut].copy()
        block[:, 0] = e
        blocks.append(block)
    table = np.vstack(blocks)
    fmt = ["%d", "%d", *["%.4f"] * 24]
    np.savetxt(folder / "fleet.txt", table, fmt=fmt)
    mapping = (MAPPINGS / "cmapss-fd001.toml").read_text()
    mapping = mapping.replace(
        'sensor = "FD001-{engine}"',
        f'sensor = "FD001-{{engine}}"\nchannels = {json.dumps(SENSORS)}',
    )
    (folder / "fleet.toml").write_text(mapping)
    with open_store(f"embedded:{folder / 'store'}") as store:
        start = time.perf_counter()
        for kind, name in (
            ("parts", "parts.csv"),
            ("revisions", "revisions.csv"),
            ("units", "units.csv"),
        ):
            import_file(store, kind, folder / name)
        import_file(
            store, "telemetry", folder / "fleet.txt", ImportOptions(mapping=folder / "fleet.toml")
        )
        refresh_twins(store)
        setup = time.perf_counter() - start
        start = time.perf_counter()
        first = api.rul(store, "atwin:CMAPSS-TURBOFAN/A")
        cold = time.perf_counter() - start
        start = time.perf_counter()
        again = api.rul(store, "atwin:CMAPSS-TURBOFAN/A", force=True, retrain=False)
        forced = time.perf_counter() - start
    return {"units_in_service": units, "samples": int(len(table) * len(SENSORS)), "setup_import_s": setup,
            "first_rul_s (read, train, predict, record)": cold, "predictions": len(first.predictions),
            "rerun_with_recorded_calibration_s (read, predict, record)": forced, "recorded_again": len(again.predictions)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--scenarios", type=int, default=10_000)
    parser.add_argument("--subset", type=int, default=20)
    parser.add_argument("--samples", type=int, default=1_000_000)
    args = parser.parse_args()
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="thread-sim-bench-") as tmp:
        folder = Path(tmp)
        (folder / "skab").mkdir()
        calibration = thermal_accuracy(folder / "skab")
        report["thermal_skab"] = {
            k: calibration[k]
            for k in ("estimates", "fixed", "holdout_rmse", "persistence_rmse", "samples")
        }
        print(json.dumps({"thermal_skab": report["thermal_skab"]}, indent=1), flush=True)
        report["monte_carlo"] = monte_carlo(calibration, args.scenarios, args.subset)
        print(json.dumps({"monte_carlo": report["monte_carlo"]}, indent=1), flush=True)
        report["calibration_1M"] = calibration_speed(args.samples)
        print(json.dumps({"calibration": report["calibration_1M"]}, indent=1), flush=True)
        report["rul_cv_fd001"] = rul_accuracy()
        print(json.dumps({"rul_cv_fd001": report["rul_cv_fd001"]}, indent=1), flush=True)
        (folder / "fleet").mkdir()
        report["fleet_rul"] = fleet(folder / "fleet", args.units)
        print(json.dumps({"fleet_rul": report["fleet_rul"]}, indent=1), flush=True)


if __name__ == "__main__":
    main()
