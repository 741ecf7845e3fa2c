"""Streaming anomaly detection: detectors calibrated on a healthy window that score rows
causally, episodes built from their alarms, and the SKAB evaluation protocol.

Two detectors: `pca` (Hotelling T² and Q with textbook limits) and `mma` (a multivariate
moving-average chart with drift-aware scaling, the default). Both are plain numpy; this
package does not depend on the rest of `sim` or on the graph.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np

from thread.sim.anomaly.base import CalibrationError, Detector, Scores, StreamScorer
from thread.sim.anomaly.episodes import Episode, EpisodeTracker
from thread.sim.anomaly.mma import MovingAverageChart
from thread.sim.anomaly.pca import PcaDetector

__all__ = [
    "DETECTOR_KINDS",
    "CalibrationError",
    "Detector",
    "DetectorKind",
    "Episode",
    "EpisodeTracker",
    "MovingAverageChart",
    "PcaDetector",
    "Scores",
    "StreamScorer",
    "detector_from_dict",
    "fit_detector",
]

DetectorKind = Literal["mma", "pca"]
DETECTOR_KINDS: tuple[DetectorKind, ...] = get_args(DetectorKind)
_CLASSES: dict[str, type[MovingAverageChart] | type[PcaDetector]] = {
    "mma": MovingAverageChart,
    "pca": PcaDetector,
}


def fit_detector(
    kind: DetectorKind, rows: np.ndarray, channels: tuple[str, ...], **settings: Any
) -> Detector:
    """Calibrate a detector of `kind` on healthy rows; `settings` override its defaults.

    Raises:
        CalibrationError: unknown kind or setting, or data that cannot support it.
    """
    cls = _CLASSES.get(kind)
    if cls is None:
        raise CalibrationError(f"unknown detector {kind!r}; known: {', '.join(DETECTOR_KINDS)}")
    try:
        return cls.fit(rows, channels, **settings)
    except TypeError as exc:  # an unknown setting name
        raise CalibrationError(f"{kind}: {exc}") from None


def detector_from_dict(data: dict[str, Any]) -> Detector:
    """Rebuild a fitted detector from `Detector.to_dict()`."""
    cls = _CLASSES.get(str(data.get("kind")))
    if cls is None:
        raise CalibrationError(f"unknown detector {data.get('kind')!r}")
    return cls.from_dict(data)
