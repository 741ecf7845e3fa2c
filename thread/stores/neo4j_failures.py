"""How each failure of Neo4j or its driver becomes a Thread error.

The driver raises its own classes, and a server failure can arrive wrapped in a driver one
(a write refused by a read-only database reaches a direct `bolt://` driver as
`WriteServiceUnavailable`). This module looks through that, reads the server's status
code, and says two things: the `ThreadError` a user sees, with what to do about it, and
whether trying again can help. The table is in one place so that it can be read, tested
against Neo4j's scripted Bolt server, and quoted in the documentation.

| server code or driver error | Thread error | tried again |
|---|---|---|
| Statement.AccessMode, in a read | ReadOnlyError | no |
| Statement.AccessMode, in a write; Cluster.NotALeader; General.ForbiddenOnReadOnlyDatabase | StoreError (read-only database or member) | with routing (`neo4j://`) only |
| Transaction.TransactionTimedOutClientConfiguration, TransactionTimedOut | QueryTimeoutError | no |
| General.MemoryPoolOutOfMemoryError, TransactionMemoryLimit, OutOfMemoryError | QueryMemoryError (upserts split the batch instead) | no |
| Transaction.Terminated, LockClientStopped | QueryError | no |
| Security.Unauthorized, other auth failures | StoreError (credentials) | no |
| Security.Forbidden | StoreError (permissions) | no |
| Database.DatabaseNotFound | StoreError | no |
| other ClientError (SyntaxError, ParameterMissing, ConstraintValidationFailed, …) | QueryError | no |
| TransientError (DatabaseUnavailable, DeadlockDetected, …) | QueryError or StoreError | yes |
| DatabaseError | StoreError | no |
| ServiceUnavailable, SessionExpired (connection lost, no route) | StoreError | yes |
| IncompleteCommit | StoreError (the write may or may not have landed) | no |
| other driver errors | StoreError | no |
"""

from __future__ import annotations

from dataclasses import dataclass

from thread.errors import (
    QueryError,
    QueryMemoryError,
    QueryTimeoutError,
    ReadOnlyError,
    StoreError,
    ThreadError,
)

__all__ = ["Attempt", "Failure", "classify"]

_ACCESS_MODE = "Neo.ClientError.Statement.AccessMode"
_NOT_A_LEADER = "Neo.ClientError.Cluster.NotALeader"
_READ_ONLY_DATABASE = "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase"
_CLIENT_TIMEOUT = "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration"
_SERVER_TIMEOUT = "Neo.ClientError.Transaction.TransactionTimedOut"
_MEMORY = (
    "Neo.TransientError.General.MemoryPoolOutOfMemoryError",
    "Neo.TransientError.General.TransactionMemoryLimit",
    "Neo.TransientError.General.OutOfMemoryError",
)
_TERMINATED = (
    "Neo.ClientError.Transaction.Terminated",
    "Neo.ClientError.Transaction.LockClientStopped",
)
_DATABASE_NOT_FOUND = "Neo.ClientError.Database.DatabaseNotFound"
_FORBIDDEN = "Neo.ClientError.Security.Forbidden"
_UNAVAILABLE = "Neo.TransientError.General.DatabaseUnavailable"


@dataclass(frozen=True)
class Failure:
    """What a failure means for the caller: the error to raise, and whether to try again."""

    error: ThreadError
    retry: bool = False


@dataclass(frozen=True)
class Attempt:
    """What was being done when the failure happened: it shapes the message."""

    store: str
    database: str | None
    read_only: bool
    timeout_ms: int | None
    routing: bool


def _server_error(exc: BaseException) -> BaseException | None:
    """The server's own failure (a `Neo4jError`), also when a driver error wraps it."""
    import neo4j.exceptions

    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        if isinstance(seen, neo4j.exceptions.Neo4jError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def classify(exc: BaseException, attempt: Attempt) -> Failure:
    """The Thread error for a driver or server failure, and whether a retry can help."""
    import neo4j.exceptions as ne

    server = _server_error(exc)
    if isinstance(server, ne.Neo4jError):
        return _server_failure(server, attempt)
    if isinstance(exc, ne.IncompleteCommit):
        return Failure(
            StoreError(
                f"lost the connection to {attempt.store} while committing: the write may or "
                "may not have been applied; run it again (Thread's imports are idempotent)"
            )
        )
    if isinstance(exc, ne.ServiceUnavailable | ne.SessionExpired):
        return Failure(StoreError(f"cannot reach {attempt.store}: {exc}"), retry=True)
    if isinstance(exc, ne.ConfigurationError):
        return Failure(StoreError(f"the Neo4j driver cannot use {attempt.store}: {exc}"))
    return Failure(
        StoreError(f"{attempt.store}: the Neo4j driver failed: {type(exc).__name__}: {exc}")
    )


def _server_failure(error: BaseException, attempt: Attempt) -> Failure:
    import neo4j.exceptions as ne

    assert isinstance(error, ne.Neo4jError)
    code = error.code or ""
    message = error.message or "no message"
    database = f"database {attempt.database!r}" if attempt.database else "the default database"
    if code == _ACCESS_MODE and attempt.read_only:
        return Failure(
            ReadOnlyError("this query writes to the graph, which is refused here (read-only)")
        )
    if code in (_ACCESS_MODE, _NOT_A_LEADER, _READ_ONLY_DATABASE):
        # with routing, the driver has dropped that member as a writer: the next try
        # asks the cluster for the current one
        hint = (
            "the cluster has no writable member for it right now"
            if attempt.routing
            else "use a neo4j:// URI so that Thread finds the cluster's writer, or make the "
            "database writable (ALTER DATABASE … SET ACCESS READ WRITE)"
        )
        return Failure(
            StoreError(f"{attempt.store}: {database} refuses writes here ({message}); {hint}"),
            retry=attempt.routing,
        )
    if code == _CLIENT_TIMEOUT or (code == _SERVER_TIMEOUT and attempt.timeout_ms):
        return Failure(
            QueryTimeoutError(
                f"the query ran longer than {attempt.timeout_ms} ms and was stopped"
                if code == _CLIENT_TIMEOUT
                else f"the query ran longer than its time limit ({attempt.timeout_ms} ms, or "
                "the server's db.transaction.timeout if lower) and was stopped"
            )
        )
    if code == _SERVER_TIMEOUT:
        return Failure(
            QueryTimeoutError(
                "the query ran longer than the server's transaction time limit "
                "(db.transaction.timeout) and was stopped"
            )
        )
    if code in _MEMORY:
        return Failure(
            QueryMemoryError(
                f"Neo4j ran out of transaction memory ({message}); the server's limits are "
                "db.memory.transaction.max per transaction and dbms.memory.transaction.total.max "
                "for all of them"
            )
        )
    if code in _TERMINATED:
        return Failure(
            QueryError(
                "the transaction was terminated on the server (TERMINATE TRANSACTION, or the "
                f"server stopping) and nothing of it was written: {message}"
            )
        )
    if isinstance(error, ne.AuthError):
        return Failure(StoreError(f"{attempt.store} refused the credentials: {message}"))
    if code == _FORBIDDEN:
        return Failure(StoreError(f"{attempt.store}: the user may not do this: {message}"))
    if code == _DATABASE_NOT_FOUND:
        return Failure(
            StoreError(
                f"{attempt.store} has no {database}: check --database or NEO4J_DATABASE ({message})"
            )
        )
    if code == _UNAVAILABLE:
        return Failure(
            StoreError(
                f"{attempt.store}: {database} is unavailable (starting, stopping or "
                f"offline): {message}"
            ),
            retry=True,
        )
    if isinstance(error, ne.TransientError):
        return Failure(QueryError(f"Neo4j: {error.title}: {message}"), retry=True)
    if isinstance(error, ne.ClientError):
        return Failure(QueryError(f"Neo4j refused the query: {error.title}: {message}"))
    return Failure(StoreError(f"{attempt.store} failed: {code}: {message}"))
