"""From abnormal rows to episodes: consecutive alarmed rows are one episode, not thousands.

An episode opens at the first alarmed row and clears at the first row back to normal
(its `end`); while open it keeps its peak score and the running sum of each channel's
share of the statistic, which names the channels that contributed most. Evaluation and
the live path both use `EpisodeTracker`, so a replayed file gives the same episodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from thread.sim.anomaly.base import Detector, Scores

__all__ = ["Episode", "EpisodeTracker"]

_MAX_CONTRIBUTORS = 3
_MIN_SHARE = 0.1


@dataclass
class Episode:
    """One alarm episode; times are whatever the rows carry (microseconds, or an index)."""

    start: int
    end: int | None
    peak_score: float
    peak_at: int
    rows: int
    threshold: float
    severity: str
    totals: np.ndarray = field(repr=False)
    channels: tuple[str, ...] = field(repr=False)

    @property
    def open(self) -> bool:
        return self.end is None

    def contributors(self) -> list[str]:
        """The channels with the largest share of the statistic over the episode (at
        least one, at most three, each with 10 % or more of the total)."""
        positive = np.maximum(self.totals, 0.0)
        total = positive.sum()
        if total <= 0:
            return []
        order = np.argsort(-positive, kind="stable")
        names = [
            self.channels[i] for i in order[:_MAX_CONTRIBUTORS] if positive[i] / total >= _MIN_SHARE
        ]
        return names or [self.channels[int(order[0])]]


class EpisodeTracker:
    """Turns scored rows into episode changes (opened, grown, cleared)."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.current: Episode | None = None

    def update(self, times: np.ndarray, scores: Scores) -> list[Episode]:
        """The episodes that changed with these rows, in order; an episode that opened
        and cleared within them is returned once, cleared."""
        changed: list[Episode] = []
        detector = self.detector
        alarm = scores.alarm
        if not alarm.any() and self.current is None:
            return changed
        for i in range(len(times)):
            episode = self.current
            if alarm[i]:
                value = float(scores.score[i])
                if episode is None:
                    episode = Episode(
                        start=int(times[i]),
                        end=None,
                        peak_score=value,
                        peak_at=int(times[i]),
                        rows=0,
                        threshold=detector.threshold,
                        severity=detector.severity(value),
                        totals=np.zeros(len(detector.channels)),
                        channels=detector.channels,
                    )
                    self.current = episode
                episode.rows += 1
                episode.totals += scores.contributions[i]
                if value > episode.peak_score:
                    episode.peak_score, episode.peak_at = value, int(times[i])
                    episode.severity = detector.severity(value)
                if not changed or changed[-1] is not episode:
                    changed.append(episode)
            elif episode is not None:
                episode.end = int(times[i])
                self.current = None
                if not changed or changed[-1] is not episode:
                    changed.append(episode)
        return changed
