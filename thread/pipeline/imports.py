"""Running importers: one file, or a folder laid out as a thread with a manifest."""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from thread.errors import SourceError
from thread.importers import get_importer
from thread.importers.base import ImportContext, Importer
from thread.importers.mapping import load_mapping
from thread.pipeline.twins import repair_twins
from thread.pipeline.write import ImportReport, ProgressCallback, Source, ThreadService, file_sha256
from thread.records import Notice, Record
from thread.stores.base import GraphStore

__all__ = [
    "MANIFEST",
    "ImportOptions",
    "import_file",
    "import_folder",
    "read_manifest",
    "refresh_after",
    "source_key",
]

MANIFEST = "thread-manifest.toml"


@dataclass(frozen=True)
class ImportOptions:
    """How to run one import (the same for the CLI, the HTTP service and scripts)."""

    mapping: Path | None = None
    create_missing: bool = False
    dry_run: bool = False
    source_id: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def import_file(
    store: GraphStore,
    kind: str,
    path: Path,
    options: ImportOptions | None = None,
    progress: ProgressCallback | None = None,
    display: str | None = None,
) -> ImportReport:
    """Import one file with the importer `kind`, all or nothing.

    The source's identity (what 'disappeared since the last run' refers to) is the
    importer and a name: `options.source_id`, else the file's name (not its folder), so
    an export saved in another folder is the same source, and one saved under a new
    name is the same source when `source_id` names it. A store whose runs were keyed by
    the file's absolute path (Thread 0.1.0) is continued under the new key on the first
    import (see `Source.previous_ids`). The report says when the source is new.

    `display` names the file in messages and reports (an uploaded file's own name, say).

    Raises:
        SourceError: the file or mapping cannot be read, or the importer read no record
            from it (nothing was written, no ImportRun either).
        ValidationError: bad rows or unknown references; nothing was written.
    """
    options = options or ImportOptions()
    importer = get_importer(kind)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    mapping = load_mapping(options.mapping) if options.mapping else None
    display = display or _display(path)
    context = ImportContext(
        onto=store.ontology,
        display=display,
        mapping=mapping,
        mapping_path=str(options.mapping) if options.mapping else None,
        options=options.options,
    )
    recorded = dict(options.options)
    if mapping is not None:
        recorded["mapping"] = hashlib.sha256(
            json.dumps(mapping, sort_keys=True, default=str).encode()
        ).hexdigest()
    source = Source(
        importer=kind,
        path=display,
        sha256=file_sha256(path) if path.is_file() else "",
        source_id=source_key(kind, options.source_id or path.name),
        options=recorded,
        actor=options.actor,
        previous_ids=_previous_keys(kind, path, options.source_id),
    )
    return ThreadService(store).import_records(
        _not_empty(importer.records(path, context), importer, display),
        source,
        create_missing=options.create_missing,
        dry_run=options.dry_run,
        progress=progress,
    )


def source_key(kind: str, name: str) -> str:
    """The identity of a source of `kind` named `name` (`--source-id`, else a file name)."""
    return f"{kind}:{name}"


def _previous_keys(kind: str, path: Path, source_id: str | None) -> tuple[str, ...]:
    """The keys earlier versions gave the same source: `--source-id` as given, the
    file's absolute path, the HTTP service's upload name."""
    keys = [source_id, f"{kind}:{path.resolve()}", f"{kind}:upload:{path.name}"]
    return tuple(dict.fromkeys(k for k in keys if k))


def _not_empty(records: Iterable[Record], importer: Importer, display: str) -> Iterator[Record]:
    """The importer's records; a SourceError after the last when it yielded none.

    A file from which the importer reads nothing is the wrong file or the wrong kind (a
    JSON file that is not JSON-LD, a CSV with only a header): reported, not taken for an
    import that found nothing to change. A re-import of unchanged data yields its records
    again, so it is not empty. Raised before the plan, so nothing is written. A problem
    counts as read: the ValidationError that lists it says more."""
    empty = True
    notices: list[str] = []
    for record in records:
        if isinstance(record, Notice):
            notices.append(record.message)
        else:
            empty = False
        yield record
    if empty:
        said = f" ({'; '.join(notices[:3])})" if notices else ""
        raise SourceError(
            f"{display}: nothing to import: the {importer.kind} importer read no record "
            f"from it{said}; expected {importer.description.rstrip('.')}"
        )


def refresh_after(
    store: GraphStore, reports: list[ImportReport], progress: ProgressCallback | None = None
) -> list[ImportReport]:
    """Twins derive from units and work orders: refresh them when an import changed
    something (this one, or an earlier one whose refresh never ran), and add the twins'
    report to the list."""
    if any(r.dry_run for r in reports):
        return reports  # a dry run writes nothing, twins included
    report = repair_twins(store, progress)
    if report is not None:
        reports.append(report)
    return reports


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    path: str
    mapping: str | None = None
    create_missing: bool = False
    options: dict[str, Any] = Field(default_factory=dict)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    imports: list[ManifestEntry] = Field(alias="import")


def read_manifest(folder: Path) -> Manifest:
    """The folder's `thread-manifest.toml`: which file is which kind, in import order."""
    path = folder / MANIFEST
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
        return Manifest.model_validate(data)
    except FileNotFoundError:
        raise SourceError(f"{folder}: no {MANIFEST} saying which file is which kind") from None
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(f"{path}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SourceError(f"{path}: {details}") from None


def import_folder(
    store: GraphStore,
    folder: Path,
    *,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> list[ImportReport]:
    """Import every file the folder's manifest names, in its order, then refresh the
    twins; each file is all or nothing, and the first file that fails stops the run
    (later files depend on it)."""
    manifest = read_manifest(folder)
    reports = []
    for entry in manifest.imports:
        options = ImportOptions(
            mapping=folder / entry.mapping if entry.mapping else None,
            create_missing=entry.create_missing,
            dry_run=dry_run,
            options=entry.options,
        )
        reports.append(import_file(store, entry.kind, folder / entry.path, options, progress))
    return refresh_after(store, reports, progress)
