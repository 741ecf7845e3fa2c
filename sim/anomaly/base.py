"""What every detector shares: trailing-window smoothing, hysteresis and streaming state.

A detector is fitted once on a healthy window (its calibration) and then scores rows as
they arrive, from the past only: row i is smoothed over rows i-w+1..i and the alarm of row
i depends on rows up to i. The same `StreamScorer` scores a file for evaluation and a live
stream, and a row's score depends only on the rows before it, never on how the rows were
cut into batches, so replaying a file over MQTT gives exactly the alarms of the file.

A fitted detector is plain numbers (`to_dict`), so a calibration can be stored as one JSON
property of its SimulationRun node and rebuilt anywhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from thread.errors import ThreadError

__all__ = [
    "CalibrationError",
    "Detector",
    "Scores",
    "StreamScorer",
    "hysteresis",
    "rows_times",
    "trailing_mean",
]


class CalibrationError(ThreadError):
    """The calibration data cannot support the detector (too few rows, nothing varies)."""


@dataclass(frozen=True)
class Scores:
    """Per scored row: the detector's statistic, whether the row is in alarm, and each
    channel's share of the statistic (rows sum to 1; used to name the contributors)."""

    score: np.ndarray
    alarm: np.ndarray
    contributions: np.ndarray


def trailing_mean(rows: np.ndarray, window: int, history: np.ndarray | None = None) -> np.ndarray:
    """Mean of each row with the `window - 1` rows before it (fewer at the very start).

    `history` holds the rows just before `rows` (at most window - 1 are used). Each output
    row is the mean of exactly the same values in the same order whatever the batching,
    so streamed and whole-file scores are bit-identical.
    """
    if window <= 1:
        return np.array(rows, dtype=float)
    past = np.empty((0, rows.shape[1])) if history is None else history[-(window - 1) :]
    full = np.ascontiguousarray(np.vstack([past, rows]), dtype=float)
    out = np.empty(rows.shape, dtype=float)
    offset = len(past)
    short = max(0, min(len(rows), window - 1 - offset))  # rows whose window is not full yet
    for i in range(short):
        out[i] = full[: offset + i + 1].mean(axis=0)
    if short < len(rows):
        views = np.lib.stride_tricks.sliding_window_view(full, window, axis=0)
        out[short:] = views[offset + short - window + 1 :].mean(axis=-1)
    return out


def rows_times(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """`rows @ matrix`, computed row by row in a fixed order: BLAS picks kernels by the
    number of rows, so `@` can round a row differently in a batch of 7 than in one of 700,
    and a live stream must score exactly as the file does."""
    return np.asarray(np.einsum("ij,jk->ik", rows, matrix))


def hysteresis(score: np.ndarray, on: float, off: float, state: bool) -> np.ndarray:
    """Alarm from the first row above `on` until the first row below `off` (off <= on), so a
    statistic hovering at the limit gives one alarm, not a flicker of them."""
    alarm = np.empty(len(score), dtype=bool)
    for i, value in enumerate(score.tolist()):
        state = value > on if not state else value >= off
        alarm[i] = state
    return alarm


class Detector(ABC):
    """A fitted detector over named channels.

    Attributes:
        channels: the channel names, in the order of the columns it scores.
        window: rows in the trailing mean applied to the inputs.
        threshold: the statistic above which a row is abnormal.
        clear: the statistic below which an alarm clears (hysteresis).
        critical: alerts whose peak reaches `critical` x threshold are critical.
    """

    kind: ClassVar[str]

    def __init__(
        self,
        channels: tuple[str, ...],
        window: int,
        threshold: float,
        clear: float,
        critical: float,
    ) -> None:
        self.channels = channels
        self.window = window
        self.threshold = threshold
        self.clear = clear
        self.critical = critical

    @abstractmethod
    def statistic(self, smoothed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The statistic of each smoothed row and each channel's share of it."""

    @abstractmethod
    def parameters(self) -> dict[str, Any]:
        """The fitted numbers besides the common settings, as JSON-ready values."""

    def settings(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "threshold": self.threshold,
            "clear": self.clear,
            "critical": self.critical,
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the detector (see `sim.anomaly.detector_from_dict`)."""
        return {
            "kind": self.kind,
            "channels": list(self.channels),
            **self.settings(),
            **self.parameters(),
        }

    def stream(self) -> StreamScorer:
        return StreamScorer(self)

    def severity(self, peak: float) -> str:
        return "critical" if peak >= self.critical * self.threshold else "warning"


class StreamScorer:
    """Scores rows in arrival order, keeping the trailing window and the alarm state."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self._history = np.empty((0, len(detector.channels)))
        self._alarm = False

    @property
    def in_alarm(self) -> bool:
        return self._alarm

    def warm(self, rows: np.ndarray) -> None:
        """Take rows as history without scoring them (the rows before a live stream starts)."""
        self._remember(np.asarray(rows, dtype=float))

    def score(self, rows: np.ndarray) -> Scores:
        rows = np.asarray(rows, dtype=float)
        detector = self.detector
        if rows.ndim != 2 or rows.shape[1] != len(detector.channels):
            raise ValueError(f"rows must have {len(detector.channels)} columns")
        if not len(rows):
            empty = np.empty(0)
            return Scores(empty, empty.astype(bool), np.empty((0, rows.shape[1])))
        smoothed = trailing_mean(rows, detector.window, self._history)
        score, shares = detector.statistic(smoothed)
        alarm = hysteresis(score, detector.threshold, detector.clear, self._alarm)
        self._alarm = bool(alarm[-1])
        self._remember(rows)
        return Scores(score, alarm, shares)

    def _remember(self, rows: np.ndarray) -> None:
        keep = self.detector.window - 1
        self._history = np.vstack([self._history, rows])[-keep:] if keep else self._history
