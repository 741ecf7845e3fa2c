"""The graph-facing side of each model: read the inputs, run the model, record the runs.

One module per model, named after the numeric module it drives (`procedures.thermal`
drives `sim.thermal`, …). The numeric modules import no graph code; these do. The
registry (`sim.registry`) holds a model's procedures by name, and `sim.api` dispatches
to them, so a model registered with `thread.sim.register` calibrates and runs through the
same functions as the built-in ones.
"""

from __future__ import annotations

from thread.sim.procedures.base import CalibrationRequest, Procedures, RunRequest, SimResult

__all__ = ["CalibrationRequest", "Procedures", "RunRequest", "SimResult"]
