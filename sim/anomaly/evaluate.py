"""The SKAB outlier-detection protocol on labelled files.

Per file: calibrate without labels on the first `train_rows` rows, predict every later row
causally (the scorer is warmed with the calibration rows, then sees each row once, in
order), and compare with the file's label column. TP/FP/FN/TN are summed over all files'
test rows; F1 = TP / (TP + (FP + FN) / 2), FAR = FP / (FP + TN), MAR = FN / (FN + TP).

The files are SKAB's: a separator of ';' or ',', a time column, numeric channels, a 0/1
label column; other label-like columns (SKAB's `changepoint`) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thread.sim.anomaly import DetectorKind, fit_detector
from thread.sim.anomaly.base import CalibrationError
from thread.sim.anomaly.episodes import Episode, EpisodeTracker

__all__ = ["Confusion", "Evaluation", "FileResult", "LabelledFile", "evaluate", "read_labelled"]


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, other: Confusion) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.tn += other.tn

    @property
    def f1(self) -> float:
        denominator = self.tp + (self.fp + self.fn) / 2
        return self.tp / denominator if denominator else 0.0

    @property
    def far(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def mar(self) -> float:
        return self.fn / (self.fn + self.tp) if self.fn + self.tp else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "f1": self.f1,
            "far": self.far,
            "mar": self.mar,
        }


@dataclass
class LabelledFile:
    """A labelled file as arrays: times (µs since the epoch), values, labels."""

    path: Path
    channels: tuple[str, ...]
    times: np.ndarray
    values: np.ndarray
    labels: np.ndarray


@dataclass
class FileResult:
    path: str
    rows: int
    test_rows: int
    confusion: Confusion
    episodes: list[Episode] = field(default_factory=list)


@dataclass
class Evaluation:
    detector: str
    settings: dict[str, Any]
    train_rows: int
    files: list[FileResult]
    total: Confusion

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "settings": self.settings,
            "train_rows": self.train_rows,
            **self.total.to_dict(),
            "files": [
                {
                    "path": f.path,
                    "rows": f.rows,
                    "test_rows": f.test_rows,
                    **f.confusion.to_dict(),
                    "episodes": len(f.episodes),
                }
                for f in self.files
            ],
        }


def _separator(path: Path) -> str:
    with open(path, encoding="utf-8") as handle:
        header = handle.readline()
    return ";" if header.count(";") > header.count(",") else ","


def read_labelled(
    path: Path,
    *,
    time_column: str = "datetime",
    label: str = "anomaly",
    exclude: Sequence[str] = (),
) -> LabelledFile:
    """Read one labelled file; every column but time, label and `exclude` is a channel.

    Raises:
        CalibrationError: the file is missing, has no such columns, or holds non-numbers.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    if not path.is_file():
        raise CalibrationError(f"{path}: file not found")
    try:
        table = pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter=_separator(path)),
            convert_options=pacsv.ConvertOptions(column_types={time_column: pa.string()}),
        )
    except pa.ArrowInvalid as exc:
        raise CalibrationError(f"{path}: {exc}") from None
    missing = [c for c in (time_column, label) if c not in table.column_names]
    if missing:
        raise CalibrationError(
            f"{path}: no column {', '.join(map(repr, missing))}; the columns are: {', '.join(table.column_names)}"
        )
    channels = tuple(c for c in table.column_names if c not in {time_column, label, *exclude})
    try:
        stamps = pc.cast(pc.cast(table.column(time_column), pa.timestamp("us")), pa.int64())
        values = np.column_stack(
            [
                pc.cast(table.column(c), pa.float64()).to_numpy(zero_copy_only=False)
                for c in channels
            ]
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise CalibrationError(f"{path}: {exc}") from None
    labels = pc.cast(table.column(label), pa.float64()).to_numpy(zero_copy_only=False) > 0.5
    return LabelledFile(
        path, channels, stamps.to_numpy(zero_copy_only=False), values, labels.astype(bool)
    )


def evaluate(
    paths: Sequence[Path],
    *,
    kind: DetectorKind = "mma",
    train_rows: int = 400,
    settings: dict[str, Any] | None = None,
    time_column: str = "datetime",
    label: str = "anomaly",
    exclude: Sequence[str] = ("changepoint",),
) -> Evaluation:
    """Score labelled files by the SKAB protocol (see the module docstring).

    Raises:
        CalibrationError: a file cannot be read, or is too short to calibrate and test.
    """
    settings = dict(settings or {})
    results: list[FileResult] = []
    total = Confusion()
    for path in paths:
        data = read_labelled(path, time_column=time_column, label=label, exclude=exclude)
        if len(data.times) <= train_rows:
            raise CalibrationError(
                f"{path}: {len(data.times)} rows, not more than the {train_rows} calibration rows"
            )
        detector = fit_detector(kind, data.values[:train_rows], data.channels, **settings)
        scorer = detector.stream()
        scorer.warm(data.values[:train_rows])
        scores = scorer.score(data.values[train_rows:])
        truth = data.labels[train_rows:]
        confusion = Confusion(
            tp=int((scores.alarm & truth).sum()),
            fp=int((scores.alarm & ~truth).sum()),
            fn=int((~scores.alarm & truth).sum()),
            tn=int((~scores.alarm & ~truth).sum()),
        )
        tracker = EpisodeTracker(detector)
        seen: list[Episode] = []
        for episode in tracker.update(data.times[train_rows:], scores):
            if not seen or seen[-1] is not episode:
                seen.append(episode)
        results.append(FileResult(str(path), len(data.times), len(truth), confusion, seen))
        total.add(confusion)
    return Evaluation(kind, settings, train_rows, results, total)
