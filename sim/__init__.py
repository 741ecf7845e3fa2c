"""Simulation: models calibrated on the thread's telemetry and history, runs in the graph.

Import-light on purpose (the CLI imports it at start-up): a model's numeric module
(`sim.thermal`, `sim.rul`, `sim.reliability`, `sim.maintenance`) and its graph-facing
procedures (`sim.procedures.<module>`) load when the model is used, through
`sim.registry`. Scripts use `sim.api`, which mirrors `thread sim …`.
"""

from __future__ import annotations

from thread.sim.registry import get_model, get_procedures, model_names, register

__all__ = ["get_model", "get_procedures", "model_names", "register"]
