"""Remaining useful life from a fleet's run-to-failure histories: kernel ridge regression
on windowed sensor features, with intervals from cross-validated residuals.

Features at each cycle, per selected channel (z-scored on the training fleet): the mean
of the last `window` cycles, its slope, and that mean minus the unit's own mean over its
first `baseline` cycles (each unit starts with its own wear and manufacturing offset);
plus the unit's age. The target is the RUL capped at `cap` (early in life the sensors
cannot tell how far failure is, so the model does not try). An RBF kernel ridge on
these features is trained on every `stride`-th cycle of every history.

Intervals: the training fleet is cross-validated by unit (whole units held out and cut at
random points, as test units are), and the out-of-fold errors, grouped by predicted RUL,
give the p10 and p90 offsets around the point prediction (p50).

The settings (window 40, baseline 30, ridge 0.3, gamma 0.1, cap 125, channels whose
correlation with life fraction is at least 0.2) were chosen by that cross-validation on
C-MAPSS FD001 train only; bench/sim_bench.py reports the figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thread.sim.errors import NotEnoughDataError
from thread.sim.model import Model, Output, Parameter, Role

__all__ = [
    "CrossValidation",
    "History",
    "KernelRulModel",
    "RulCalibration",
    "RulPrediction",
    "cross_validate",
    "nasa_score",
    "select_channels",
]

_BINS = 4
_QUANTILES = (10.0, 90.0)


@dataclass(frozen=True)
class History:
    """One unit's samples: ages (T,), values (T, C) in the order of the model's channels."""

    unit: str
    age: np.ndarray
    values: np.ndarray
    failed: bool


@dataclass(frozen=True)
class RulPrediction:
    unit: str
    age: float
    p10: float
    p50: float
    p90: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "age": self.age,
            "p10": self.p10,
            "p50": self.p50,
            "p90": self.p90,
        }


@dataclass
class CrossValidation:
    """Out-of-fold errors (prediction - truth) of the emulated test protocol."""

    truth: np.ndarray
    predicted: np.ndarray
    units: list[str]

    @property
    def errors(self) -> np.ndarray:
        return np.asarray(self.predicted - self.truth)

    def metrics(self) -> dict[str, float]:
        e = self.errors
        return {
            "rmse": float(np.sqrt(np.mean(e**2))),
            "nasa_score_per_100_units": float(nasa_score(e).mean() * 100.0),
            "mae": float(np.mean(np.abs(e))),
            "cases": len(e),
        }


@dataclass
class RulCalibration:
    """A trained model: scaling, training features and weights, interval offsets."""

    channels: list[str]
    settings: dict[str, float]
    mean: np.ndarray
    scale: np.ndarray
    support: np.ndarray
    weights: np.ndarray
    offset: float
    bin_edges: np.ndarray
    low: np.ndarray
    high: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)
    units: int = 0

    def save(self, path: Path) -> None:
        np.savez(
            path,
            channels=np.array(self.channels),
            settings=np.array(list(self.settings.items()), dtype=object),
            mean=self.mean,
            scale=self.scale,
            support=self.support,
            weights=self.weights,
            offset=np.array(self.offset),
            bin_edges=self.bin_edges,
            low=self.low,
            high=self.high,
        )

    @classmethod
    def load(cls, path: Path) -> RulCalibration:
        with np.load(path, allow_pickle=True) as data:
            return cls(
                channels=[str(c) for c in data["channels"]],
                settings={str(k): float(v) for k, v in data["settings"]},
                mean=data["mean"],
                scale=data["scale"],
                support=data["support"],
                weights=data["weights"],
                offset=float(data["offset"]),
                bin_edges=data["bin_edges"],
                low=data["low"],
                high=data["high"],
            )


def nasa_score(errors: np.ndarray) -> np.ndarray:
    """PHM08 scoring per unit: late predictions (error > 0) cost more than early ones."""
    e = np.asarray(errors, float)
    return np.where(e < 0, np.exp(-e / 13.0) - 1.0, np.exp(e / 10.0) - 1.0)


def select_channels(
    histories: Sequence[History], names: Sequence[str], threshold: float
) -> list[str]:
    """Channels that trend with life: |correlation with life fraction| ≥ threshold over the
    failed histories; constant channels carry nothing and are dropped."""
    fraction = np.concatenate([h.age / h.age[-1] for h in histories if h.failed])
    stacked = np.vstack([h.values for h in histories if h.failed])
    chosen = []
    for j, name in enumerate(names):
        column = stacked[:, j]
        if column.std() == 0:
            continue
        if abs(np.corrcoef(column, fraction)[0, 1]) >= threshold:
            chosen.append(name)
    return chosen


def _features(values: np.ndarray, age: np.ndarray, window: int, baseline: int) -> np.ndarray:
    """Features at every cycle of one history (T, 3C + 1), from cumulative sums."""
    t_len, c = values.shape
    steps = np.arange(1, t_len + 1, dtype=float)
    zero = np.zeros((1, c))
    cs = np.vstack([zero, np.cumsum(values, axis=0)])
    cts = np.vstack([zero, np.cumsum(values * steps[:, None], axis=0)])
    ct = np.concatenate([[0.0], np.cumsum(steps)])
    ct2 = np.concatenate([[0.0], np.cumsum(steps * steps)])
    end = np.arange(1, t_len + 1)
    start = np.maximum(0, end - window)
    n = (end - start).astype(float)[:, None]
    sx = cs[end] - cs[start]
    stx = cts[end] - cts[start]
    st = (ct[end] - ct[start])[:, None]
    st2 = (ct2[end] - ct2[start])[:, None]
    mean = sx / n
    denominator = n * st2 - st * st
    slope = np.where(
        denominator > 0, (n * stx - st * sx) / np.where(denominator > 0, denominator, 1.0), 0.0
    )
    first = np.minimum(end, baseline)
    base = cs[first] / first[:, None]
    return np.hstack([mean, slope * window, mean - base, (age / 100.0)[:, None]])


def _last_features(values: np.ndarray, age: np.ndarray, window: int, baseline: int) -> np.ndarray:
    """The features of `_features` at the last sample only (what a prediction needs)."""
    t_len = len(values)
    recent = values[max(0, t_len - window) :]
    n = len(recent)
    steps = np.arange(t_len - n + 1, t_len + 1, dtype=float)
    mean = recent.mean(axis=0)
    if n > 1:
        centred = steps - steps.mean()
        slope = centred @ (recent - mean) / (centred @ centred)
    else:
        slope = np.zeros(values.shape[1])
    base = values[: min(t_len, baseline)].mean(axis=0)
    return np.concatenate([mean, slope * window, mean - base, [age[-1] / 100.0]])


_PREDICT_BLOCK = 1024


def _kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.asarray(np.exp(-gamma * np.maximum(d2, 0.0)))


class KernelRulModel(Model):
    name = "rul-kernel"
    version = "1.0"
    description = (
        "Remaining useful life from the fleet's run-to-failure histories: RBF kernel ridge "
        "on windowed sensor features, p10/p50/p90 from cross-validated residuals."
    )
    twin = "aggregate"
    operations = ("calibrate", "predict")
    parameters = (
        Parameter("window", "cycles", 40, 2, 500, "length of the window features are taken over"),
        Parameter(
            "baseline", "cycles", 30, 1, 500, "early-life cycles that set each unit's own offset"
        ),
        Parameter("gamma", "1", 0.1, 1e-4, 10.0, "RBF kernel width (on z-scored features)"),
        Parameter("ridge", "1", 0.3, 1e-4, 100.0, "ridge regularisation"),
        Parameter("cap", "cycles", 125, 10, 10000, "RUL cap of the training target"),
        Parameter("stride", "cycles", 4, 1, 50, "train on every stride-th cycle"),
        Parameter(
            "min_correlation",
            "1",
            0.2,
            0.0,
            1.0,
            "channels must trend with life at least this much",
        ),
        Parameter("folds", "1", 5, 2, 20, "cross-validation folds (by unit) for the intervals"),
    )
    roles = (
        Role(
            "condition",
            "every monitored channel; those that trend with life are selected",
            many=True,
            exclude_quantities=("operational setting",),
        ),
    )
    outputs = (
        Output("rul_p10", "cycles", "remaining useful life, 10th percentile"),
        Output("rul_p50", "cycles", "remaining useful life, median (point prediction)"),
        Output("rul_p90", "cycles", "remaining useful life, 90th percentile"),
    )

    def settings(self, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
        return {**self.defaults(), **self.checked(overrides or {})}

    def calibrate(
        self,
        histories: Sequence[History],
        names: Sequence[str],
        overrides: Mapping[str, float] | None = None,
        *,
        seed: int = 0,
    ) -> RulCalibration:
        """Train on the failed histories; cross-validate by unit for the interval offsets.

        Raises:
            NotEnoughDataError: fewer than `folds` run-to-failure histories.
        """
        settings = self.settings(overrides)
        failed = [h for h in histories if h.failed and len(h.age) > 1]
        folds = int(settings["folds"])
        if len(failed) < max(folds, 2):
            raise NotEnoughDataError(
                f"{len(failed)} run-to-failure histories; the RUL model needs at least {max(folds, 2)} "
                "(units with status 'failed' and telemetry up to the failure)"
            )
        channels = select_channels(failed, names, settings["min_correlation"])
        if not channels:
            raise NotEnoughDataError("no channel trends with life in the run-to-failure histories")
        index = [list(names).index(c) for c in channels]
        failed = [History(h.unit, h.age, h.values[:, index], True) for h in failed]
        cv = cross_validate(self, failed, settings, folds=folds, seed=seed, cuts=10)
        predicted = np.maximum(cv.predicted, 0.0)
        edges = np.unique(np.percentile(predicted, np.linspace(0, 100, _BINS + 1)[1:-1]))
        which = np.searchsorted(edges, predicted)
        residual = cv.truth - predicted
        low = np.array(
            [np.percentile(residual[which == b], _QUANTILES[0]) for b in range(len(edges) + 1)]
        )
        high = np.array(
            [np.percentile(residual[which == b], _QUANTILES[1]) for b in range(len(edges) + 1)]
        )
        trained = self.fit(failed, settings)
        trained.channels = channels
        trained.bin_edges, trained.low, trained.high = edges, low, high
        trained.metrics = cv.metrics()
        trained.units = len(failed)
        return trained

    def fit(self, histories: Sequence[History], settings: Mapping[str, float]) -> RulCalibration:
        """The kernel ridge on the given failed histories (no intervals)."""
        from scipy.linalg import cho_factor, cho_solve

        window, baseline = int(settings["window"]), int(settings["baseline"])
        stride, cap = int(settings["stride"]), float(settings["cap"])
        stacked = np.vstack([h.values for h in histories])
        mean, scale = stacked.mean(axis=0), stacked.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        rows, targets = [], []
        for h in histories:
            features = _features((h.values - mean) / scale, h.age, window, baseline)
            rul = np.minimum(h.age[-1] - h.age, cap)
            rows.append(features[::-1][::stride][::-1])
            targets.append(rul[::-1][::stride][::-1])
        support = np.vstack(rows)
        y = np.concatenate(targets)
        gram = _kernel(support, support, settings["gamma"])
        gram[np.diag_indices_from(gram)] += settings["ridge"]
        offset = float(y.mean())
        weights = cho_solve(cho_factor(gram, overwrite_a=True), y - offset)
        return RulCalibration(
            channels=[],
            settings=dict(settings),
            mean=mean,
            scale=scale,
            support=support,
            weights=weights,
            offset=offset,
            bin_edges=np.array([]),
            low=np.zeros(1),
            high=np.zeros(1),
        )

    def point(self, trained: RulCalibration, histories: Sequence[History]) -> np.ndarray:
        """Point predictions at the last sample of each history (clipped at 0)."""
        window, baseline = int(trained.settings["window"]), int(trained.settings["baseline"])
        last = np.vstack(
            [
                _last_features((h.values - trained.mean) / trained.scale, h.age, window, baseline)
                for h in histories
            ]
        )
        gamma = trained.settings["gamma"]
        # a block of units at a time: a fleet's kernel matrix whole would take gigabytes
        values = np.concatenate(
            [
                _kernel(last[start : start + _PREDICT_BLOCK], trained.support, gamma)
                @ trained.weights
                for start in range(0, len(last), _PREDICT_BLOCK)
            ]
        )
        return np.asarray(np.maximum(values + trained.offset, 0.0))

    def predict(self, trained: RulCalibration, histories: Sequence[History]) -> list[RulPrediction]:
        """p10/p50/p90 RUL at the last sample of each history (values in model channel order)."""
        if not histories:
            return []
        p50 = self.point(trained, histories)
        which = np.searchsorted(trained.bin_edges, p50)
        p10 = np.maximum(p50 + trained.low[which], 0.0)
        p90 = np.maximum(p50 + trained.high[which], p50)
        return [
            RulPrediction(h.unit, float(h.age[-1]), float(a), float(b), float(c))
            for h, a, b, c in zip(histories, p10, p50, p90, strict=True)
        ]


def cross_validate(
    model: KernelRulModel,
    histories: Sequence[History],
    settings: Mapping[str, float],
    *,
    folds: int = 5,
    seed: int = 0,
    cuts: int = 5,
    min_observed: int = 31,
    rul_range: tuple[int, int] = (7, 145),
) -> CrossValidation:
    """The test protocol emulated on run-to-failure histories: units are split into folds;
    each held-out unit is cut at `cuts` random points whose true RUL lies in `rul_range`
    (the span of the published FD001 truths) with at least `min_observed` cycles seen
    (the shortest FD001 test unit), and the prediction at the cut is scored."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(histories))
    truth, predicted, units = [], [], []
    for k in range(folds):
        held = set(order[k::folds].tolist())
        train = [h for i, h in enumerate(histories) if i not in held]
        trained = model.fit(train, settings)
        cases = []
        for i in sorted(held):
            h = histories[i]
            life = len(h.age)
            top = min(rul_range[1], life - min_observed)
            if top < rul_range[0]:
                continue
            for rul in rng.integers(rul_range[0], top + 1, size=cuts):
                cut = life - int(rul)
                cases.append(History(h.unit, h.age[:cut], h.values[:cut], False))
                truth.append(float(h.age[-1] - h.age[cut - 1]))
                units.append(h.unit)
        if cases:
            predicted.extend(model.point(trained, cases).tolist())
    return CrossValidation(np.array(truth), np.array(predicted), units)
