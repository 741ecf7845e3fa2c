"""Processes for the tests of what Thread does when a process it recorded is gone."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = ["exited_pid", "modules_imported_by"]


def exited_pid() -> int:
    """The process id of a child that has run and exited, so no live process has it (until
    the system hands it out again, which takes a long while)."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(gone.stdout)


def modules_imported_by(code: str, modules: Iterable[str], cwd: Path | None = None) -> list[str]:
    """Which of `modules` a fresh interpreter has imported once it has run `code`: the check
    that a command's start-up stays light (heavy modules load inside the functions)."""
    wanted = list(modules)
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {wanted!r} if m in sys.modules]))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, check=True
    )
    found: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return found
