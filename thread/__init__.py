"""Thread: the digital thread of parts, units, sensors, scenes and buildings as one graph.

The public API lives in the submodules (`thread.stores`, `thread.pipeline`, `thread.queries`);
this package stays import-light so the CLI starts fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
