"""Importers by name. Each is loaded only when used, so listing them costs nothing.

Add an importer by writing a subclass of `importers.base.Importer` and naming it here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from importers.base import Importer
from thread.errors import ThreadError

__all__ = ["Importer", "get_importer", "guess_kind", "importer_kinds"]

_REGISTRY: dict[str, str] = {
    # PLM
    "parts": "importers.plm:PartsImporter",
    "revisions": "importers.plm:RevisionsImporter",
    "bom": "importers.plm:BomImporter",
    "change-orders": "importers.plm:ChangeOrdersImporter",
    "documents": "importers.plm:DocumentsImporter",
    "requirements": "importers.plm:RequirementsImporter",
    # ERP
    "suppliers": "importers.erp:SuppliersImporter",
    "lots": "importers.erp:LotsImporter",
    "orders": "importers.erp:OrdersImporter",
    "units": "importers.erp:UnitsImporter",
    "genealogy": "importers.erp:GenealogyImporter",
    # maintenance
    "work-orders": "importers.maintenance:WorkOrdersImporter",
    "replacements": "importers.maintenance:ReplacementsImporter",
    "deviations": "importers.deviations:DeviationsImporter",
    # sensors
    "sensors": "importers.sensors:SensorsImporter",
    "telemetry": "importers.telemetry:TelemetryImporter",
    # scenes and buildings
    "usd": "importers.usd:UsdImporter",
    "ifc": "importers.ifc:IfcImporter",
    # linked data: Thread's own RDF export and Brick models
    "rdf": "importers.rdf:RdfImporter",
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
