"""Importers by name. Each is loaded only when used, so listing them costs nothing.

Add an importer by writing a subclass of `importers.base.Importer` and naming it here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from thread.errors import ThreadError
from thread.importers.base import Importer

__all__ = ["Importer", "get_importer", "guess_kind", "importer_kinds"]

_REGISTRY: dict[str, str] = {
    # PLM
    "parts": "thread.importers.plm:PartsImporter",
    "revisions": "thread.importers.plm:RevisionsImporter",
    "bom": "thread.importers.plm:BomImporter",
    "change-orders": "thread.importers.plm:ChangeOrdersImporter",
    "documents": "thread.importers.plm:DocumentsImporter",
    "requirements": "thread.importers.plm:RequirementsImporter",
    # ERP
    "suppliers": "thread.importers.erp:SuppliersImporter",
    "lots": "thread.importers.erp:LotsImporter",
    "orders": "thread.importers.erp:OrdersImporter",
    "units": "thread.importers.erp:UnitsImporter",
    "genealogy": "thread.importers.erp:GenealogyImporter",
    # maintenance
    "work-orders": "thread.importers.maintenance:WorkOrdersImporter",
    "replacements": "thread.importers.maintenance:ReplacementsImporter",
    "deviations": "thread.importers.deviations:DeviationsImporter",
    # sensors
    "sensors": "thread.importers.sensors:SensorsImporter",
    "telemetry": "thread.importers.telemetry:TelemetryImporter",
    # scenes and buildings
    "usd": "thread.usd.importing:UsdImporter",
    "ifc": "thread.importers.ifc:IfcImporter",
    # linked data: Thread's own RDF export and Brick models
    "rdf": "thread.rdf.importing:RdfImporter",
}


def importer_kinds() -> list[str]:
    return sorted(_REGISTRY)


def get_importer(kind: str) -> Importer:
    """The importer registered as `kind`; an unknown kind lists the known ones."""
    try:
        target = _REGISTRY[kind]
    except KeyError:
        raise ThreadError(
            f"unknown import kind {kind!r}; known kinds: {', '.join(importer_kinds())}"
        ) from None
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    importer: Importer = getattr(module, class_name)()
    return importer


_EXTENSIONS = {
    ".usd": "usd",
    ".usda": "usd",
    ".usdc": "usd",
    ".usdz": "usd",
    ".ifc": "ifc",
    ".ttl": "rdf",
    ".nt": "rdf",
    ".jsonld": "rdf",
}


def guess_kind(path: Path) -> str | None:
    """The kind a file's extension implies (only unambiguous formats; CSV needs a kind)."""
    return _EXTENSIONS.get(path.suffix.lower())
