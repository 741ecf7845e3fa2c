"""PCA with Hotelling's T² and the Q statistic (SPE), the classic multivariate monitor.

The healthy window is standardised and split into a principal subspace (the components
that explain `variance` of it) and a residual. T² measures how far a row is inside the
subspace, Q how far it is off it. Their limits at confidence `alpha` are the textbook
ones: an F distribution for T², Jackson and Mudholkar's approximation for Q. The score of
a row is the larger of T²/limit and Q/limit, so 1.0 is the limit; `threshold` scales it.

The limits assume independent rows, which smoothed plant data are not: on drifting
channels this chart raises more false alarms than `mma` (see `thread detect evaluate`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from thread.sim.anomaly.base import CalibrationError, Detector, rows_times, trailing_mean

__all__ = ["PcaDetector"]

_TINY = 1e-12


def _limits(eigen: np.ndarray, k: int, n: int, alpha: float) -> tuple[float, float]:
    from scipy import stats

    t2 = k * (n - 1) * (n + 1) / (n * (n - k)) * float(stats.f.ppf(alpha, k, n - k))
    rest = eigen[k:]
    theta1, theta2, theta3 = (float((rest**i).sum()) for i in (1, 2, 3))
    if theta1 <= _TINY:
        return t2, _TINY
    h0 = 1 - 2 * theta1 * theta3 / (3 * theta2**2)
    c = float(stats.norm.ppf(alpha))
    q = theta1 * (
        c * np.sqrt(2 * theta2 * h0**2) / theta1 + 1 + theta2 * h0 * (h0 - 1) / theta1**2
    ) ** (1 / h0)
    return t2, float(q)


class PcaDetector(Detector):
    """Hotelling T² and Q on standardised trailing means, as one score (1.0 = limit)."""

    kind: ClassVar[str] = "pca"

    def __init__(
        self,
        channels: tuple[str, ...],
        *,
        mean: np.ndarray,
        std: np.ndarray,
        loadings: np.ndarray,
        eigen: np.ndarray,
        t2_limit: float,
        q_limit: float,
        variance: float,
        alpha: float,
        window: int,
        threshold: float,
        clear: float,
        critical: float,
    ) -> None:
        super().__init__(channels, window, threshold, clear, critical)
        self.mean = mean
        self.std = std
        self.loadings = loadings
        self.eigen = eigen
        self.t2_limit = t2_limit
        self.q_limit = q_limit
        self.variance = variance
        self.alpha = alpha

    @classmethod
    def fit(
        cls,
        rows: np.ndarray,
        channels: tuple[str, ...],
        *,
        window: int = 1,
        variance: float = 0.9,
        alpha: float = 0.99,
        threshold: float = 1.0,
        clear: float = 1.0,
        critical: float = 2.0,
    ) -> PcaDetector:
        """Fit on healthy rows (n x channels).

        Raises:
            CalibrationError: too few rows for the number of channels, or bad settings.
        """
        rows = np.asarray(rows, dtype=float)
        if window < 1 or not 0 < variance <= 1 or not 0.5 < alpha < 1:
            raise CalibrationError("pca needs window >= 1, 0 < variance <= 1, 0.5 < alpha < 1")
        if not 0 < clear <= threshold:
            raise CalibrationError("pca needs 0 < clear <= threshold")
        smoothed = trailing_mean(rows, window)[window - 1 :]
        n, d = smoothed.shape
        if n < max(2 * d, d + 10):
            raise CalibrationError(
                f"pca over {d} channels needs at least {max(2 * d, d + 10) + window - 1} calibration rows, got {len(rows)}"
            )
        mean = smoothed.mean(axis=0)
        std = np.maximum(smoothed.std(axis=0, ddof=1), _TINY)
        z = (smoothed - mean) / std
        _, singular, vt = np.linalg.svd(z, full_matrices=False)
        eigen = singular**2 / (n - 1)
        explained = np.cumsum(eigen) / eigen.sum()
        k = min(int(np.searchsorted(explained, variance) + 1), max(d - 1, 1))
        t2_limit, q_limit = _limits(eigen, k, n, alpha)
        return cls(
            channels,
            mean=mean,
            std=std,
            loadings=vt[:k].T,
            eigen=eigen,
            t2_limit=t2_limit,
            q_limit=q_limit,
            variance=variance,
            alpha=alpha,
            window=window,
            threshold=threshold,
            clear=clear,
            critical=critical,
        )

    def statistic(self, smoothed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = (smoothed - self.mean) / self.std
        k = self.loadings.shape[1]
        scores = rows_times(z, self.loadings)
        inverse = self.loadings / self.eigen[:k]  # P Λ⁻¹
        t2_terms = z * rows_times(scores, inverse.T)  # channel terms of T² (sum to T²)
        residual = z - rows_times(scores, self.loadings.T)
        q_terms = residual**2
        t2 = t2_terms.sum(axis=1) / self.t2_limit
        q = q_terms.sum(axis=1) / self.q_limit
        score = np.maximum(t2, q)
        terms = np.where((t2 >= q)[:, None], t2_terms, q_terms)
        total = terms.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(total > 0, terms / total, 0.0)
        return score, shares

    def parameters(self) -> dict[str, Any]:
        return {
            "variance": self.variance,
            "alpha": self.alpha,
            "t2_limit": self.t2_limit,
            "q_limit": self.q_limit,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "loadings": self.loadings.tolist(),
            "eigen": self.eigen.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PcaDetector:
        return cls(
            tuple(data["channels"]),
            mean=np.array(data["mean"], dtype=float),
            std=np.array(data["std"], dtype=float),
            loadings=np.array(data["loadings"], dtype=float),
            eigen=np.array(data["eigen"], dtype=float),
            t2_limit=float(data["t2_limit"]),
            q_limit=float(data["q_limit"]),
            variance=float(data["variance"]),
            alpha=float(data["alpha"]),
            window=int(data["window"]),
            threshold=float(data["threshold"]),
            clear=float(data["clear"]),
            critical=float(data["critical"]),
        )
