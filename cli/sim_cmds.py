"""`thread sim …`: models, calibration, runs, RUL, reliability, recommendations, evaluation.

Thin: each command parses its options, calls one function of `sim.api` (or sim.cmapss
for `evaluate`) and renders the result; numbers and plots come from the library. `run`
has a view for each built-in model's result and a plain one for a registered model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from thread.cli import output
from thread.cli.output import err, literal, out, print_json, progress_reporter, rows_table
from thread.cli.state import AppState

app = typer.Typer(
    help="Simulation: models calibrated on the thread's telemetry, what-if, RUL, reliability.",
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print JSON.")
FORCE = typer.Option(False, "--force", help="Run again even if the same run is recorded.")
PLOT = typer.Option(None, "--plot", help="Write a PNG plot to this file.", dir_okay=False)
TWIN = typer.Argument(..., help="twin:PART/SERIAL, atwin:PART/REV (a fleet) or part:PART.")


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _plotted(path: Path) -> None:
    err.print(f"plot written to {path}", markup=False)


@app.command("models")
def models_cmd(json_output: bool = JSON) -> None:
    """The registered models with their parameters, roles and operations."""
    from thread.sim.api import list_models

    models = list_models()
    if json_output:
        print_json(models)
        return
    for model in models:
        out.print(f"[bold]{literal(model['model'])}[/] " + literal(f"{model['version']} ({model['twin']} twin; "
                  f"{', '.join(model['operations'])}): {model['description']}"))  # fmt: skip
        rows = [{"parameter": p["name"], "unit": p["unit"], "default": p["default"],
                 "bounds": f"[{p['lower']:g}, {p['upper']:g}]", "kind": kind, "description": p["description"]}
                for kind in ("parameters", "scenario") for p in model[kind]]  # fmt: skip
        if rows:
            out.print(rows_table(rows))
        for role in model["roles"]:
            what = f"quantity {role['quantity']}" if role["quantity"] else "every channel"
            described = f"{role['description']} ({what})"
            out.print(f"  role [cyan]{literal(role['name'])}[/]: {literal(described)}")


@app.command("calibrate")
def calibrate_cmd(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model name (see `thread sim models`)."),
    twin: str = TWIN,
    channel: list[str] = typer.Option(
        [], "--channel", help="ROLE=CHANNEL_UID when a role is ambiguous."
    ),
    set_: list[str] = typer.Option(
        [], "--set", help="P=V: hold a parameter at a value (not fitted)."
    ),
    free: list[str] = typer.Option([], "--free", help="Fit only these parameters (repeatable)."),
    holdout: float = typer.Option(
        0.3, "--holdout", help="Share of the record held out to score the fit."
    ),
    by_mode: bool = typer.Option(
        False, "--by-failure-mode", help="Weibull: one fit per failure mode."
    ),
    force: bool = FORCE,
    json_output: bool = JSON,
) -> None:
    """Fit a model to a twin's telemetry and history; the run is recorded in the graph."""
    from thread.sim.api import calibrate
    from thread.sim.model import parse_assignments

    state: AppState = ctx.obj
    channels = dict(item.split("=", 1) for item in channel if "=" in item)
    fixed = {k: v[0] for k, v in parse_assignments(set_).items()}
    with progress_reporter(not state.quiet and not json_output) as progress:
        records = calibrate(state.store(), model, twin, channels=channels, fixed=fixed, free=free or None,
                            holdout=holdout, by_mode=by_mode, force=force, progress=progress)  # fmt: skip
    if json_output:
        print_json([r.to_dict() for r in records])
        return
    for record in records:
        _show_run(record)


def _show_run(record: Any) -> None:
    note = " (recorded before; --force to rerun)" if record.reused else ""
    what = f"{record.kind} of {record.model} on {', '.join(record.twins)}{note}"
    out.print(f"[bold]{literal(record.run_id)}[/] {literal(what)}")
    outputs = record.outputs
    estimates = outputs.get("estimates")
    if estimates:
        rows = [{"parameter": name, "value": _number(e["value"], 4), "95% low": _number(e["low"], 4),
                 "95% high": _number(e["high"], 4)} for name, e in estimates.items()]  # fmt: skip
        rows += [
            {"parameter": f"{k} (fixed)", "value": _number(v, 4)}
            for k, v in outputs.get("fixed", {}).items()
        ]
        out.print(rows_table(rows, title="parameters"))
        fit = [{"temperature": ch, "held-out RMSE (K)": _number(outputs["holdout_rmse"][ch]),
                "persistence RMSE (K)": _number(outputs["persistence_rmse"][ch]),
                "train RMSE (K)": _number(outputs["train_rmse"][ch])} for ch in ("motor", "fluid")]  # fmt: skip
        out.print(rows_table(fit, title="fit quality (open-loop forecast of the held-out segment)"))
        return
    summary = {k: v for k, v in record.properties.items()
               if k not in ("parameters", "outputs", "input_checksums", "uid", "run_id", "kind", "model")}  # fmt: skip
    out.print(rows_table([{"property": k, "value": _number(v, 5) if isinstance(v, float) else v}
                          for k, v in sorted(summary.items())]))  # fmt: skip


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model name (see `thread sim models`)."),
    twin: str = TWIN,
    set_: list[str] = typer.Option(
        [], "--set", help="P=V for the baseline (parameter or scenario variable)."
    ),
    what_if: list[str] = typer.Option(
        [], "--what-if", help="P=V[,V…]: the what-if's change; several values sweep."
    ),
    horizon: float | None = typer.Option(
        None, "--horizon", help="Horizon (hours for thermal; days or cycles otherwise)."
    ),
    force: bool = FORCE,
    plot: Path | None = PLOT,
    json_output: bool = JSON,
) -> None:
    """Run a model on a twin: the thermal baseline and what-if, or a model's prediction."""
    from thread.sim.api import FleetRul, Recommendation, ReliabilityResult, ThermalRun, run

    state: AppState = ctx.obj
    with progress_reporter(not state.quiet and not json_output) as progress:
        result = run(state.store(), model, twin, set_items=set_, what_if_items=what_if, horizon=horizon,
                     force=force, progress=progress)  # fmt: skip
    if isinstance(result, ThermalRun):
        if plot:
            _plot_thermal(state, result, plot)
        if json_output:
            print_json(result.to_dict())
            return
        for record in (result.baseline, result.what_if):
            if record is not None:
                _show_thermal(record)
    elif isinstance(result, FleetRul):
        _render_rul(result, plot, json_output)
    elif isinstance(result, ReliabilityResult):
        _render_reliability(result, plot, json_output)
    elif isinstance(result, Recommendation):
        _render_recommendation(result, json_output)
    else:
        _render_other(model, result, plot, json_output)


def _render_other(model: str, result: Any, plot: Path | None, json_output: bool) -> None:
    """The result of a model the CLI has no view of (one a script registered): a run as
    `thread sim show` prints it, anything else as its `to_dict()` property by property."""
    from thread.sim.runs import RunRecord

    if plot:
        err.print(f"--plot: no plot for the results of {model}", markup=False)
    if json_output:
        print_json(result.to_dict())
    elif isinstance(result, RunRecord):
        _show_run(result)
    else:
        rows = [{"property": k, "value": _number(v, 5) if isinstance(v, float) else v}
                for k, v in result.to_dict().items()]  # fmt: skip
        out.print(rows_table(rows))


def _show_thermal(record: Any) -> None:
    note = " (recorded before; --force to rerun)" if record.reused else ""
    base = (
        f", derived from {record.derived_from.removeprefix('simrun:')}"
        if record.derived_from
        else ""
    )
    out.print(f"[bold]{literal(record.run_id)}[/] {literal(f'{record.kind}{base}{note}')}")
    rows = []
    for scenario in record.outputs.get("per_scenario", []):
        row = {
            k: _number(v)
            for k, v in scenario.items()
            if k not in ("steady_motor", "steady_fluid", "max_motor", "time_to_limit_h")
        }
        row.update({"max motor (degC)": _number(scenario["max_motor"], 4),
                    "steady motor (degC)": _number(scenario["steady_motor"], 4),
                    "steady fluid (degC)": _number(scenario["steady_fluid"], 4),
                    "time to limit (h)": _number(scenario["time_to_limit_h"]) or "not reached"})  # fmt: skip
        rows.append(row)
    out.print(rows_table(rows))
    out.print(
        f"  limit {record.outputs.get('limit_degC')} degC, horizon {record.outputs.get('horizon_h')} h",
        markup=False,
    )


def _plot_thermal(state: AppState, result: Any, path: Path) -> None:
    from thread.sim.plots import plot_thermal
    from thread.sim.runs import read_output

    store = state.store()
    baseline = read_output(store, result.baseline)
    what_if = read_output(store, result.what_if) if result.what_if else None
    labels = []
    if result.what_if:
        scenarios = result.what_if.outputs.get("per_scenario", [])
        derived = ("steady_motor", "steady_fluid", "max_motor", "time_to_limit_h")
        varying = [k for k in (scenarios[0] if scenarios else {}) if k not in derived
                   and len({s[k] for s in scenarios}) > 1]  # fmt: skip
        labels = [", ".join(f"{k}={s[k]:g}" for k in varying) or "what-if" for s in scenarios]
    limit = float(result.baseline.outputs.get("limit_degC", 100.0))
    plot_thermal(
        baseline, what_if, limit, path, f"{result.baseline.twins[0]}: thermal what-if", labels
    )
    _plotted(path)


@app.command("rul")
def rul_cmd(
    ctx: typer.Context,
    twin: str = TWIN,
    set_: list[str] = typer.Option([], "--set", help="P=V: a setting of the RUL model."),
    force: bool = FORCE,
    plot: Path | None = PLOT,
    json_output: bool = JSON,
) -> None:
    """Remaining useful life of a unit, or of every unit in service of a fleet, with intervals."""
    from thread.sim.api import rul
    from thread.sim.model import parse_assignments

    state: AppState = ctx.obj
    settings = {k: v[0] for k, v in parse_assignments(set_).items()}
    with progress_reporter(not state.quiet and not json_output) as progress:
        result = rul(state.store(), twin, settings=settings, force=force, progress=progress)
    _render_rul(result, plot, json_output)


def _render_rul(result: Any, plot: Path | None, json_output: bool) -> None:
    rows = result.rows()
    if plot:
        from thread.sim.plots import plot_rul

        plot_rul(rows, plot, f"RUL of {result.twin}", result.time_unit)
        _plotted(plot)
    if json_output:
        print_json(result.to_dict())
        return
    cv = result.calibration.outputs.get("cross_validation", {})
    out.print(f"calibration {result.calibration.run_id}: {result.calibration.outputs.get('training_units')} "
              f"run-to-failure units, cross-validated RMSE {_number(cv.get('rmse'))} {result.time_unit}", markup=False)  # fmt: skip
    table = Table(
        title=literal(f"RUL ({result.time_unit}), most urgent first"), title_justify="left"
    )
    for column in ("unit", "age", "p10", "p50", "p90"):
        table.add_column(column, justify="left" if column == "unit" else "right", overflow="fold")
    for row in rows:
        table.add_row(literal(str(row["unit"]).removeprefix("unit:")), _number(row["age"], 4), _number(row["rul_p10"], 3),
                      _number(row["rul_p50"], 3), _number(row["rul_p90"], 3))  # fmt: skip
    out.print(table)
    if not rows:
        out.print(
            "no unit in service to predict (units with status 'failed' are the training histories)"
        )


@app.command("reliability")
def reliability_cmd(
    ctx: typer.Context,
    twin: str = TWIN,
    by: str | None = typer.Option(None, "--by", help="failure-mode: one fit per failure mode."),
    horizon: float = typer.Option(
        30.0, "--horizon", help="Look-ahead for expected failures (days or cycles)."
    ),
    age: float | None = typer.Option(
        None, "--age", help="Also report the reliability at this age."
    ),
    force: bool = FORCE,
    plot: Path | None = PLOT,
    json_output: bool = JSON,
) -> None:
    """Weibull reliability of a fleet from its maintenance history and ages (censored)."""
    from thread.sim.api import reliability

    if by not in (None, "failure-mode"):
        raise typer.BadParameter(f"{by!r} is not failure-mode", param_hint="--by")
    state: AppState = ctx.obj
    result = reliability(
        state.store(), twin, by_mode=by == "failure-mode", horizon=horizon, age=age, force=force
    )
    _render_reliability(result, plot, json_output)


def _render_reliability(result: Any, plot: Path | None, json_output: bool) -> None:
    if plot:
        from thread.sim.plots import plot_reliability

        plot_reliability(result.groups, plot, f"Reliability of {result.twin}", result.time_unit)
        _plotted(plot)
    if json_output:
        print_json(result.to_dict())
        return
    unit = result.time_unit
    table = Table(
        title=literal(f"Weibull reliability of {result.twin} (ages in {unit}, 95 % intervals)"),
        title_justify="left",
    )
    for column in (
        "group",
        "failures",
        "censored",
        "shape β",
        "scale η",
        "B10",
        "expected failures",
        "run",
    ):
        table.add_column(column, overflow="fold")
    for g in result.groups:
        f = g.fit
        table.add_row(literal(g.group), str(f.failures), str(f.censored),
                      literal(f"{f.shape.value:.3g} [{f.shape.low:.3g}, {f.shape.high:.3g}]"),
                      literal(f"{f.scale.value:.4g} [{f.scale.low:.4g}, {f.scale.high:.4g}]"),
                      literal(f"{f.b10.value:.4g} [{f.b10.low:.4g}, {f.b10.high:.4g}]"),
                      f"{g.expected_failures:.2f} in {result.horizon:g}", literal(g.run.run_id))  # fmt: skip
    out.print(table)
    if result.age:
        for g in result.groups:
            out.print(
                f"  {g.group}: reliability at age {result.age:g} = {g.reliability_at_age:.3f}",
                markup=False,
            )
    for group, reason in result.skipped.items():
        err.print(f"[yellow]skipped[/] {literal(f'{group}: {reason}')}")


@app.command("recommend")
def recommend_cmd(
    ctx: typer.Context,
    twin: str = TWIN,
    cost_planned: float = typer.Option(
        ..., "--cost-planned", help="Cost of a planned replacement."
    ),
    cost_failure: float = typer.Option(
        ..., "--cost-failure", help="Cost of a replacement after failure."
    ),
    horizon: float = typer.Option(30.0, "--horizon", help="Look-ahead (days or cycles)."),
    force: bool = FORCE,
    json_output: bool = JSON,
) -> None:
    """The cost-optimal replacement age and the units to act on, most urgent first."""
    from thread.sim.api import recommend

    state: AppState = ctx.obj
    result = recommend(state.store(), twin, cost_planned=cost_planned, cost_failure=cost_failure,
                       horizon=horizon, force=force)  # fmt: skip
    _render_recommendation(result, json_output)


def _render_recommendation(result: Any, json_output: bool) -> None:
    if json_output:
        print_json(result.to_dict())
        return
    policy, unit = result.policy, result.time_unit
    if policy.interval is None:
        out.print(
            f"run to failure: replacing early does not pay (Weibull shape {result.fit.shape.value:.2f})"
        )
    else:
        out.print(f"replace at age [bold]{policy.interval:.4g}[/] " + literal(f"{unit}: cost rate {policy.cost_rate:.4g} per {unit} "
                  f"vs {policy.run_to_failure_cost_rate:.4g} run to failure ({policy.saving:.0%} saved)"))  # fmt: skip
    rows = [{"unit": c.unit, "age": _number(c.age, 4), f"P(fail within {result.horizon:g})": _number(c.failure_probability),
             "RUL p50": _number(c.rul_p50), "why": c.reason} for c in result.due]  # fmt: skip
    out.print(
        rows_table(rows, title=f"due units ({len(rows)}), run {result.run.run_id}")
        if rows
        else "no unit is due"
    )


RUN_COLUMNS = ("run_id", "kind", "model", "twin", "status", "finished")


@app.command("runs")
def runs_cmd(
    ctx: typer.Context,
    twin: str | None = typer.Option(None, "--twin", help="Only runs that simulated this twin."),
    limit: int = typer.Option(200, "--limit", help="At most this many runs."),
    json_output: bool = JSON,
    csv_output: bool = output.CSV,
) -> None:
    """Recorded simulation runs, newest first."""
    from thread.sim.runs import list_runs

    output.check_formats(json_output, csv_output)
    state: AppState = ctx.obj
    rows = list_runs(state.store(), twin, limit)
    if json_output:
        print_json(rows)
        return
    if csv_output:
        output.print_csv(rows, RUN_COLUMNS)
        return
    out.print(
        rows_table(rows, title=f"simulation runs ({len(rows)})") if rows else "no simulation runs"
    )


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    run: str = typer.Argument(..., help="Run id or simrun:… uid."),
    json_output: bool = JSON,
) -> None:
    """One run: parameters, inputs, outputs, provenance."""
    from thread.sim.runs import get_run

    state: AppState = ctx.obj
    record = get_run(state.store(), run)
    if json_output:
        print_json(record.to_dict())
        return
    _show_run(record)
    out.print(f"  twins: {', '.join(record.twins)}; model {record.model}; "
              f"derived from: {record.derived_from or '-'}; channels used: {len(record.channels)}", markup=False)  # fmt: skip
    out.print(f"  parameters: {record.properties.get('parameters')}", markup=False)


@app.command("compare")
def compare_cmd(
    ctx: typer.Context,
    first: str = typer.Argument(..., help="Run id."),
    second: str = typer.Argument(..., help="Run id."),
    plot: Path | None = PLOT,
    json_output: bool = JSON,
) -> None:
    """Two runs side by side: parameters and outputs, what differs."""
    from thread.sim.api import compare
    from thread.sim.runs import get_run, read_output

    state: AppState = ctx.obj
    store = state.store()
    result = compare(store, first, second)
    if plot:
        from thread.sim.plots import plot_compare

        a, b = get_run(store, first), get_run(store, second)
        tables = tuple(
            read_output(store, r) if r.properties.get("output_path") else None for r in (a, b)
        )
        plot_compare(a, b, tables, plot, result["properties"])  # type: ignore[arg-type]
        _plotted(plot)
    if json_output:
        print_json(result)
        return
    differ = [r for r in result["parameters"] if not r["same"]]
    if differ:
        out.print(rows_table(differ, title="parameters that differ"))
    out.print(rows_table([{k: (_number(v, 5) if isinstance(v, float) else v) for k, v in r.items()}
                          for r in result["properties"] if not r["same"]], title="outputs that differ"))  # fmt: skip


evaluate_app = typer.Typer(
    help="Score a model on labelled files (imports nothing).", no_args_is_help=True
)
app.add_typer(evaluate_app, name="evaluate")


@evaluate_app.command("rul")
def evaluate_rul_cmd(
    train: Path = typer.Option(
        ..., "--train", help="Run-to-failure training file.", exists=True, dir_okay=False
    ),
    test: Path = typer.Option(
        ..., "--test", help="Test file (units cut before failure).", exists=True, dir_okay=False
    ),
    truth: Path = typer.Option(
        ...,
        "--truth",
        help="True RUL of each test unit, in unit order.",
        exists=True,
        dir_okay=False,
    ),
    mapping: str = typer.Option(
        "cmapss", "--mapping", help="Named layout (cmapss) or a mapping file."
    ),
    set_: list[str] = typer.Option([], "--set", help="P=V: a setting of the RUL model."),
    json_output: bool = JSON,
) -> None:
    """Train the RUL model on --train, score the last cycle of each --test unit against --truth."""
    from thread.sim.cmapss import evaluate_rul
    from thread.sim.model import parse_assignments

    settings = {k: v[0] for k, v in parse_assignments(set_).items()}
    result = evaluate_rul(train, test, truth, mapping, settings=settings)
    if json_output:
        print_json(result.to_dict())
        return
    out.print(rows_table([{"units": result.units, "RMSE": _number(result.rmse, 4), "NASA score": _number(result.nasa_score, 4),
                           "MAE": _number(result.mae, 4)}], title=f"RUL on {test.name}"))  # fmt: skip
    cv = result.cross_validation
    out.print(
        f"  (cross-validated on {train.name}: RMSE {_number(cv.get('rmse'), 4)}; channels {', '.join(result.channels)})",
        markup=False,
    )
