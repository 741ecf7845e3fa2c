"""The CLI's per-invocation state: which store to open, opened at most once."""

from __future__ import annotations

from dataclasses import dataclass, field

from thread.stores import GraphStore, StoreSpec, open_store, parse_store_spec

__all__ = ["CREATING_COMMANDS", "AppState"]

CREATING_COMMANDS = frozenset({"init", "import", "demo", "ingest", "serve"})
"""The commands that bring data in, and so make the store when its folder holds none.
Every other command needs a store to be there: on a mistyped `--store` it is an error,
not a new, empty store answering that nothing is there."""


@dataclass
class AppState:
    store_text: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    debug: bool = False
    quiet: bool = False
    command: str | None = None
    """The top-level command being run (`import`, `sim`…), which decides whether the
    store may be created."""
    _store: GraphStore | None = field(default=None, repr=False)

    @property
    def spec(self) -> StoreSpec:
        return parse_store_spec(self.store_text)

    def store(self) -> GraphStore:
        """Open the selected store on first use; closed when the command ends."""
        if self._store is None:
            self._store = open_store(
                self.spec,
                user=self.user,
                password=self.password,
                database=self.database,
                create=self.command in CREATING_COMMANDS,
            )
        return self._store

    def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            store.close()
