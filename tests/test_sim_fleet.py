"""Fleet models on real run-to-failure data: RUL, Weibull reliability, age replacement,
and the `thread sim` commands over them.

Real data: NASA C-MAPSS FD001 training set (US Government work; ../shared/data/README.md).
Engines 1-80 are imported as units that ran to failure (status `failed`: their last cycle
is the failure); engines 81-100 are cut at a seeded random point, as NASA's test units
are, and imported as units in service, so their true RUL is known. The official test set
(test_FD001.txt, RUL_FD001.txt) is not available offline; bench/sim_bench.py reports the
cross-validated figures.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from thread.cli import main
from thread.pipeline.imports import ImportOptions, import_file
from thread.pipeline.twins import refresh_twins
from thread.queries.trace import trace
from thread.sim import api
from thread.sim.maintenance import optimal_age
from thread.sim.reliability import fit_weibull
from thread.stores import GraphStore, open_store
from thread.stores.falkordb_store import FalkorDBStore

MAPPINGS = Path(__file__).resolve().parents[1] / "examples" / "mappings"
FLEET = "atwin:CMAPSS-TURBOFAN/A"
FAST = {"folds": 3, "stride": 8}  # fewer folds and training points than the defaults: a quick test
runner = CliRunner()


def _train(shared_data: Path) -> np.ndarray:
    return np.loadtxt(shared_data / "sensor/cmapss/train_FD001.txt")


def _cuts(data: np.ndarray) -> dict[int, int]:
    """Engines 81-100: true RUL drawn in [7, 145] with at least 31 cycles seen (seeded)."""
    rng = np.random.default_rng(7)
    cuts = {}
    for engine in range(81, 101):
        life = int(data[data[:, 0] == engine, 1].max())
        cuts[engine] = int(rng.integers(7, min(145, life - 31) + 1))
    return cuts


@pytest.fixture(scope="module")
def cmapss(
    embedded_home: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GraphStore, str, dict[int, int]]]:
    data = _train(shared_data)
    cuts = _cuts(data)
    folder = tmp_path_factory.mktemp("cmapss")
    (folder / "parts.csv").write_text("part_number,name\nCMAPSS-TURBOFAN,Turbofan engine\n")
    (folder / "revisions.csv").write_text("part_number,revision\nCMAPSS-TURBOFAN,A\n")
    lines = ["part_number,serial,revision,build_date,status"]
    lines += [
        f"CMAPSS-TURBOFAN,FD001-{e},A,2008-01-01,{'failed' if e <= 80 else 'in_service'}"
        for e in range(1, 101)
    ]
    (folder / "units.csv").write_text("\n".join(lines) + "\n")
    source = (shared_data / "sensor/cmapss/train_FD001.txt").read_text().splitlines()
    kept = []
    for line in source:
        engine, cycle = (int(v) for v in line.split()[:2])
        life = int(data[data[:, 0] == engine, 1].max()) if engine > 80 else 0
        if engine <= 80 or cycle <= life - cuts[engine]:
            kept.append(line)
    (folder / "fleet_FD001.txt").write_text("\n".join(kept) + "\n")
    spec = f"embedded:{embedded_home}#cmapss{uuid.uuid4().hex[:8]}"
    with open_store(spec) as store:
        for kind, name in (
            ("parts", "parts.csv"),
            ("revisions", "revisions.csv"),
            ("units", "units.csv"),
        ):
            import_file(store, kind, folder / name)
        import_file(
            store,
            "telemetry",
            folder / "fleet_FD001.txt",
            ImportOptions(mapping=MAPPINGS / "cmapss-fd001.toml"),
        )
        refresh_twins(store)
        yield store, spec, cuts


@pytest.fixture(scope="module")
def fleet_rul(cmapss: tuple[GraphStore, str, dict[int, int]]) -> api.FleetRul:
    return api.rul(cmapss[0], FLEET, settings=FAST)


def test_rul_cross_validated_and_runs_link_to_their_units(
    cmapss: tuple[GraphStore, str, dict[int, int]], fleet_rul: api.FleetRul
) -> None:
    store, _, cuts = cmapss
    calibration = fleet_rul.calibration
    assert calibration.kind == "calibration" and calibration.twins == [FLEET]
    cv = calibration.outputs["cross_validation"]
    assert cv["rmse"] < 18.0 and cv["cases"] >= 700  # 80 units x 10 cuts, whole units held out
    assert len(calibration.channels) == 80 * 21  # every sensor channel of the failed units
    rows = fleet_rul.rows()
    assert len(rows) == 20
    errors = []
    for record in fleet_rul.predictions:
        engine = int(record.properties["unit"].rsplit("-", 1)[1])
        assert record.twins == [f"twin:CMAPSS-TURBOFAN/FD001-{engine}"]
        assert record.channels and all(
            c.startswith(f"channel:FD001-{engine}/") for c in record.channels
        )
        assert record.derived_from == calibration.uid and record.kind == "prediction"
        p10, p50, p90 = (record.properties[k] for k in ("rul_p10", "rul_p50", "rul_p90"))
        assert 0 <= p10 <= p50 <= p90
        errors.append(p50 - cuts[engine])
    rmse = math.sqrt(np.mean(np.square(errors)))
    assert rmse < 20.0, errors
    assert [r["rul_p50"] for r in rows] == sorted(r["rul_p50"] for r in rows)
    again = api.rul(store, FLEET, settings=FAST)
    assert again.calibration.reused and all(p.reused for p in again.predictions)
    unit = trace(store, "unit:CMAPSS-TURBOFAN/FD001-81", sections=("simulations",))
    runs = unit.sections["simulations"]
    assert [r["kind"] for r in runs] == ["prediction"] and runs[0]["rul_p50"] >= 0


def _direct_mle(t: np.ndarray, failed: np.ndarray) -> tuple[float, float]:
    """Weibull MLE from its profile equation, solved with a root finder (independent of
    scipy.stats): sum(t^b ln t)/sum(t^b) - 1/b - mean(ln t over failures) = 0."""
    from scipy.optimize import brentq

    logs = np.log(t)

    def score(b: float) -> float:
        w = t**b
        return float((w * logs).sum() / w.sum() - 1.0 / b - logs[failed].mean())

    beta = brentq(score, 0.05, 50.0, xtol=1e-12)
    eta = float(((t**beta).sum() / failed.sum()) ** (1.0 / beta))
    return beta, eta


def test_weibull_with_censoring_matches_direct_mle_and_ignoring_it_is_biased(
    shared_data: Path,
) -> None:
    data = _train(shared_data)
    lives = np.array([data[data[:, 0] == e, 1].max() for e in range(1, 101)])
    everything = np.ones(100, bool)
    fit = fit_weibull(lives, everything)
    beta, eta = _direct_mle(lives, everything)
    assert fit.shape.value == pytest.approx(beta, rel=0.01) and fit.scale.value == pytest.approx(
        eta, rel=0.01
    )
    assert fit.shape.low < beta < fit.shape.high
    # censored version: each engine observed only up to a random inspection age
    rng = np.random.default_rng(11)
    inspection = rng.uniform(120, 320, size=100)
    failed = lives <= inspection
    observed = np.minimum(lives, inspection)
    censored_fit = fit_weibull(observed, failed)
    beta_c, eta_c = _direct_mle(observed, failed)
    assert 20 <= (~failed).sum() <= 60
    assert censored_fit.shape.value == pytest.approx(beta_c, rel=0.01)
    assert censored_fit.scale.value == pytest.approx(eta_c, rel=0.01)
    assert censored_fit.scale.value == pytest.approx(eta, rel=0.05)  # close to the full-data answer
    naive = fit_weibull(observed, np.ones(100, bool))  # survivors taken as failures
    assert naive.scale.value < 0.93 * eta and naive.scale.high < censored_fit.scale.low
    dropped = fit_weibull(observed[failed], np.ones(failed.sum(), bool))  # survivors dropped
    assert dropped.scale.value < 0.9 * eta


def test_reliability_of_the_fleet_in_the_graph(
    cmapss: tuple[GraphStore, str, dict[int, int]], shared_data: Path
) -> None:
    store, _, cuts = cmapss
    data = _train(shared_data)
    lives = np.array([data[data[:, 0] == e, 1].max() for e in range(1, 101)])
    ages = np.array([lives[e - 1] - (cuts[e] if e > 80 else 0) for e in range(1, 101)])
    expected = fit_weibull(ages, np.arange(1, 101) <= 80)
    result = api.reliability(store, FLEET, horizon=20.0, age=150.0)
    [group] = result.groups
    assert result.time_unit == "cycles" and group.fit.failures == 80 and group.fit.censored == 20
    assert group.fit.shape.value == pytest.approx(expected.shape.value, rel=1e-6)
    assert group.fit.scale.value == pytest.approx(expected.scale.value, rel=1e-6)
    assert group.run.twins == [FLEET] and group.run.properties["weibull_shape"] == pytest.approx(
        expected.shape.value
    )
    assert 0 < group.expected_failures < 20
    assert group.reliability_at_age == pytest.approx(
        math.exp(-((150 / expected.scale.value) ** expected.shape.value))
    )


def test_age_replacement_matches_the_analytic_optimum() -> None:
    """Optimality of T: h(T) * integral_0^T R - F(T) = cp / (cf - cp) (Barlow and Proschan)."""
    from scipy.integrate import quad
    from scipy.optimize import brentq

    beta, eta, cp, cf = 2.5, 1000.0, 1.0, 8.0

    def condition(t: float) -> float:
        hazard = beta / eta * (t / eta) ** (beta - 1)
        integral = quad(lambda s: math.exp(-((s / eta) ** beta)), 0, t)[0]
        return hazard * integral - (1 - math.exp(-((t / eta) ** beta))) - cp / (cf - cp)

    analytic = brentq(condition, 1.0, 5 * eta, xtol=1e-10)
    policy = optimal_age(beta, eta, cp, cf)
    assert policy.interval == pytest.approx(analytic, rel=1e-4)
    assert policy.cost_rate < policy.run_to_failure_cost_rate
    assert optimal_age(1.0, eta, cp, cf).interval is None  # constant hazard: run to failure


def test_recommendation_ranks_due_units(
    cmapss: tuple[GraphStore, str, dict[int, int]], fleet_rul: api.FleetRul
) -> None:
    store, _, _ = cmapss
    result = api.recommend(store, FLEET, cost_planned=1.0, cost_failure=10.0, horizon=20.0)
    assert result.policy.interval is not None and result.time_unit == "cycles"
    predicted = {r["unit"]: r["rul_p50"] for r in fleet_rul.rows()}
    due = {c.unit for c in result.due}
    assert {u for u, p50 in predicted.items() if p50 <= 20.0} <= due
    for candidate in result.due:
        assert candidate.past_interval or candidate.rul_within_horizon
    probabilities = [c.failure_probability for c in result.due]
    assert probabilities == sorted(probabilities, reverse=True)
    weibull_run = api.reliability(store, FLEET, horizon=20.0).groups[0].run
    assert result.run.derived_from == weibull_run.uid
    assert result.run.properties["due_units"] == [c.unit for c in result.due]


def test_pump_fleet_reliability_by_failure_mode(pump_fleet: GraphStore) -> None:
    result = api.reliability(pump_fleet, "atwin:P-100/A", by_mode=True, horizon=90.0)
    groups = {g.group: g for g in result.groups}
    assert result.time_unit == "days"
    assert groups["BRG-WEAR"].fit.failures == 4 and groups["SEAL-LEAK"].fit.failures == 2
    assert (
        groups["BRG-WEAR"].fit.censored == 24 - 4 + 4
    )  # every pump's open life, incl. after repairs


def test_cli_over_the_fleet(
    cmapss: tuple[GraphStore, str, dict[int, int]], fleet_rul: api.FleetRul, tmp_path: Path
) -> None:
    _, spec, _ = cmapss
    store_arg = ["--store", spec]
    models = runner.invoke(main.app, [*store_arg, "sim", "models", "--json"])
    assert models.exit_code == 0, models.stderr
    assert {m["model"] for m in json.loads(models.stdout)} == {
        "age-replacement",
        "rul-kernel",
        "thermal-pump",
        "weibull",
    }
    plot = tmp_path / "rul.png"
    shown = runner.invoke(
        main.app,
        [
            *store_arg,
            "sim",
            "rul",
            FLEET,
            "--set",
            "folds=3",
            "--set",
            "stride=8",
            "--plot",
            str(plot),
        ],
    )
    assert shown.exit_code == 0, shown.stderr
    assert "FD001-" in shown.stdout and plot.stat().st_size > 10_000
    reliability = runner.invoke(
        main.app,
        [*store_arg, "sim", "reliability", FLEET, "--plot", str(tmp_path / "r.png"), "--json"],
    )
    assert (
        reliability.exit_code == 0 and json.loads(reliability.stdout)["groups"][0]["failures"] == 80
    )
    recommend = runner.invoke(
        main.app,
        [
            *store_arg,
            "sim",
            "recommend",
            FLEET,
            "--cost-planned",
            "1",
            "--cost-failure",
            "10",
            "--horizon",
            "20",
        ],
    )
    assert recommend.exit_code == 0 and "replace at age" in recommend.stdout
    runs = json.loads(
        runner.invoke(
            main.app,
            [*store_arg, "sim", "runs", "--twin", "twin:CMAPSS-TURBOFAN/FD001-90", "--json"],
        ).stdout
    )
    assert [r["kind"] for r in runs] == ["prediction"]
    show = runner.invoke(main.app, [*store_arg, "sim", "show", runs[0]["run_id"], "--json"])
    assert json.loads(show.stdout)["derived_from"] == fleet_rul.calibration.uid
    other = fleet_rul.predictions[0].run_id
    compared = runner.invoke(
        main.app, [*store_arg, "sim", "compare", runs[0]["run_id"], other, "--json"]
    )
    assert compared.exit_code == 0 and any(
        r["property"] == "rul_p50" for r in json.loads(compared.stdout)["properties"]
    )
    missing = runner.invoke(main.app, [*store_arg, "sim", "show", "no-such-run"])
    assert missing.exit_code == 1 and "no simulation run" in missing.stderr
    unknown = runner.invoke(
        main.app, [*store_arg, "sim", "calibrate", "thermal", "twin:CMAPSS-TURBOFAN/FD001-90"]
    )
    assert unknown.exit_code == 1 and "thermal-pump" in unknown.stderr


def test_cli_evaluate_scores_labelled_files(shared_data: Path, tmp_path: Path) -> None:
    """evaluate reads NASA's layout (train, test cut before failure, one truth per unit),
    imports nothing; here the test and truth files are cut from engines 81-100."""
    data = _train(shared_data)
    cuts = _cuts(data)
    train = [row for row in data if row[0] <= 80]
    test, truth = [], []
    for engine in range(81, 101):
        rows = data[data[:, 0] == engine]
        life = int(rows[:, 1].max())
        test.extend(rows[rows[:, 1] <= life - cuts[engine]])
        truth.append(cuts[engine])
    fmt = ["%d", "%d", *["%.4f"] * 24]
    np.savetxt(tmp_path / "train.txt", np.array(train), fmt=fmt)
    np.savetxt(tmp_path / "test.txt", np.array(test), fmt=fmt)
    (tmp_path / "truth.txt").write_text("\n".join(str(v) for v in truth) + "\n")
    result = runner.invoke(
        main.app,
        ["sim", "evaluate", "rul", "--train", str(tmp_path / "train.txt"), "--test", str(tmp_path / "test.txt"),
         "--truth", str(tmp_path / "truth.txt"), "--mapping", "cmapss", "--set", "folds=2", "--set", "stride=12", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["units"] == 20 and scores["rmse"] < 20 and len(scores["predictions"]) == 20
    assert scores["predictions"][0]["true_rul"] == cuts[81]
    assert scores["nasa_score"] > 0 and scores["mae"] <= scores["rmse"]


def test_sim_commands_follow_the_exit_code_rule(pump_fleet: GraphStore) -> None:
    """An unknown twin is not found (1), a --by that is not a choice a usage error (2)."""
    if not isinstance(pump_fleet, FalkorDBStore):
        pytest.skip("the CLI tests drive the embedded store")
    store_arg = ["--store", f"embedded:{pump_fleet.folder}#{pump_fleet.graph_name}"]
    unknown = runner.invoke(main.app, [*store_arg, "sim", "runs", "--twin", "twin:NOPE"])
    assert unknown.exit_code == 1 and "no entity with uid 'twin:NOPE'" in unknown.stderr
    assert unknown.stdout == ""
    known = runner.invoke(main.app, [*store_arg, "sim", "runs", "--twin", "twin:P-100/SN-0012"])
    assert known.exit_code == 0, known.stderr
    by = runner.invoke(main.app, [*store_arg, "sim", "reliability", "atwin:P-100/B", "--by", "bogus"])  # fmt: skip
    assert by.exit_code == 2 and "'bogus' is not failure-mode" in by.stderr
