"""Maintenance recommendation: the age-replacement interval that minimises cost per unit
time, and the units to act on now.

Replacing at age T (or at failure, whichever comes first) costs, per unit of time,

    C(T) = (c_planned · R(T) + c_failure · (1 - R(T))) / ∫₀ᵀ R(t) dt

(the renewal-reward theorem). With a Weibull life the integral has a closed form through
the regularised incomplete gamma function. For shape β ≤ 1 the hazard does not rise with
age and replacing early never pays: the optimum is to run to failure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from thread.sim.errors import SimError
from thread.sim.model import Model, Output, Parameter
from thread.sim.reliability import WeibullFit

__all__ = [
    "AgeReplacementModel",
    "Candidate",
    "ReplacementPolicy",
    "cost_rate",
    "optimal_age",
    "rank_units",
]


@dataclass(frozen=True)
class ReplacementPolicy:
    """The optimum: interval (None: run to failure), its cost rate and the saving."""

    interval: float | None
    cost_rate: float
    run_to_failure_cost_rate: float
    cost_planned: float
    cost_failure: float

    @property
    def saving(self) -> float:
        return 1.0 - self.cost_rate / self.run_to_failure_cost_rate

    def summary(self) -> dict[str, Any]:
        return {
            "interval": self.interval,
            "cost_rate": self.cost_rate,
            "run_to_failure_cost_rate": self.run_to_failure_cost_rate,
            "saving_fraction": self.saving,
            "cost_planned": self.cost_planned,
            "cost_failure": self.cost_failure,
        }


@dataclass(frozen=True)
class Candidate:
    """A unit in service and why it is (or is not) due."""

    unit: str
    twin: str
    age: float
    failure_probability: float
    past_interval: bool
    rul_p50: float | None
    rul_within_horizon: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _survival_integral(shape: float, scale: float, t: np.ndarray) -> np.ndarray:
    from scipy.special import gamma, gammainc

    x = (np.asarray(t, float) / scale) ** shape
    return np.asarray(scale * gamma(1.0 + 1.0 / shape) * gammainc(1.0 / shape, x))


def cost_rate(
    shape: float, scale: float, cost_planned: float, cost_failure: float, t: Any
) -> np.ndarray:
    """Expected cost per unit time when replacing at age t (array) or at failure."""
    t = np.asarray(t, float)
    survival = np.exp(-((t / scale) ** shape))
    expected = cost_planned * survival + cost_failure * (1.0 - survival)
    return np.asarray(expected / _survival_integral(shape, scale, t))


def optimal_age(
    shape: float, scale: float, cost_planned: float, cost_failure: float
) -> ReplacementPolicy:
    """The age-replacement optimum for a Weibull life.

    Raises:
        SimError: costs that are not positive, or a planned replacement that costs at
            least as much as a failure (then nothing is gained by replacing early).
    """
    from scipy.optimize import minimize_scalar

    if cost_planned <= 0 or cost_failure <= 0:
        raise SimError("the planned and failure replacement costs must be positive")
    if cost_planned >= cost_failure:
        raise SimError(
            "a planned replacement must cost less than a failure for preventive replacement to pay"
        )
    mean_life = scale * math.gamma(1.0 + 1.0 / shape)
    run_to_failure = cost_failure / mean_life
    if shape <= 1.0:
        return ReplacementPolicy(None, run_to_failure, run_to_failure, cost_planned, cost_failure)
    upper = scale * (-math.log(1e-9)) ** (1.0 / shape)  # the age only 1e-9 of units reach
    grid = np.geomspace(scale * 1e-4, upper, 400)
    rates = cost_rate(shape, scale, cost_planned, cost_failure, grid)
    best = int(np.argmin(rates))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    result = minimize_scalar(
        lambda t: float(cost_rate(shape, scale, cost_planned, cost_failure, t)),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": scale * 1e-9},
    )
    interval, rate = float(result.x), float(result.fun)
    if rate >= run_to_failure * (1.0 - 1e-9):
        return ReplacementPolicy(None, run_to_failure, run_to_failure, cost_planned, cost_failure)
    return ReplacementPolicy(interval, rate, run_to_failure, cost_planned, cost_failure)


def _probability_within(p10: float, p50: float, p90: float, horizon: float) -> float:
    """P(RUL ≤ horizon) read off the three quantiles (linear between them)."""
    xs, ps = [0.0, p10, p50, p90], [0.0, 0.1, 0.5, 0.9]
    if horizon >= p90:
        span = max(p90 - p50, 1e-9)
        return min(1.0, 0.9 + 0.1 * (horizon - p90) / span)
    return float(np.interp(horizon, xs, ps))


def rank_units(
    fit: WeibullFit,
    policy: ReplacementPolicy,
    units: Sequence[tuple[str, str, float]],
    rul: dict[str, tuple[float, float, float]],
    horizon: float,
) -> list[Candidate]:
    """Units in service (unit, twin, age) that are due, most urgent first.

    A unit is due when its age is past the optimal interval or its predicted RUL median
    falls inside the horizon. Urgency is the probability of failing within the horizon:
    from the unit's own RUL prediction when it has one, else from the fleet's Weibull."""
    due = []
    for unit, twin, age in units:
        predicted = rul.get(unit)
        past = policy.interval is not None and age >= policy.interval
        if predicted is not None:
            probability = _probability_within(*predicted, horizon)
            within = predicted[1] <= horizon
        else:
            probability = float(fit.conditional_failure(np.array([age]), horizon)[0])
            within = False
        if not (past or within):
            continue
        reasons = []
        if within and predicted is not None:
            reasons.append(f"predicted RUL p50 {predicted[1]:.0f} within the horizon {horizon:g}")
        if past and policy.interval is not None:
            reasons.append(f"age {age:.0f} past the optimal replacement age {policy.interval:.0f}")
        due.append(
            Candidate(
                unit,
                twin,
                float(age),
                probability,
                past,
                predicted[1] if predicted else None,
                within,
                "; ".join(reasons),
            )
        )
    due.sort(key=lambda c: (-c.failure_probability, -c.age, c.unit))
    return due


class AgeReplacementModel(Model):
    name = "age-replacement"
    version = "1.0"
    description = (
        "Prescriptive: the age-replacement interval minimising cost per unit time from the "
        "fleet's Weibull, and the units past it or whose predicted RUL is inside the horizon."
    )
    twin = "aggregate"
    operations = ("predict",)
    parameters = (
        Parameter("cost_planned", "currency", 1.0, 1e-9, 1e12, "cost of a planned replacement"),
        Parameter(
            "cost_failure", "currency", 10.0, 1e-9, 1e12, "cost of a replacement after failure"
        ),
        Parameter("horizon", "time unit", 30.0, 0.0, 1e9, "look-ahead for due units"),
    )
    outputs = (
        Output("interval", "time unit", "optimal replacement age (none: run to failure)"),
        Output("cost_rate", "currency per time unit", "expected cost rate at the optimum"),
        Output("due_units", "units", "units to act on, most urgent first"),
    )

    def predict(
        self,
        fit: WeibullFit,
        units: Sequence[tuple[str, str, float]],
        rul: dict[str, tuple[float, float, float]],
        cost_planned: float,
        cost_failure: float,
        horizon: float,
    ) -> tuple[ReplacementPolicy, list[Candidate]]:
        policy = optimal_age(fit.shape.value, fit.scale.value, cost_planned, cost_failure)
        return policy, rank_units(fit, policy, units, rul, horizon)
