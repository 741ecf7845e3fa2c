"""Maintenance exports: work orders, and the replacements that change a unit's configuration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field, model_validator

from thread.importers.base import ImportContext
from thread.importers.tabular import Date, DateTime, Number, Row, TabularImporter, row_props
from thread.ontology import Ontology
from thread.records import IntervalEnd, Origin, PropValue, Record, node, rel

__all__ = ["ReplacementsImporter", "WorkOrdersImporter"]


class WorkOrderRow(Row):
    work_order: str
    part_number: str
    serial: str
    opened: DateTime
    closed: DateTime | None = None
    type: Literal["corrective", "preventive", "inspection", "other"] | None = None
    status: Literal["open", "closed"] | None = None
    failure_mode: str | None = None
    component: str | None = None
    description: str | None = None
    labour_hours: Number | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _dates(self) -> WorkOrderRow:
        if self.closed and self.closed < self.opened:
            raise ValueError(f"closed {self.closed} is before opened {self.opened}")
        if self.status == "open" and self.closed:
            raise ValueError("an open work order has no closed date")
        return self


class WorkOrdersImporter(TabularImporter):
    kind = "work-orders"
    description = "Work orders: unit, opened/closed, type, failure mode, component, labour."
    row_model = WorkOrderRow

    def to_records(
        self, row: WorkOrderRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        onto = context.onto
        status = row.status or ("closed" if row.closed else "open")
        props = row_props(row, extra, skip=("part_number", "serial"))
        event = node(
            onto,
            "MaintenanceEvent",
            {**props, "status": status},
            origin,
        )
        yield event
        yield rel(
            "PERFORMED_ON",
            event,
            ("Unit", onto.uid("Unit", row.part_number, row.serial)),
            origin=origin,
        )
        if row.failure_mode:
            mode = node(onto, "FailureMode", {"code": row.failure_mode}, origin)
            yield mode
            yield rel("ADDRESSES", event, mode, origin=origin)


class ReplacementRow(Row):
    work_order: str
    date: Date
    part_number: str
    serial: str
    removed_part_number: str | None = None
    removed_serial: str | None = None
    removed_lot: str | None = None
    installed_part_number: str | None = None
    installed_serial: str | None = None
    installed_lot: str | None = None
    quantity: Number = Field(1.0, gt=0)
    find_number: str | None = None

    @model_validator(mode="after")
    def _sides(self) -> ReplacementRow:
        for side in ("removed", "installed"):
            serial, lot = getattr(self, f"{side}_serial"), getattr(self, f"{side}_lot")
            if serial and lot:
                raise ValueError(f"give {side}_serial or {side}_lot, not both")
            if serial and not getattr(self, f"{side}_part_number"):
                raise ValueError(f"{side}_serial needs {side}_part_number")
        if not (
            self.removed_serial or self.removed_lot or self.installed_serial or self.installed_lot
        ):
            raise ValueError("a replacement removes or installs something")
        return self

    def side(
        self, onto: Ontology, which: Literal["removed", "installed"]
    ) -> tuple[str, str] | None:
        """(label, uid) of what was removed or installed, if anything."""
        serial, lot = getattr(self, f"{which}_serial"), getattr(self, f"{which}_lot")
        if serial:
            return ("Unit", onto.uid("Unit", getattr(self, f"{which}_part_number"), serial))
        if lot:
            return ("Lot", onto.uid("Lot", lot))
        return None


class ReplacementsImporter(TabularImporter):
    kind = "replacements"
    description = (
        "Replacements: a work order removes a serial or lot from a unit and installs another."
    )
    row_model = ReplacementRow

    def to_records(
        self, row: ReplacementRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        onto = context.onto
        parent = ("Unit", onto.uid("Unit", row.part_number, row.serial))
        event = ("MaintenanceEvent", onto.uid("MaintenanceEvent", row.work_order))
        removed, installed = row.side(onto, "removed"), row.side(onto, "installed")
        if removed:
            yield IntervalEnd(
                "CONTAINS",
                parent[1],
                parent[0],
                removed[1],
                removed[0],
                row.date,
                {"removed_by": row.work_order},
                origin,
            )
            yield rel(
                "REMOVED", event, removed, {"date": row.date, "from_unit": parent[1]}, origin=origin
            )
        if installed:
            props: dict[str, PropValue] = {
                "valid_from": row.date,
                "quantity": row.quantity,
                "installed_by": row.work_order,
                **extra,
            }
            if row.find_number:
                props["find_number"] = row.find_number
            yield rel("CONTAINS", parent, installed, props, key=row.date, origin=origin)
            yield rel(
                "INSTALLED",
                event,
                installed,
                {"date": row.date, "into_unit": parent[1]},
                origin=origin,
            )
