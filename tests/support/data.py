"""Where the tests find the public sample data: THREAD_SHARED_DATA, else ../shared/data
beside the checkout. Without it the tests that read it skip with NO_SHARED_DATA (the
`shared_data` fixture in conftest.py, or a module's `skipif` on SHARED_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["NO_SHARED_DATA", "SHARED_DATA"]


def _find_shared_data() -> Path | None:
    candidates = [
        os.environ.get("THREAD_SHARED_DATA"),
        Path(__file__).resolve().parents[3] / "shared" / "data",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "README.md").exists():
            return Path(candidate)
    return None


SHARED_DATA = _find_shared_data()
NO_SHARED_DATA = (
    "the public sample data (../shared/data) is not beside this checkout; set THREAD_SHARED_DATA"
)
