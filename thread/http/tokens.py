"""Bearer tokens for the HTTP service: named, scoped, stored only as salted hashes.

A token reads `thr_<id>_<secret>`: the id finds its record without trying every hash,
the secret (256 random bits, so a fast hash is enough; stretching protects weak
passwords, not random keys) is checked against a salted SHA-256. The file lives in the
store folder with owner-only permissions; the secret itself is shown once, at creation.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, cast, get_args

from thread.errors import ThreadError, UsageError
from thread.stores import DEFAULT_HOME, StoreSpec

__all__ = ["SCOPES", "Scope", "Token", "TokenError", "TokenStore", "tokens_file"]

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
_RANK = {"read": 0, "write": 1, "admin": 2}


class TokenError(ThreadError):
    """A token problem a user can fix: unknown name, duplicate name (a bad scope or an
    empty name is a UsageError)."""


@dataclass(frozen=True)
class Token:
    """A token's public record (never the secret)."""

    id: str
    name: str
    scope: Scope
    created: str

    def allows(self, needed: Scope) -> bool:
        """Scopes nest: admin can write, write can read."""
        return _RANK[self.scope] >= _RANK[needed]


def tokens_file(spec: StoreSpec) -> Path:
    """Where a store's tokens live: its folder (embedded), or THREAD_HOME for Neo4j."""
    folder = (
        spec.folder
        if spec.kind == "embedded"
        else Path(os.environ.get("THREAD_HOME", DEFAULT_HOME)).resolve()
    )
    return folder / "tokens.json"


def _hash(secret: str, salt: bytes) -> str:
    return hashlib.sha256(salt + secret.encode()).hexdigest()


def _token(token_id: str, record: dict[str, str]) -> Token:
    return Token(token_id, record["name"], cast(Scope, record["scope"]), record["created"])


class TokenStore:
    """The tokens of one store folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: int | None = None
        self._records: dict[str, dict[str, str]] = {}

    def _load(self) -> dict[str, dict[str, str]]:
        """The records, re-read only when the file changed (every request verifies a token)."""
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if stamp != self._stamp:
            self._records = dict(json.loads(self.path.read_text()))
            self._stamp = stamp
        return dict(self._records)

    def _save(self, records: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(records, handle, indent=2)
        os.replace(temp, self.path)

    def _locked(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def create(self, name: str, scope: str, now: str) -> tuple[Token, str]:
        """A new token and its secret (shown once; only its hash is kept).

        Raises:
            UsageError: an unknown scope or an empty name.
            TokenError: a token of this name exists.
        """
        if scope not in SCOPES:
            raise UsageError(f"--scope: unknown scope {scope!r}; choose {', '.join(SCOPES)}")
        if not name.strip():
            raise UsageError("a token needs a name, e.g. --name dashboard")
        fd = self._locked()
        try:
            records = self._load()
            if any(r["name"] == name for r in records.values()):
                raise TokenError(
                    f"a token named {name!r} exists; revoke it first or choose another name"
                )
            token_id = secrets.token_hex(6)
            secret = secrets.token_urlsafe(32)
            salt = secrets.token_bytes(16)
            records[token_id] = {
                "name": name,
                "scope": scope,
                "created": now,
                "salt": salt.hex(),
                "hash": _hash(secret, salt),
            }
            self._save(records)
        finally:
            os.close(fd)
        return _token(token_id, records[token_id]), f"thr_{token_id}_{secret}"

    def list(self) -> list[Token]:
        return sorted((_token(i, r) for i, r in self._load().items()), key=lambda t: t.name)

    def revoke(self, name: str) -> Token:
        fd = self._locked()
        try:
            records = self._load()
            found = next((i for i, r in records.items() if r["name"] == name), None)
            if found is None:
                raise TokenError(f"no token named {name!r} (see `thread token list`)")
            record = records.pop(found)
            self._save(records)
        finally:
            os.close(fd)
        return _token(found, record)

    def verify(self, presented: str) -> Token | None:
        """The token a bearer string stands for, or None (unknown, revoked, malformed)."""
        prefix, _, rest = presented.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != "thr" or not token_id or not secret:
            return None
        record = self._load().get(token_id)
        if record is None:
            return None
        if not hmac.compare_digest(_hash(secret, bytes.fromhex(record["salt"])), record["hash"]):
            return None
        return _token(token_id, record)

    @staticmethod
    def public(token: Token) -> dict[str, str]:
        return asdict(token)
