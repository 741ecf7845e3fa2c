"""A multivariate moving-average chart with drift-aware scaling (`mma`).

The statistic is the Mahalanobis distance of the trailing mean of the last `window` rows
from the healthy mean. Two choices make it hold up on real plant data where a PCA T²/Q
chart raises false alarms:

- Each channel is scaled by the larger of its healthy spread and how far its trailing
  mean typically wanders over `lag` rows in the calibration window (the square root of
  the semivariogram at that lag). A temperature that drifts slowly while the pump is
  healthy gets a wide scale; a flow that only jitters around its level keeps a tight one.
  Without this, the first hours after calibration alarm on every slow drift.
- The correlation of the scaled channels is shrunk towards the identity by `shrinkage`
  (a few hundred autocorrelated rows cannot pin down every correlation), so the distance
  stays stable when a weakly correlated pair moves apart.

Alarms use hysteresis: on above `threshold`, off below `clear`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from thread.sim.anomaly.base import CalibrationError, Detector, rows_times, trailing_mean

__all__ = ["MovingAverageChart"]

_TINY = 1e-12


class MovingAverageChart(Detector):
    """Mahalanobis distance of trailing means, with drift-aware scales and hysteresis."""

    kind: ClassVar[str] = "mma"

    def __init__(
        self,
        channels: tuple[str, ...],
        *,
        mean: np.ndarray,
        scale: np.ndarray,
        precision: np.ndarray,
        window: int,
        lag: int,
        shrinkage: float,
        threshold: float,
        clear: float,
        critical: float,
    ) -> None:
        super().__init__(channels, window, threshold, clear, critical)
        self.mean = mean
        self.scale = scale
        self.precision = precision
        self.lag = lag
        self.shrinkage = shrinkage

    @classmethod
    def fit(
        cls,
        rows: np.ndarray,
        channels: tuple[str, ...],
        *,
        window: int = 20,
        lag: int = 100,
        shrinkage: float = 0.3,
        threshold: float = 10.0,
        clear: float = 7.0,
        critical: float = 2.0,
    ) -> MovingAverageChart:
        """Fit on healthy rows (n x channels).

        Raises:
            CalibrationError: fewer than window + lag + 10 rows, or settings out of range.
        """
        rows = np.asarray(rows, dtype=float)
        if window < 1 or lag < 1 or not 0 <= shrinkage <= 1 or not 0 < clear <= threshold:
            raise CalibrationError(
                "mma needs window >= 1, lag >= 1, 0 <= shrinkage <= 1 and 0 < clear <= threshold"
            )
        needed = window + lag + 10
        if len(rows) < needed:
            raise CalibrationError(
                f"mma with window {window} and lag {lag} needs at least {needed} calibration rows, got {len(rows)}"
            )
        smoothed = trailing_mean(rows, window)[window - 1 :]
        mean = smoothed.mean(axis=0)
        spread = smoothed.std(axis=0, ddof=1)
        steps = smoothed[lag:] - smoothed[:-lag]
        wander = np.sqrt((steps**2).mean(axis=0) / 2)
        scale = np.maximum(np.maximum(spread, wander), _TINY)
        z = (smoothed - mean) / scale
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(z, rowvar=False) if z.shape[1] > 1 else np.ones((1, 1))
        corr = np.nan_to_num(np.atleast_2d(corr), nan=0.0)
        np.fill_diagonal(corr, 1.0)
        shrunk = (1 - shrinkage) * corr + shrinkage * np.eye(len(channels))
        precision = np.linalg.pinv(shrunk)
        return cls(
            channels,
            mean=mean,
            scale=scale,
            precision=precision,
            window=window,
            lag=lag,
            shrinkage=shrinkage,
            threshold=threshold,
            clear=clear,
            critical=critical,
        )

    def statistic(self, smoothed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = (smoothed - self.mean) / self.scale
        pz = rows_times(z, self.precision)
        terms = z * pz  # each channel's term of the squared distance
        squared = np.maximum(terms.sum(axis=1), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(squared[:, None] > 0, terms / squared[:, None], 0.0)
        return np.sqrt(squared), shares

    def parameters(self) -> dict[str, Any]:
        return {
            "lag": self.lag,
            "shrinkage": self.shrinkage,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "precision": self.precision.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MovingAverageChart:
        return cls(
            tuple(data["channels"]),
            mean=np.array(data["mean"], dtype=float),
            scale=np.array(data["scale"], dtype=float),
            precision=np.array(data["precision"], dtype=float),
            window=int(data["window"]),
            lag=int(data["lag"]),
            shrinkage=float(data["shrinkage"]),
            threshold=float(data["threshold"]),
            clear=float(data["clear"]),
            critical=float(data["critical"]),
        )
