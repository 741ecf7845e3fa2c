"""Errors of the simulation layer: each says what is missing and what to do about it."""

from __future__ import annotations

from thread.errors import ThreadError

__all__ = [
    "CalibrationError",
    "MissingInputError",
    "NotEnoughDataError",
    "RunNotFoundError",
    "SimError",
    "UnknownModelError",
]


class SimError(ThreadError):
    """Root of the errors `sim` raises on purpose."""


class UnknownModelError(SimError):
    """No model is registered under this name."""


class MissingInputError(SimError):
    """A model needs a channel role, a twin or a history the graph does not hold."""


class NotEnoughDataError(SimError):
    """The data exist but are too few to calibrate or predict (too short, no failures)."""


class CalibrationError(SimError):
    """The fit did not converge or gave parameters at their bounds."""


class RunNotFoundError(SimError):
    """No SimulationRun has this id."""
