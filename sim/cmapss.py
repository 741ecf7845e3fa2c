"""Scoring the RUL model on labelled files in NASA's C-MAPSS layout, outside the graph.

`evaluate` is the one place `sim` reads files directly: it trains on a run-to-failure
file, predicts the last cycle of each test unit and compares with the published truth
(one RUL per test unit, in unit order), importing nothing. The layout comes from a
telemetry mapping (`cmapss`, shipped in importers/mappings/, or any mapping file).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from thread.errors import SourceError
from thread.sim.errors import SimError
from thread.sim.rul import History, KernelRulModel, RulPrediction, nasa_score

__all__ = ["Evaluation", "evaluate_rul", "mapping_path", "read_histories"]


@dataclass
class Evaluation:
    """Scores of the last-cycle predictions against the truth."""

    rmse: float
    nasa_score: float
    mae: float
    units: int
    predictions: list[RulPrediction]
    truth: list[float]
    channels: list[str]
    cross_validation: dict[str, float]

    def to_dict(self, *, per_unit: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rmse": self.rmse,
            "nasa_score": self.nasa_score,
            "mae": self.mae,
            "units": self.units,
            "channels": self.channels,
            "train_cross_validation": self.cross_validation,
        }
        if per_unit:
            data["predictions"] = [
                {**p.to_dict(), "true_rul": t, "error": p.p50 - t}
                for p, t in zip(self.predictions, self.truth, strict=True)
            ]
        return data


def mapping_path(name: str) -> Path:
    """A named layout Thread ships (`cmapss`, in importers/mappings/), or a path to a mapping file."""
    candidate = Path(name)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    shipped = resources.files("thread.importers").joinpath(f"mappings/{name}.toml")
    if not shipped.is_file():
        raise SimError(f"no mapping named {name!r}; give `cmapss` or the path to a mapping file")
    return Path(str(shipped))


def read_histories(path: Path, mapping: Path) -> tuple[list[History], list[str]]:
    """Units and their channels from a file in the mapping's layout (index-clocked, wide).

    Returns:
        (histories in unit order, channel names): channels are the mapping's columns other
        than the clock, the unit columns and the operational settings.

    Raises:
        SourceError: unreadable file, wrong column count, non-numbers.
    """
    from thread.importers.mapping import load_mapping, parse_mapping, template_fields
    from thread.importers.tabular import decode, split_rows
    from thread.importers.telemetry import TelemetrySpec

    spec = parse_mapping(load_mapping(mapping), "telemetry", str(mapping))
    telemetry = TelemetrySpec.model_validate(spec.telemetry)
    options = spec.source
    if telemetry.index is None or telemetry.layout != "wide":
        raise SimError(f"{mapping}: evaluate needs a wide layout indexed by cycle (index = ...)")
    text = decode(path, str(path), options.encoding)
    rows = [fields for _, fields in split_rows(text, options, str(path))]
    names = list(options.names)
    if options.header and rows:
        names, rows = rows[0], rows[1:]
    if not rows:
        raise SourceError(f"{path}: no data rows")
    try:
        table = np.array(rows, dtype=float)
    except ValueError:
        raise SourceError(f"{path}: every field must be a number in this layout") from None
    if table.ndim != 2 or table.shape[1] != len(names):
        raise SourceError(f"{path}: expected {len(names)} columns as the mapping names them")
    unit_columns = template_fields(telemetry.sensor)
    settings = {c for c, q in telemetry.quantities.items() if q == "operational setting"}
    skip = {telemetry.index, *unit_columns, *settings}
    channels = telemetry.channels or [n for n in names if n not in skip]
    unit_index = [names.index(c) for c in unit_columns]
    clock = names.index(telemetry.index)
    values = [names.index(c) for c in channels]
    keys = [tuple(row) for row in table[:, unit_index]]
    histories = []
    for key in dict.fromkeys(keys):
        rows_of = table[np.all(table[:, unit_index] == key, axis=1)]
        rows_of = rows_of[np.argsort(rows_of[:, clock], kind="stable")]
        name = "-".join(str(int(k)) if float(k).is_integer() else str(k) for k in key)
        histories.append(History(name, rows_of[:, clock], rows_of[:, values], False))
    return histories, channels


def evaluate_rul(
    train: Path,
    test: Path,
    truth: Path,
    mapping: str = "cmapss",
    *,
    settings: Mapping[str, float] | None = None,
    seed: int = 0,
) -> Evaluation:
    """Train on `train` (every unit ran to failure), predict the last cycle of each unit of
    `test`, score against `truth` (RMSE, the PHM08 score summed over units, MAE).

    Raises:
        SourceError / SimError: unreadable files or a truth file whose length does not
            match the number of test units.
    """
    path = mapping_path(mapping)
    train_units, channels = read_histories(train, path)
    test_units, test_channels = read_histories(test, path)
    if test_channels != channels:
        raise SimError(f"{test}: its channels differ from the training file's")
    truth_values = [float(x) for x in decode_numbers(truth)]
    if len(truth_values) != len(test_units):
        raise SimError(f"{truth}: {len(truth_values)} values for {len(test_units)} test units")
    model = KernelRulModel()
    failed = [History(h.unit, h.age, h.values, True) for h in train_units]
    trained = model.calibrate(failed, channels, settings, seed=seed)
    index = [channels.index(c) for c in trained.channels]
    predictions = model.predict(
        trained, [History(h.unit, h.age, h.values[:, index], False) for h in test_units]
    )
    p50 = np.array([p.p50 for p in predictions])
    errors = p50 - np.array(truth_values)
    return Evaluation(
        rmse=float(np.sqrt(np.mean(errors**2))),
        nasa_score=float(nasa_score(errors).sum()),
        mae=float(np.mean(np.abs(errors))),
        units=len(test_units),
        predictions=predictions,
        truth=truth_values,
        channels=trained.channels,
        cross_validation=trained.metrics,
    )


def decode_numbers(path: Path) -> list[str]:
    from thread.importers.tabular import decode

    return decode(path, str(path), "utf-8").split()
