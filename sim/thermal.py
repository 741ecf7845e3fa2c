"""Thermal model of a motor-driven pump: two lumped heat capacities, power in, heat out.

    c_motor dTm/dt = loss_fraction·P - (Tm - Tf)/r_motor_fluid - (Tm - Ta)/r_motor_ambient
    c_fluid dTf/dt = pump_fraction·P + (Tm - Tf)/r_motor_fluid - (Tf - Ta)/r_fluid_ambient

P is the electrical power (voltage x current), Tm the motor body temperature, Tf the
fluid temperature, Ta the ambient. With the power held over each step the equations are
solved exactly (zero-order hold through the matrix exponential), so a 1-minute step is
as accurate as a fine one and 10,000 scenarios advance together as arrays.

Temperatures alone cannot tell a larger heat input from a smaller heat capacity, so one
of them must be known: `loss_fraction` (1 - the motor's efficiency, from its nameplate)
is held fixed by calibration unless asked otherwise, with the other parameters a
steady record cannot separate (see DEFAULT_FREE).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thread.sim.errors import CalibrationError, NotEnoughDataError, SimError
from thread.sim.model import Estimate, Model, Output, Parameter, Role

__all__ = [
    "DEFAULT_FREE",
    "ThermalCalibration",
    "ThermalData",
    "ThermalPumpModel",
    "WhatIf",
    "prepare",
    "scenario_power",
]

_Z95 = 1.959964
_MIN_SAMPLES = 200
_MAX_FIT_POINTS = 20_000

PARAMETERS = (
    Parameter("c_motor", "J/K", 8.0e3, 1.0e2, 1.0e7, "heat capacity of the motor body"),
    Parameter("c_fluid", "J/K", 2.0e5, 1.0e3, 1.0e9, "heat capacity of the fluid loop"),
    Parameter("r_motor_fluid", "K/W", 0.2, 1.0e-4, 100.0, "thermal resistance motor to fluid"),
    Parameter("r_motor_ambient", "K/W", 20.0, 1.0e-4, 100.0, "thermal resistance motor to ambient"),
    Parameter("r_fluid_ambient", "K/W", 0.1, 1.0e-4, 100.0, "thermal resistance fluid to ambient"),
    Parameter("loss_fraction", "1", 0.2, 0.0, 1.0, "share of electrical power heating the motor"),
    Parameter("pump_fraction", "1", 0.1, 0.0, 1.0, "share of electrical power heating the fluid"),
    Parameter("t_ambient", "degC", 25.0, -40.0, 80.0, "ambient temperature"),
)
DEFAULT_FREE = ("c_motor", "c_fluid", "r_motor_fluid", "r_fluid_ambient")
"""What a record of a pump running steadily determines (SKAB: two and a half hours at one
load): the motor's and the fluid's heat capacities and the two dominant heat paths. The
others (loss and pump fractions, the motor's own path to ambient, the ambient) are held
at their defaults or at values given with --set; a record with varied load and ambient
can free them too (`--free`)."""


@dataclass(frozen=True)
class ThermalData:
    """Telemetry on a uniform grid: start (epoch seconds), step (s), power (W), temperatures (degC)."""

    start: float
    step: float
    power: np.ndarray
    motor: np.ndarray
    fluid: np.ndarray

    def __len__(self) -> int:
        return len(self.power)

    def slice(self, begin: int, end: int | None = None) -> ThermalData:
        return ThermalData(
            self.start + begin * self.step,
            self.step,
            self.power[begin:end],
            self.motor[begin:end],
            self.fluid[begin:end],
        )

    def blocks(self, size: int) -> ThermalData:
        """Means over blocks of `size` samples: the same heat balance at a coarser step."""
        if size <= 1:
            return self
        n = len(self) // size * size

        def mean(a: np.ndarray) -> np.ndarray:
            return np.asarray(a[:n].reshape(-1, size).mean(axis=1))

        return ThermalData(
            self.start, self.step * size, mean(self.power), mean(self.motor), mean(self.fluid)
        )


def prepare(
    voltage: tuple[np.ndarray, np.ndarray],
    current: tuple[np.ndarray, np.ndarray],
    motor: tuple[np.ndarray, np.ndarray],
    fluid: tuple[np.ndarray, np.ndarray],
) -> ThermalData:
    """Four (t seconds, values) series on one uniform grid at the motor channel's median step.

    Raises:
        NotEnoughDataError: the channels overlap on fewer than a few hundred samples.
    """
    series = (voltage, current, motor, fluid)
    begin = max(float(t[0]) for t, _ in series if len(t))
    end = min(float(t[-1]) for t, _ in series if len(t))
    steps = np.diff(motor[0])
    if len(steps) == 0 or end <= begin:
        raise NotEnoughDataError(
            "the thermal model needs overlapping voltage, current and temperatures"
        )
    step = float(np.median(steps))
    grid = begin + step * np.arange(int((end - begin) / step) + 1)
    if len(grid) < _MIN_SAMPLES:
        raise NotEnoughDataError(
            f"the channels overlap on {len(grid)} samples; calibration needs at least {_MIN_SAMPLES}"
        )
    v, i, m, f = (np.interp(grid, t, values) for t, values in series)
    return ThermalData(begin, step, v * i, m, f)


def _conductances(p: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return 1.0 / p["r_motor_fluid"], 1.0 / p["r_motor_ambient"], 1.0 / p["r_fluid_ambient"]


def _system(p: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """A (…, 2, 2) and B (…, 2, 2) of x' = A x + B [P, Ta], broadcast over scenarios."""
    g_mf, g_ma, g_fa = _conductances(p)
    cm, cf = np.asarray(p["c_motor"], float), np.asarray(p["c_fluid"], float)
    shape = np.broadcast(cm, cf, g_mf, g_ma, g_fa, p["loss_fraction"], p["pump_fraction"]).shape
    a = np.zeros((*shape, 2, 2))
    b = np.zeros((*shape, 2, 2))
    a[..., 0, 0] = -(g_mf + g_ma) / cm
    a[..., 0, 1] = g_mf / cm
    a[..., 1, 0] = g_mf / cf
    a[..., 1, 1] = -(g_mf + g_fa) / cf
    b[..., 0, 0] = p["loss_fraction"] / cm
    b[..., 0, 1] = g_ma / cm
    b[..., 1, 0] = p["pump_fraction"] / cf
    b[..., 1, 1] = g_fa / cf
    return a, b


def _modes(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues and vectors of A (real: a passive heat network is reciprocal)."""
    lam, vec = np.linalg.eig(a)
    return lam.real, vec.real, np.linalg.inv(vec.real)


def _discrete(p: Mapping[str, Any], step: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact zero-order-hold step: x[k+1] = Phi x[k] + Gamma [P, Ta] (batched)."""
    a, b = _system(p)
    lam, vec, inv = _modes(a)
    decay = np.exp(lam * step)
    gain = np.where(lam != 0, (decay - 1.0) / np.where(lam != 0, lam, 1.0), step)
    phi = vec @ (decay[..., :, None] * inv)
    gamma = vec @ (gain[..., :, None] * (inv @ b))
    return phi, gamma


def steady_state(p: Mapping[str, Any], power: Any) -> np.ndarray:
    """Temperatures (…, 2) the pump settles at under a constant mean power."""
    a, b = _system(p)
    u = np.stack(
        np.broadcast_arrays(np.asarray(power, float), np.asarray(p["t_ambient"], float)), -1
    )
    return np.asarray(-np.linalg.solve(a, (b @ u[..., None]))[..., 0])


def _response(
    p: Mapping[str, float], power: np.ndarray, initial: np.ndarray, step: float
) -> np.ndarray:
    """One parameter set over a long series: two first-order filters in modal form.

    Runs in C through scipy.signal.lfilter, so a million samples cost milliseconds;
    this is what makes calibration on long records fast."""
    from scipy.signal import lfilter

    a, b = _system(p)
    lam, vec, inv = _modes(a)
    decay = np.exp(lam * step)
    gain = np.where(lam != 0, (decay - 1.0) / np.where(lam != 0, lam, 1.0), step)
    w = inv @ b
    z0 = inv @ initial
    modes = np.empty((2, len(power)))
    for i in range(2):
        drive = w[i, 0] * power + w[i, 1] * p["t_ambient"]
        modes[i] = lfilter([0.0, gain[i]], [1.0, -decay[i]], drive, zi=[z0[i]])[0]
    return np.asarray((vec @ modes).T)


@dataclass
class ThermalCalibration:
    """Fitted parameters with 95 % intervals, and the fit's quality on held-out data."""

    parameters: dict[str, float]
    estimates: dict[str, Estimate]
    fixed: dict[str, float]
    train_rmse: dict[str, float]
    holdout_rmse: dict[str, float]
    persistence_rmse: dict[str, float]
    samples: int
    fit_points: int
    step: float
    window: tuple[float, float]
    holdout_start: float
    noise: dict[str, float]
    inflation: float
    evaluations: int
    holdout: ThermalData | None = field(default=None, repr=False)
    holdout_prediction: np.ndarray | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "parameters": self.parameters,
            "estimates": {k: v.to_dict() for k, v in self.estimates.items()},
            "fixed": self.fixed,
            "train_rmse": self.train_rmse,
            "holdout_rmse": self.holdout_rmse,
            "persistence_rmse": self.persistence_rmse,
            "samples": self.samples,
            "fit_points": self.fit_points,
            "step_s": self.step,
            "noise": self.noise,
            "interval_inflation": self.inflation,
            "evaluations": self.evaluations,
        }


@dataclass
class WhatIf:
    """Scenarios over a horizon: temperatures (S, K+1, 2), steady state and time to a limit."""

    times: np.ndarray
    temperatures: np.ndarray
    steady: np.ndarray
    time_to_limit: np.ndarray
    scenarios: dict[str, np.ndarray]
    limit: float

    def summary(self) -> dict[str, Any]:
        reached = np.isfinite(self.time_to_limit)
        return {
            "scenarios": len(self.temperatures),
            "horizon_h": float(self.times[-1] / 3600.0),
            "limit_degC": self.limit,
            "final_motor_degC": _stats(self.temperatures[:, -1, 0]),
            "final_fluid_degC": _stats(self.temperatures[:, -1, 1]),
            "max_motor_degC": _stats(self.temperatures[:, :, 0].max(axis=1)),
            "steady_motor_degC": _stats(self.steady[:, 0]),
            "steady_fluid_degC": _stats(self.steady[:, 1]),
            "reach_limit_fraction": float(reached.mean()),
            "time_to_limit_h": _stats(self.time_to_limit[reached] / 3600.0)
            if reached.any()
            else None,
        }


def _stats(values: np.ndarray) -> dict[str, float]:
    if len(values) == 1:
        return {"value": float(values[0])}
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {"p10": float(p10), "p50": float(p50), "p90": float(p90), "mean": float(values.mean())}


def _rmse(a: np.ndarray, b: np.ndarray | float) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _noise(values: np.ndarray, step: float) -> float:
    """Spread of a channel around its 10-minute moving mean: the weight of its residuals."""
    window = max(3, int(600.0 / step))
    if len(values) <= window:
        return float(np.std(np.diff(values)) / math.sqrt(2.0)) or 1.0
    kernel = np.ones(window) / window
    smooth = np.convolve(values, kernel, mode="valid")
    offset = (window - 1) // 2
    spread = float(np.std(values[offset : offset + len(smooth)] - smooth))
    return spread if spread > 0 else 1.0


def _lag1(r: np.ndarray) -> float:
    r = r - r.mean()
    denominator = float(r @ r)
    return float(r[1:] @ r[:-1]) / denominator if denominator > 0 else 0.0


def scenario_power(
    mean_power: float,
    load: np.ndarray,
    duty: np.ndarray,
    period_steps: np.ndarray,
    steps: int,
) -> np.ndarray:
    """Power (S, steps): `mean_power x load` while running, the pump on for the first
    `duty` share of each period and off for the rest."""
    k = np.arange(steps)
    period = np.maximum(period_steps.astype(int), 1)[:, None]
    on = (k[None, :] % period) < np.rint(duty[:, None] * period)
    return np.asarray(mean_power * load[:, None] * on)


class ThermalPumpModel(Model):
    name = "thermal-pump"
    version = "1.0"
    description = (
        "Lumped two-node heat balance of a motor-driven pump (motor body and fluid loop, "
        "electrical power in, heat to ambient); what-if on load, ambient and duty cycle."
    )
    twin = "instance"
    operations = ("calibrate", "simulate")
    parameters = PARAMETERS
    scenario = (
        Parameter(
            "load", "1", 1.0, 0.0, 5.0, "electrical power as a multiple of the measured mean"
        ),
        Parameter("duty", "1", 1.0, 0.0, 1.0, "share of each period the pump runs"),
        Parameter("duty_period", "min", 60.0, 1.0, 10080.0, "length of one on/off period"),
        Parameter("limit", "degC", 100.0, -40.0, 400.0, "motor temperature limit"),
        Parameter("step", "s", 60.0, 1.0, 3600.0, "simulation step"),
    )
    roles = (
        Role("voltage", "supply voltage", quantity="voltage"),
        Role("current", "motor current", quantity="current"),
        Role(
            "motor_temperature",
            "motor body temperature",
            quantity="temperature",
            names=("temperature", "motor_temperature", "motor", "body", "winding"),
        ),
        Role(
            "fluid_temperature",
            "fluid temperature (thermocouple in the loop)",
            quantity="temperature",
            names=("thermocouple", "fluid_temperature", "fluid", "water"),
        ),
    )
    outputs = (
        Output("motor_temperature", "degC", "motor body temperature over the horizon"),
        Output("fluid_temperature", "degC", "fluid temperature over the horizon"),
        Output("steady_motor", "degC", "motor temperature the scenario settles at"),
        Output("steady_fluid", "degC", "fluid temperature the scenario settles at"),
        Output("time_to_limit", "h", "time until the motor reaches the limit (none if never)"),
    )

    def calibrate(
        self,
        data: ThermalData,
        *,
        free: Sequence[str] = DEFAULT_FREE,
        fixed: Mapping[str, float] | None = None,
        holdout: float = 0.3,
        max_points: int = _MAX_FIT_POINTS,
    ) -> ThermalCalibration:
        """Fit the free parameters by weighted least squares on the first part of the
        record and score an open-loop forecast of the rest against persistence.

        Residuals of each temperature are weighted by that channel's spread around its
        moving mean. Intervals come from the Jacobian at the optimum, widened for the
        residuals' autocorrelation (neighbouring samples are not independent evidence).
        Records longer than `max_points` are fitted on block means, which keeps the cost
        flat without dropping a sample (thermal time constants are far longer than a block).

        Raises:
            NotEnoughDataError: too short a record; CalibrationError: the fit failed.
        """
        from scipy.optimize import least_squares

        if not 0.0 < holdout < 0.9:
            raise SimError("holdout must be a fraction between 0 and 0.9")
        if len(data) < _MIN_SAMPLES:
            raise NotEnoughDataError(f"{len(data)} samples; calibration needs {_MIN_SAMPLES}")
        base = {**self.defaults(), **self.checked(fixed or {})}
        unknown = [n for n in free if n not in base]
        if unknown:
            raise SimError(f"unknown parameters to fit: {', '.join(unknown)}")
        free = list(free)
        split = int(len(data) * (1.0 - holdout))
        train = data.slice(0, split)
        block = max(1, math.ceil(len(train) / max_points))
        fit = train.blocks(block)
        noise = {"motor": _noise(train.motor, train.step), "fluid": _noise(train.fluid, train.step)}
        lead = max(1, int(60.0 / fit.step))
        initial = np.array([fit.motor[:lead].mean(), fit.fluid[:lead].mean()])
        specs = [self._parameter(n) for n in free]
        logged = np.array([spec.lower >= 0 and spec.default > 0 for spec in specs])
        scale = np.array(
            [
                spec.default if log else max(abs(spec.default), 1.0)
                for spec, log in zip(specs, logged, strict=True)
            ]
        )

        m = len(free)

        def values(x: np.ndarray) -> np.ndarray:
            x = x[:m]
            return np.where(logged, scale * np.exp(np.where(logged, x, 0.0)), scale * x)

        def params(x: np.ndarray) -> dict[str, float]:
            return {**base, **dict(zip(free, values(x), strict=True))}

        def residuals(x: np.ndarray) -> np.ndarray:
            # the last two unknowns correct the initial temperatures, read off noisy samples
            y = _response(params(x), fit.power, initial + x[m:], fit.step)
            return np.concatenate(
                [(y[:, 0] - fit.motor) / noise["motor"], (y[:, 1] - fit.fluid) / noise["fluid"]]
            )

        best = None
        evaluations = 0
        for start in self._starts(specs, logged, scale):
            with np.errstate(all="ignore"):
                result = least_squares(residuals, start, method="lm", x_scale="jac")
            evaluations += int(result.nfev)
            if np.all(np.isfinite(result.fun)) and (best is None or result.cost < best.cost):
                best = result
        if best is None or not np.all(np.isfinite(best.x)):
            raise CalibrationError(
                "the thermal fit did not converge; hold more parameters fixed with --set"
            )
        fitted = params(best.x)
        outside = [spec.name for spec in specs if not spec.lower <= fitted[spec.name] <= spec.upper]
        if outside:
            raise CalibrationError(
                f"the fit put {', '.join(outside)} outside its bounds: the record does not determine "
                "them; hold them at known values with --set NAME=VALUE"
            )
        n = len(best.fun)
        initial = initial + best.x[m:]
        half = len(fit.power)
        rho = max(_lag1(best.fun[:half]), _lag1(best.fun[half:]))
        rho = min(max(rho, 0.0), 0.999)
        inflation = (1.0 + rho) / (1.0 - rho)
        s2 = 2.0 * best.cost / max(n - m - 2, 1)
        cov = np.linalg.pinv(best.jac.T @ best.jac) * s2 * inflation
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        estimates = {}
        for i, name in enumerate(free):
            value = fitted[name]
            if logged[i]:
                estimates[name] = Estimate(
                    value,
                    value * se[i],
                    value * math.exp(-_Z95 * se[i]),
                    value * math.exp(_Z95 * se[i]),
                )
            else:
                err = scale[i] * se[i]
                estimates[name] = Estimate(value, err, value - _Z95 * err, value + _Z95 * err)
        y_train = _response(fitted, fit.power, initial, fit.step)
        held = data.slice(split)
        lead_raw = max(1, int(60.0 / data.step))
        start_state = np.array([train.motor[-lead_raw:].mean(), train.fluid[-lead_raw:].mean()])
        y_held = _response(fitted, held.power, start_state, held.step)
        return ThermalCalibration(
            parameters=fitted,
            estimates=estimates,
            fixed={k: v for k, v in fitted.items() if k not in free},
            train_rmse={
                "motor": _rmse(y_train[:, 0], fit.motor),
                "fluid": _rmse(y_train[:, 1], fit.fluid),
            },
            holdout_rmse={
                "motor": _rmse(y_held[:, 0], held.motor),
                "fluid": _rmse(y_held[:, 1], held.fluid),
            },
            persistence_rmse={
                "motor": _rmse(held.motor, start_state[0]),
                "fluid": _rmse(held.fluid, start_state[1]),
            },
            samples=len(data),
            fit_points=len(fit),
            step=data.step,
            window=(data.start, data.start + data.step * (len(data) - 1)),
            holdout_start=held.start,
            noise=noise,
            inflation=inflation,
            evaluations=evaluations,
            holdout=held,
            holdout_prediction=y_held,
        )

    def _parameter(self, name: str) -> Parameter:
        return next(p for p in self.parameters if p.name == name)

    @staticmethod
    def _starts(
        specs: Sequence[Parameter], logged: np.ndarray, scale: np.ndarray
    ) -> list[np.ndarray]:
        """A few fixed starting points (deterministic): the defaults, then heat capacities
        scaled up and down together, since the fit's valleys run along that direction."""
        starts = []
        for factor in (1.0, 10.0, 0.1):
            x = np.array([0.0 if log else 1.0 for log in logged])
            for i, spec in enumerate(specs):
                if spec.name.startswith("c_"):
                    x[i] = math.log(factor)
                elif not logged[i]:
                    x[i] = spec.default / scale[i]
            starts.append(np.concatenate([x, [0.0, 0.0]]))
        return starts

    def simulate(
        self,
        params: Mapping[str, Any],
        power: np.ndarray,
        initial: np.ndarray,
        step: float,
    ) -> np.ndarray:
        """Temperatures (S, K+1, 2) for S scenarios over K steps of `step` seconds.

        `params` values are scalars or arrays of S (one parameter set per scenario),
        `power` is (S, K) in W held over each step, `initial` (S, 2) in degC."""
        power = np.atleast_2d(np.asarray(power, float))
        s, k = power.shape
        phi, gamma = _discrete(params, step)
        phi = np.broadcast_to(phi, (s, 2, 2))
        gamma = np.broadcast_to(gamma, (s, 2, 2))
        ambient = np.broadcast_to(np.asarray(params["t_ambient"], float), (s,))
        drive_ambient = gamma[:, :, 1] * ambient[:, None]
        out = np.empty((s, k + 1, 2))
        x = np.broadcast_to(np.asarray(initial, float), (s, 2)).copy()
        out[:, 0] = x
        p00, p01, p10, p11 = phi[:, 0, 0], phi[:, 0, 1], phi[:, 1, 0], phi[:, 1, 1]
        g0, g1 = gamma[:, 0, 0], gamma[:, 1, 0]
        c0, c1 = drive_ambient[:, 0], drive_ambient[:, 1]
        m, f = x[:, 0].copy(), x[:, 1].copy()
        for i in range(k):
            u = power[:, i]
            m, f = p00 * m + p01 * f + g0 * u + c0, p10 * m + p11 * f + g1 * u + c1
            out[:, i + 1, 0] = m
            out[:, i + 1, 1] = f
        return out

    def what_if(
        self,
        params: Mapping[str, Any],
        *,
        mean_power: float,
        initial: np.ndarray,
        horizon_h: float,
        scenarios: Mapping[str, np.ndarray],
    ) -> WhatIf:
        """Scenario arrays (load, duty, duty_period, limit, step, and any parameter such as
        t_ambient) of one length S → temperatures over the horizon, steady state (at the
        scenario's mean power) and time to the motor limit."""
        values: dict[str, Any] = {**self.scenario_defaults(), **scenarios}
        size = max(np.size(v) for v in values.values())
        arrays = {k: np.broadcast_to(np.asarray(v, float), (size,)) for k, v in values.items()}
        step = float(arrays["step"][0])
        if np.any(arrays["step"] != step):
            raise SimError("all scenarios of one run share the simulation step")
        steps = max(1, round(horizon_h * 3600.0 / step))
        period = arrays["duty_period"] * 60.0 / step
        power = scenario_power(mean_power, arrays["load"], arrays["duty"], period, steps)
        merged = {**params, **{k: arrays[k] for k in params if k in arrays}}
        temperatures = self.simulate(merged, power, initial, step)
        steady = steady_state(merged, mean_power * arrays["load"] * arrays["duty"])
        steady = np.broadcast_to(steady, (size, 2))
        above = temperatures[:, :, 0] >= arrays["limit"][:, None]
        first = np.where(above.any(axis=1), above.argmax(axis=1), -1)
        when = np.where(first >= 0, first * step, np.inf)
        return WhatIf(
            times=np.arange(steps + 1) * step,
            temperatures=temperatures,
            steady=np.asarray(steady),
            time_to_limit=when,
            scenarios=dict(arrays),
            limit=float(arrays["limit"][0]),
        )
