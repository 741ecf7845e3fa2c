"""The sensor registry: sensors, the unit or site they observe, and their channels."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import model_validator

from thread.importers.base import ImportContext
from thread.importers.tabular import Row, TabularImporter
from thread.records import Origin, Record, node, rel

__all__ = ["SensorsImporter"]


class SensorRow(Row):
    sensor_id: str
    channel: str
    type: str | None = None
    quantity: str | None = None
    unit_of_measure: str | None = None
    part_number: str | None = None
    serial: str | None = None
    site: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _observed(self) -> SensorRow:
        if bool(self.part_number) != bool(self.serial):
            raise ValueError("a unit is named by part_number and serial together")
        if self.serial and self.site:
            raise ValueError("a sensor observes a unit or a site, not both")
        return self


class SensorsImporter(TabularImporter):
    kind = "sensors"
    description = "Sensor registry, one row per channel: type, quantity, unit, what it observes."
    row_model = SensorRow

    def to_records(
        self, row: SensorRow, extra: dict[str, str], context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        onto = context.onto
        sensor_props = {"sensor_id": row.sensor_id, **extra}
        for name in ("type", "description"):
            if getattr(row, name):
                sensor_props[name] = getattr(row, name)
        sensor = node(onto, "Sensor", sensor_props, origin)
        yield sensor
        channel_props = {"sensor_id": row.sensor_id, "channel": row.channel}
        for name in ("quantity", "unit_of_measure"):
            if getattr(row, name):
                channel_props[name] = getattr(row, name)
        channel = node(onto, "Channel", channel_props, origin)
        yield channel
        yield rel("HAS_CHANNEL", sensor, channel, origin=origin)
        if row.part_number and row.serial:
            yield rel(
                "OBSERVES",
                sensor,
                ("Unit", onto.uid("Unit", row.part_number, row.serial)),
                origin=origin,
            )
        elif row.site:
            yield rel("OBSERVES", sensor, ("Site", onto.uid("Site", row.site)), origin=origin)
