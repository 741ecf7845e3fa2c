"""Fleet reliability: a two-parameter Weibull fitted to lives with right-censoring.

Units that have not failed still say something: they survived to their current age.
Dropping them, or treating their age as a failure, biases the fit (towards short lives);
the likelihood counts each failure with its density and each survivor with its
reliability, through scipy.stats' censored-data fitting. Intervals come from the
observed information (the Hessian of the log-likelihood at the optimum) on the log scale,
so they stay positive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from thread.sim.errors import NotEnoughDataError
from thread.sim.model import Estimate, Model, Output, Parameter

__all__ = ["WeibullFit", "WeibullModel", "fit_weibull", "kaplan_meier"]

_Z95 = 1.959964


@dataclass(frozen=True)
class WeibullFit:
    """Shape β and scale η with 95 % intervals, and the data they came from."""

    shape: Estimate
    scale: Estimate
    b10: Estimate
    failures: int
    censored: int
    log_likelihood: float
    time_unit: str

    def reliability(self, age: np.ndarray | float) -> np.ndarray:
        return np.exp(-((np.asarray(age, float) / self.scale.value) ** self.shape.value))

    def hazard(self, age: np.ndarray | float) -> np.ndarray:
        beta, eta = self.shape.value, self.scale.value
        t = np.asarray(age, float)
        return (beta / eta) * (t / eta) ** (beta - 1.0)

    def conditional_failure(self, age: np.ndarray, horizon: float) -> np.ndarray:
        """Probability that a unit alive at `age` fails within the next `horizon`."""
        age = np.asarray(age, float)
        return np.asarray(1.0 - self.reliability(age + horizon) / self.reliability(age))

    @property
    def mean_life(self) -> float:
        return self.scale.value * math.gamma(1.0 + 1.0 / self.shape.value)

    def summary(self) -> dict[str, object]:
        return {
            "shape": self.shape.to_dict(),
            "scale": self.scale.to_dict(),
            "b10": self.b10.to_dict(),
            "mean_life": self.mean_life,
            "failures": self.failures,
            "censored": self.censored,
            "log_likelihood": self.log_likelihood,
            "time_unit": self.time_unit,
        }


def _log_likelihood(beta: float, eta: float, t: np.ndarray, failed: np.ndarray) -> float:
    z = t / eta
    density = np.log(beta / eta) + (beta - 1.0) * np.log(z[failed])
    return float(density.sum() - np.sum(z**beta))


def fit_weibull(
    durations: Sequence[float], failed: Sequence[bool], time_unit: str = ""
) -> WeibullFit:
    """Maximum-likelihood Weibull (location 0) of lives, right-censored where not failed.

    Raises:
        NotEnoughDataError: fewer than two failures, or a life that is not positive.
    """
    from scipy import stats
    from scipy.optimize import approx_fprime

    t = np.asarray(durations, float)
    observed = np.asarray(failed, bool)
    if np.any(t <= 0):
        raise NotEnoughDataError("every life must be longer than zero to fit a Weibull")
    if observed.sum() < 2:
        raise NotEnoughDataError(
            f"{int(observed.sum())} failure(s) in {len(t)} lives; a Weibull fit needs at least two"
        )
    data = stats.CensoredData(uncensored=t[observed], right=t[~observed])
    beta, _, eta = stats.weibull_min.fit(data, floc=0)

    def loglik(x: np.ndarray) -> float:
        return _log_likelihood(math.exp(x[0]), math.exp(x[1]), t, observed)

    x = np.array([math.log(beta), math.log(eta)])
    step = 1e-4
    hessian = np.empty((2, 2))
    for i in range(2):
        e = np.zeros(2)
        e[i] = step
        hessian[i] = (approx_fprime(x + e, loglik, step) - approx_fprime(x - e, loglik, step)) / (
            2 * step
        )
    cov = np.linalg.inv(-0.5 * (hessian + hessian.T))
    se_log = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    # B10 = eta * (-ln 0.9)^(1/beta); its log is linear in (1/beta, log eta): delta method
    k = math.log(-math.log(0.9))
    b10 = float(eta * math.exp(k / beta))
    grad = np.array([-k / beta, 1.0])  # d log B10 / d (log beta, log eta)
    se_b10 = float(math.sqrt(grad @ cov @ grad))

    def estimate(value: float, se: float) -> Estimate:
        return Estimate(
            value, value * se, value * math.exp(-_Z95 * se), value * math.exp(_Z95 * se)
        )

    return WeibullFit(
        shape=estimate(float(beta), float(se_log[0])),
        scale=estimate(float(eta), float(se_log[1])),
        b10=estimate(b10, se_b10),
        failures=int(observed.sum()),
        censored=int((~observed).sum()),
        log_likelihood=_log_likelihood(beta, eta, t, observed),
        time_unit=time_unit,
    )


def kaplan_meier(
    durations: Sequence[float], failed: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray]:
    """The non-parametric survival estimate (times, survival), to plot beside the fit."""
    t = np.asarray(durations, float)
    observed = np.asarray(failed, bool)
    times = np.unique(t[observed])
    survival = []
    current = 1.0
    for time in times:
        at_risk = np.sum(t >= time)
        deaths = np.sum((t == time) & observed)
        current *= 1.0 - deaths / at_risk
        survival.append(current)
    return times, np.array(survival)


class WeibullModel(Model):
    name = "weibull"
    version = "1.0"
    description = (
        "Two-parameter Weibull of the fleet's times to failure, right-censoring the units "
        "that have not failed; per failure mode when the history has them."
    )
    twin = "aggregate"
    operations = ("calibrate", "predict")
    scenario = (
        Parameter("horizon", "time unit", 30.0, 0.0, 1e9, "look-ahead for expected failures"),
        Parameter(
            "age", "time unit", 0.0, 0.0, 1e9, "age at which to report reliability (0: B10 only)"
        ),
    )
    outputs = (
        Output("weibull_shape", "1", "shape β (above 1: wear-out)"),
        Output("weibull_scale", "time unit", "scale η (63.2 % of units have failed by then)"),
        Output("b10", "time unit", "age by which 10 % of units fail"),
        Output(
            "expected_failures",
            "units",
            "failures expected among units in service over the horizon",
        ),
    )

    def calibrate(
        self, durations: Sequence[float], failed: Sequence[bool], time_unit: str
    ) -> WeibullFit:
        return fit_weibull(durations, failed, time_unit)

    def predict(self, fit: WeibullFit, ages: np.ndarray, horizon: float) -> np.ndarray:
        """Per unit in service: the probability of failing within the horizon."""
        return fit.conditional_failure(ages, horizon)
