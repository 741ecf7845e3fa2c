"""Neo4j's scripted Bolt server (../shared/tools/neo4j-boltstub) as a test fixture.

A stub plays a script: it checks every message the real `neo4j` driver sends (BEGIN with
its access mode, bookmarks, database and timeout; RUN with the statement and parameters)
and answers as the script says, a failure with a Neo4j status code included. It exits 0
only when the client followed the script to its end, so `BoltStub.finish()` asserting the
exit code is what proves the wire traffic.

The builders below write the usual pieces of a script: a connection's greeting and
goodbye, a transaction, a failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from support.net import free_port

__all__ = [
    "NO_BOLTSTUB",
    "TOOLS",
    "BoltStub",
    "chain",
    "failing_tx",
    "run_stub",
    "script",
    "tx",
]


def _find_tools() -> Path | None:
    """The stub: THREAD_SHARED_TOOLS, else ../shared/tools beside the checkout."""
    candidates = [
        os.environ.get("THREAD_SHARED_TOOLS"),
        Path(__file__).resolve().parents[3] / "shared" / "tools",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "neo4j-boltstub" / "boltstub").is_dir():
            return Path(candidate) / "neo4j-boltstub"
    return None


TOOLS = _find_tools()
NO_BOLTSTUB = (
    "Neo4j's scripted Bolt server (../shared/tools/neo4j-boltstub) is not beside this "
    "checkout; set THREAD_SHARED_TOOLS"
)


def _jolt(value: Any) -> str:
    return json.dumps(value)


def script(*body: str, restart: bool = False) -> str:
    """A whole script: Bolt 5.4, one connection's greeting, the body, its goodbye."""
    head = "!: BOLT 5.4\n" + ("!: ALLOW RESTART\n" if restart else "")
    return (
        head
        + '\nA: HELLO {"{}": "*"}\nA: LOGON {"{}": "*"}\n*: RESET\n'
        + "\n*: RESET\n".join(body)
        + "\n*: RESET\n?: GOODBYE\n"
    )


def _begin(
    mode: str, bookmarks: Sequence[str], timeout_ms: int | None, database: str | None
) -> str:
    fields: dict[str, Any] = {}
    if mode == "r":
        fields["mode"] = "r"
    if bookmarks:
        fields["bookmarks{}"] = list(bookmarks)
    if timeout_ms is not None:
        fields["tx_timeout"] = timeout_ms
    if database is not None:
        fields["db"] = database
    return f"C: BEGIN {_jolt(fields)}\nS: SUCCESS {{}}\n"


def _run(statement: str, params: Mapping[str, Any] | str) -> str:
    text = "*" if statement == "*" else statement.replace("\\", "\\\\").replace("*", "\\*")
    return f"C: RUN {_jolt(text)} {_jolt(params)} {{}}\n"


def tx(
    statement: str,
    params: Mapping[str, Any] | str | None = None,
    *,
    mode: str = "w",
    fields: Sequence[str] = (),
    records: Sequence[Sequence[Any]] = (),
    bookmarks: Sequence[str] = (),
    commit_bookmark: str = "bm:next",
    timeout_ms: int | None = None,
    database: str | None = None,
) -> str:
    """One transaction of one statement that succeeds and commits.

    `statement` "*" matches any text; `bookmarks` are the ones the client must send."""
    lines = _begin(mode, bookmarks, timeout_ms, database)
    lines += _run(statement, {} if params is None else params)
    lines += f"S: SUCCESS {_jolt({'fields': list(fields)})}\n"
    lines += 'C: PULL {"n": 1000}\n'
    for record in records:
        lines += f"S: RECORD {_jolt(list(record))}\n"
    lines += f"S: SUCCESS {_jolt({'type': mode})}\n"
    lines += f"C: COMMIT\nS: SUCCESS {_jolt({'bookmark': commit_bookmark})}\n"
    return lines


def chain(after: str | None, *steps: Mapping[str, Any]) -> list[str]:
    """Transactions (`tx` arguments each) where each must carry the bookmark the one
    before committed with, the first `after` (None: no bookmark)."""
    body = []
    for number, step in enumerate(steps):
        committed = f"bm:chain{number}"
        body.append(tx(**step, bookmarks=[after] if after else [], commit_bookmark=committed))
        after = committed
    return body


def failing_tx(
    code: str,
    message: str = "failed on purpose",
    statement: str = "*",
    params: Mapping[str, Any] | str = "*",
    *,
    mode: str = "w",
    bookmarks: Sequence[str] = (),
    timeout_ms: int | None = None,
) -> str:
    """A transaction whose statement the server answers with FAILURE `code`."""
    lines = _begin(mode, bookmarks, timeout_ms, None)
    lines += _run(statement, params)
    lines += 'C: PULL {"n": 1000}\n'
    lines += f"S: FAILURE {_jolt({'code': code, 'message': message})}\n"
    lines += "S: IGNORED\n"
    lines += "{?\n    C: ROLLBACK\n    S: SUCCESS {}\n?}\n"
    return lines


class BoltStub:
    """One running stub server, playing one script."""

    def __init__(self, text: str, folder: Path, port: int | None = None) -> None:
        if TOOLS is None:
            pytest.skip(NO_BOLTSTUB)
        self.restart = "!: ALLOW RESTART" in text
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        path = folder / f"stub-{self.port}.script"
        path.write_text(text)
        env = {**os.environ, "PYTHONPATH": str(TOOLS)}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "boltstub", "--listen-addr", self.address, str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._output: list[str] = []
        listening = threading.Event()

        def read() -> None:
            assert self._process.stdout is not None
            for line in self._process.stdout:
                self._output.append(line)
                if "Listening" in line:
                    listening.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not listening.wait(20):
            self.kill()
            raise AssertionError("the Bolt stub did not start:\n" + self.output)

    @property
    def output(self) -> str:
        return "".join(self._output)

    def finish(self, timeout: float = 10) -> None:
        """Wait for the stub to end; it must have seen the whole script. A stub that
        takes new connections (`restart`) is told to finish its scripts first."""
        if self.restart:
            self._process.send_signal(signal.SIGINT)
        try:
            code = self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("the client did not finish the script:\n" + self.output) from None
        self._reader.join(5)
        self._close_pipe()
        assert code == 0, f"the client strayed from the script (exit {code}):\n{self.output}"

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._reader.join(5)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self._process.stdout is not None:
            self._process.stdout.close()


@contextmanager
def run_stub(text: str, folder: Path, port: int | None = None) -> Iterator[BoltStub]:
    """A stub for the `with` block; it must have played its script to the end."""
    stub = BoltStub(text, folder, port)
    try:
        yield stub
    except BaseException:
        stub.kill()
        raise
    stub.finish()
