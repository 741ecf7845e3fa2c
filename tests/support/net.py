"""Local ports for the servers the tests start: a free one, and waiting until one answers."""

from __future__ import annotations

import socket
import time

__all__ = ["free_port", "wait_for_health", "wait_for_port"]


def free_port() -> int:
    """A localhost TCP port nothing listens on now (another process may take it later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Until something accepts connections on the localhost `port`.

    Raises:
        TimeoutError: nothing listened within `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port}")


def wait_for_health(port: int, tries: int) -> None:
    """Until `thread serve` on the localhost `port` answers /health with 200, asking at most
    `tries` times; it returns either way, and the test's own requests then say what failed."""
    import httpx

    for _ in range(tries):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
