"""PLM exports: parts, revisions, BOM lines, change orders, documents and requirements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field, model_validator

from thread.importers.base import ImportContext
from thread.importers.tabular import Date, Number, Row, TabularImporter, row_props
from thread.records import Origin, Record, node, rel

__all__ = [
    "BomImporter",
    "ChangeOrdersImporter",
    "DocumentsImporter",
    "PartsImporter",
    "RequirementsImporter",
    "RevisionsImporter",
]


class PartRow(Row):
    part_number: str
    name: str | None = None
    type: str | None = Field(None, description="assembly, component, raw material, …")
    uom: str = "EA"
    make_buy: Literal["make", "buy"] | None = None
    description: str | None = None


class PartsImporter(TabularImporter):
    kind = "parts"
    description = "Parts: number, name, type, unit of measure, make or buy."
    row_model = PartRow

    def to_records(
        self, row: PartRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        yield node(context.onto, "Part", row_props(row, extra), origin)


class RevisionRow(Row):
    part_number: str
    revision: str
    status: str = "released"
    release_date: Date | None = None
    effective_from: Date | None = None
    effective_to: Date | None = None
    supersedes: str | None = Field(None, description="the revision this one replaces")
    description: str | None = None


class RevisionsImporter(TabularImporter):
    kind = "revisions"
    description = "Part revisions: status, release and effectivity dates, the revision superseded."
    row_model = RevisionRow

    def to_records(
        self, row: RevisionRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        onto = context.onto
        revision = node(onto, "PartRevision", row_props(row, extra), origin)
        yield revision
        yield rel(
            "HAS_REVISION", ("Part", onto.uid("Part", row.part_number)), revision, origin=origin
        )
        if row.supersedes:
            older = ("PartRevision", onto.uid("PartRevision", row.part_number, row.supersedes))
            yield rel("SUPERSEDES", revision, older, origin=origin)


class BomRow(Row):
    parent_part_number: str
    parent_revision: str
    child_part_number: str
    quantity: Number = Field(gt=0)
    uom: str = "EA"
    find_number: str | None = None
    effective_from: Date | None = None
    effective_to: Date | None = None

    @model_validator(mode="after")
    def _effectivity(self) -> BomRow:
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self


class BomImporter(TabularImporter):
    kind = "bom"
    description = "BOM lines: parent revision, child part, quantity, find number, effectivity."
    row_model = BomRow

    def to_records(
        self, row: BomRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        onto = context.onto
        parent = (
            "PartRevision",
            onto.uid("PartRevision", row.parent_part_number, row.parent_revision),
        )
        child = ("Part", onto.uid("Part", row.child_part_number))
        props = row_props(
            row, extra, skip=("parent_part_number", "parent_revision", "child_part_number")
        )
        # one line per find number: the same child twice in a BOM is two lines
        yield rel(
            "HAS_COMPONENT",
            parent,
            child,
            props,
            key=row.find_number or row.child_part_number,
            origin=origin,
        )


class ChangeOrderRow(Row):
    co_number: str
    title: str | None = None
    status: str = "released"
    reason: str | None = None
    part_number: str
    from_revision: str | None = None
    to_revision: str
    effective_date: Date | None = None
    serial_from: str | None = None
    serial_to: str | None = None


class ChangeOrdersImporter(TabularImporter):
    kind = "change-orders"
    description = (
        "Change orders: affected revisions from and to, effectivity by date or serial range."
    )
    row_model = ChangeOrderRow

    def to_records(
        self, row: ChangeOrderRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        onto = context.onto
        order = node(onto, "ChangeOrder", row_props(row, extra, skip=_AFFECTED), origin)
        yield order
        if row.from_revision:
            old = ("PartRevision", onto.uid("PartRevision", row.part_number, row.from_revision))
            yield rel("CHANGES_FROM", order, old, origin=origin)
        new = ("PartRevision", onto.uid("PartRevision", row.part_number, row.to_revision))
        effectivity = {
            k: v
            for k, v in (
                ("effective_date", row.effective_date),
                ("serial_from", row.serial_from),
                ("serial_to", row.serial_to),
            )
            if v is not None
        }
        yield rel(
            "CHANGES_TO", order, new, {"part_number": row.part_number, **effectivity}, origin=origin
        )


_AFFECTED = (
    "part_number",
    "from_revision",
    "to_revision",
    "effective_date",
    "serial_from",
    "serial_to",
)


class DocumentRow(Row):
    doc_number: str
    title: str | None = None
    doc_revision: str | None = None
    url: str | None = None
    part_number: str
    revision: str


def _attached(
    label: str,
    rel_type: str,
    row: DocumentRow | RequirementRow,
    extra: dict[str, str],
    context: ImportContext,
    origin: Origin,
) -> Iterator[Record]:
    """A document or requirement, and the relationship from the revision it belongs to."""
    onto = context.onto
    record = node(onto, label, row_props(row, extra, skip=("part_number", "revision")), origin)
    yield record
    revision = ("PartRevision", onto.uid("PartRevision", row.part_number, row.revision))
    yield rel(rel_type, revision, record, origin=origin)


class DocumentsImporter(TabularImporter):
    kind = "documents"
    description = "Documents (drawings, specifications) and the revisions they document."
    row_model = DocumentRow

    def to_records(
        self, row: DocumentRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        yield from _attached("Document", "DOCUMENTED_BY", row, extra, context, origin)


class RequirementRow(Row):
    req_id: str
    text: str | None = None
    source: str | None = None
    part_number: str
    revision: str


class RequirementsImporter(TabularImporter):
    kind = "requirements"
    description = "Requirements and the revisions that satisfy them."
    row_model = RequirementRow

    def to_records(
        self, row: RequirementRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        yield from _attached("Requirement", "SATISFIES", row, extra, context, origin)
