"""Deviations (concessions, waivers): approved departures of units from their design.

One row per deviation and unit it covers (a deviation covering several units is several
rows with the same id). The configuration audits accept what an approved, unexpired
deviation covers: with a `find_number`, that BOM position of the unit; without one, all
of the unit's departures from its BOM; with a `change_order` (a CO number), that change
order not being applied to the unit instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import model_validator

from thread.importers.base import ImportContext
from thread.importers.tabular import Date, Row, TabularImporter, row_props
from thread.records import Origin, Record, node, rel

__all__ = ["DeviationsImporter"]


class DeviationRow(Row):
    deviation_id: str
    part_number: str
    serial: str
    find_number: str | None = None
    change_order: str | None = None
    status: Literal["approved", "requested", "rejected", "withdrawn"] = "approved"
    reason: str | None = None
    approved_by: str | None = None
    approved_date: Date | None = None
    expires: Date | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> DeviationRow:
        if self.find_number and self.change_order:
            raise ValueError(
                "a deviation covers a BOM position (find_number) or a change order, not both"
            )
        return self


class DeviationsImporter(TabularImporter):
    kind = "deviations"
    description = "Deviations and waivers: the unit each covers, a BOM position or a change order, status, expiry."
    row_model = DeviationRow

    def to_records(
        self, row: DeviationRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        onto = context.onto
        deviation = node(
            onto, "Deviation", row_props(row, extra, skip=("part_number", "serial")), origin
        )
        yield deviation
        unit = ("Unit", onto.uid("Unit", row.part_number, row.serial))
        yield rel("COVERS", deviation, unit, origin=origin)
