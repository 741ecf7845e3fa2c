"""What an importer is: a named generator of validated records that never sees a store."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from thread.ontology import Ontology
from thread.records import Record

__all__ = ["ImportContext", "Importer"]


@dataclass(frozen=True)
class ImportContext:
    """What an importer needs besides the file.

    Attributes:
        onto: the ontology, to build uids and check names.
        display: how to name the file in messages (relative to where the user is).
        mapping: the parsed mapping file (TOML), or None for the importer's default.
        mapping_path: where the mapping came from, for messages.
        options: importer-specific options (e.g. `payloads` for USD).
    """

    onto: Ontology
    display: str
    mapping: Mapping[str, Any] | None = None
    mapping_path: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


class Importer(ABC):
    """One kind of source. Subclasses set `kind`, `description` and `extensions` and
    implement `records`; registration is by name in `importers/__init__.py`."""

    kind: ClassVar[str]
    description: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def records(self, path: Path, context: ImportContext) -> Iterator[Record]:
        """Yield the file's records, and a Problem for each bad row (never raise for one).

        Raises:
            SourceError: the file cannot be read at all (missing, wrong format, encoding).
        """
