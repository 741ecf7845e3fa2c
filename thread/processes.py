"""Whether a process that left something behind (a staged file, a running import) is still
there: what it left may be cleaned up or marked only once it is gone."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["process_alive", "process_started"]


def process_alive(pid: int) -> bool:
    """Whether some process has this pid (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None if it is gone or
    there is no /proc: with the pid, it tells a process from a later one given its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name, in brackets, may hold spaces: fields count from after it
    return stat.rsplit(")", 1)[1].split()[19]
