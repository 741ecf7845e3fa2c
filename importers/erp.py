"""ERP exports: suppliers, lots, orders, serial-numbered units and as-built genealogy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field, model_validator

from thread.importers.base import ImportContext
from thread.importers.tabular import Date, Number, Row, TabularImporter, row_props
from thread.records import Origin, PropValue, Record, node, rel

__all__ = [
    "GenealogyImporter",
    "LotsImporter",
    "OrdersImporter",
    "SuppliersImporter",
    "UnitStatus",
    "UnitsImporter",
]


class SupplierRow(Row):
    supplier_id: str
    name: str | None = None
    country: str | None = None
    approved: bool | None = None


class SuppliersImporter(TabularImporter):
    kind = "suppliers"
    description = "Suppliers: id, name, country, approval."
    row_model = SupplierRow

    def to_records(
        self, row: SupplierRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        yield node(context.onto, "Supplier", row_props(row, extra), origin)


class LotRow(Row):
    lot_id: str
    part_number: str
    revision: str
    supplier_id: str
    received_date: Date
    quantity: Number = Field(gt=0)
    status: str = "accepted"


class LotsImporter(TabularImporter):
    kind = "lots"
    description = "Supplier lots: part revision, supplier, received date, quantity, status."
    row_model = LotRow

    def to_records(
        self, row: LotRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        onto = context.onto
        lot = node(onto, "Lot", row_props(row, extra), origin)
        yield lot
        yield rel(
            "OF_REVISION",
            lot,
            ("PartRevision", onto.uid("PartRevision", row.part_number, row.revision)),
            origin=origin,
        )
        yield rel(
            "SUPPLIED_BY", lot, ("Supplier", onto.uid("Supplier", row.supplier_id)), origin=origin
        )


class OrderRow(Row):
    order_number: str
    customer: str | None = None
    site: str | None = None
    order_date: Date | None = None
    status: str | None = None


class OrdersImporter(TabularImporter):
    kind = "orders"
    description = "Sales or production orders: customer, site, date."
    row_model = OrderRow

    def to_records(
        self, row: OrderRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        yield node(context.onto, "Order", row_props(row, extra), origin)


UnitStatus = Literal["in_service", "in_stock", "failed", "scrapped"]
"""A unit's status. Health, the fleet counts and the audits read `in_service`; RUL trains
on the units whose status is `failed` (run to failure). Another spelling in an export is
mapped with the mapping's [values.status] table, never passed through."""


class UnitRow(Row):
    part_number: str
    serial: str
    revision: str
    build_date: Date
    order_number: str | None = None
    site: str | None = Field(None, description="code of the site where the unit is installed")
    install_date: Date | None = None
    status: UnitStatus = "in_service"

    @model_validator(mode="after")
    def _dates(self) -> UnitRow:
        if self.install_date and self.install_date < self.build_date:
            raise ValueError(
                f"install_date {self.install_date} is before build_date {self.build_date}"
            )
        return self


class UnitsImporter(TabularImporter):
    kind = "units"
    description = "Serial-numbered units: part revision built to, build date, order, site."
    row_model = UnitRow

    def to_records(
        self, row: UnitRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        onto = context.onto
        unit = node(onto, "Unit", row_props(row, extra, skip=("order_number",)), origin)
        yield unit
        revision = ("PartRevision", onto.uid("PartRevision", row.part_number, row.revision))
        yield rel("OF_REVISION", unit, revision, origin=origin)
        if row.order_number:
            yield rel(
                "FOR_ORDER", unit, ("Order", onto.uid("Order", row.order_number)), origin=origin
            )
        if row.site:
            site = node(onto, "Site", {"code": row.site}, origin)
            yield site
            since = row.install_date or row.build_date
            yield rel("LOCATED_IN", unit, site, {"valid_from": since}, key=since, origin=origin)


class GenealogyRow(Row):
    parent_part_number: str
    parent_serial: str
    child_part_number: str | None = None
    child_serial: str | None = None
    child_lot: str | None = None
    quantity: Number = Field(1.0, gt=0)
    find_number: str | None = None
    install_date: Date

    @model_validator(mode="after")
    def _one_child(self) -> GenealogyRow:
        if bool(self.child_serial) == bool(self.child_lot):
            raise ValueError(
                "give exactly one of child_serial (with child_part_number) or child_lot"
            )
        if self.child_serial and not self.child_part_number:
            raise ValueError("child_serial needs child_part_number")
        return self


class GenealogyImporter(TabularImporter):
    kind = "genealogy"
    description = (
        "As-built genealogy: parent serial contains a child serial, or a quantity of a lot."
    )
    row_model = GenealogyRow

    def to_records(
        self, row: GenealogyRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        onto = context.onto
        parent = ("Unit", onto.uid("Unit", row.parent_part_number, row.parent_serial))
        if row.child_serial and row.child_part_number:
            child = ("Unit", onto.uid("Unit", row.child_part_number, row.child_serial))
        else:
            child = ("Lot", onto.uid("Lot", str(row.child_lot)))
        props: dict[str, PropValue] = {
            "valid_from": row.install_date,
            "quantity": row.quantity,
            **extra,
        }
        if row.find_number:
            props["find_number"] = row.find_number
        yield rel("CONTAINS", parent, child, props, key=row.install_date, origin=origin)
