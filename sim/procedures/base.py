"""What a model's procedures provide, and the requests `thread sim calibrate` / `run` pass on.

A model is two classes: the model (`sim.model.Model`: metadata and the numeric
operations, on arrays) and its procedures (a `Procedures` subclass: the same operations
over a store and a twin, recording runs). The registry holds the procedures class by the
model's name; `sim.api.calibrate` and `sim.api.run` look it up and call it, and know
nothing of any one model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from thread.pipeline.write import ProgressCallback
from thread.sim.errors import SimError
from thread.sim.model import Model
from thread.sim.runs import RunRecord
from thread.stores.base import GraphStore

__all__ = ["CalibrationRequest", "Procedures", "RunRequest", "SimResult"]

M = TypeVar("M", bound=Model, covariant=True)


@dataclass(frozen=True)
class CalibrationRequest:
    """The options of `thread sim calibrate`, as given; each model reads those it has.

    Attributes:
        channels: role → channel uid, for a role the graph leaves ambiguous.
        fixed: parameters (or settings) held at a value, not fitted.
        free: the parameters to fit (None: the model's default choice).
        holdout: share of the record held out to score the fit.
        by_mode: one fit per failure mode (fleet models).
        force: compute and record again even if the same run is recorded.
        progress: called with (stage, done, total) on long steps.
    """

    channels: Mapping[str, str] | None = None
    fixed: Mapping[str, float] = field(default_factory=dict)
    free: Sequence[str] | None = None
    holdout: float = 0.3
    by_mode: bool = False
    force: bool = False
    progress: ProgressCallback | None = None


@dataclass(frozen=True)
class RunRequest:
    """The options of `thread sim run`, parsed; each model reads those it has.

    Attributes:
        set_values: `--set NAME=VALUE` by name (a list, as parsed; one value is expected).
        what_if: `--what-if NAME=V1,V2,…` by name (several values sweep).
        horizon: the look-ahead, in the model's time unit (None: the model's default).
        force: compute and record again even if the same run is recorded.
        progress: called with (stage, done, total) on long steps.
    """

    set_values: Mapping[str, list[float]] = field(default_factory=dict)
    what_if: Mapping[str, list[float]] = field(default_factory=dict)
    horizon: float | None = None
    force: bool = False
    progress: ProgressCallback | None = None

    def single_values(self, model: str) -> dict[str, float]:
        """The `--set` values, the first of each, for a model that has no what-if.

        Raises:
            SimError: what-if values were given.
        """
        if self.what_if:
            raise SimError(f"{model} has no what-if; --what-if applies to the thermal model")
        return {k: v[0] for k, v in self.set_values.items()}


class SimResult(Protocol):
    """What a run returns: anything with a JSON-ready `to_dict()` (what `--json` prints)."""

    def to_dict(self) -> dict[str, Any]: ...


class Procedures(ABC, Generic[M]):
    """A model's operations over the graph: read a twin's inputs, compute, record the runs.

    Subclasses take no constructor arguments (the registry builds them by name) and pass
    their model to `__init__`. Every model runs, so `run` is abstract; `calibrate` is
    for the models whose `operations` list it (the dispatcher checks that first).
    """

    def __init__(self, model: M) -> None:
        self.model = model

    def calibrate(
        self, store: GraphStore, twin_uid: str, request: CalibrationRequest
    ) -> list[RunRecord]:
        """Fit the model to the twin's data and record the calibration run(s).

        Raises:
            SimError: this model has no calibration procedure (what the base class does).
        """
        raise SimError(f"no calibration procedure for {self.model.name}")

    @abstractmethod
    def run(self, store: GraphStore, twin_uid: str, request: RunRequest) -> SimResult:
        """Run the model on the twin (a baseline, a what-if, a prediction) and record it."""
