"""Live mappings: which MQTT topics or OPC UA nodes feed which channels, and how.

An MQTT mapping (`kind = "mqtt"`) lists topic rules. A rule's `topic` is a pattern whose
levels are literal text or `{name}` (one whole level); the subscription filter replaces
each `{name}` with `+`, and the names become fields for the `sensor` and `channel`
templates and the `observes` keys. The payload is one of:

- `number`: the payload is a number as text; the time is the arrival time.
- `json`: an object; `value`, `time`, `unit` and `quality` name its fields (dotted
  paths); without a time field the arrival time is used.
- `metrics`: a batch in the shape of Sparkplug B's JSON form, an object with a list
  `metrics` of objects with `name`, `value` and optionally `timestamp`, `unit`, `quality`;
  the payload's own `timestamp` is the default time. `{metric}` names the metric in the
  channel template.

    kind = "mqtt"
    [[topics]]
    topic = "plant/{line}/{sensor_id}/{channel}"
    payload = "json"
    value = "v"
    time = "ts"
    time_format = "epoch_ms"     # iso (naive: `timezone`), epoch_s, epoch_ms, epoch_us, or strptime
    [topics.observes]            # for channels created with --create-missing
    part_number = "P-100"
    serial = "{sensor_id}"

An OPC UA mapping (`kind = "opcua"`) binds node ids to channels; control channels (set
points that `thread act` may write) declare their bounds:

    kind = "opcua"
    publishing_interval_ms = 100
    [sensors.PUMP-1]
    part_number = "P-100"
    serial = "SN-0042"
    [[nodes]]
    node = "ns=2;s=Pump1.Speed"
    sensor = "PUMP-1"
    channel = "speed_setpoint"
    unit = "rpm"
    control = true
    min = 0
    max = 3000
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from thread.errors import SourceError
from thread.importers.mapping import load_mapping, template_fields

__all__ = [
    "MqttMapping",
    "NodeBinding",
    "Observes",
    "OpcuaMapping",
    "TopicRule",
    "load_mqtt_mapping",
    "load_opcua_mapping",
]

Payload = Literal["number", "json", "metrics"]


def _fields(template: str) -> list[str]:
    """The topic fields a template reads, checked as file mappings' templates are (no
    attribute lookups, conversions or huge widths)."""
    try:
        return template_fields(template)
    except ValueError as exc:
        raise ValueError(f"bad template {template!r}: {exc}") from None


class Observes(BaseModel):
    """The unit a sensor observes: part number and serial (templates over topic fields)."""

    model_config = ConfigDict(extra="forbid")

    part_number: str
    serial: str


class TopicRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str
    payload: Payload = "json"
    qos: Literal[0, 1] = 1
    sensor: str = "{sensor_id}"
    channel: str = ""
    value: str = "value"
    time: str | None = None
    time_format: str = "iso"
    timezone: str = "UTC"
    unit: str | None = None
    quality: str | None = None
    metrics: str = "metrics"
    name: str = "name"
    observes: Observes | None = None
    units: dict[str, str] = Field(default_factory=dict)
    quantities: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> TopicRule:
        levels = self.topic.split("/")
        names: list[str] = []
        for level in levels:
            inner = _fields(level)
            if not inner:
                if "+" in level or "#" in level:
                    raise ValueError(
                        f"topic {self.topic!r}: write {{name}} for a wildcard level, not + or #"
                    )
                continue
            if len(inner) != 1 or level != f"{{{inner[0]}}}":
                raise ValueError(
                    f"topic {self.topic!r}: a field must be a whole level, like a/{{sensor_id}}/b"
                )
            names.append(inner[0])
        if len(set(names)) != len(names):
            raise ValueError(f"topic {self.topic!r} names a field twice")
        if not self.channel:
            self.channel = "{metric}" if self.payload == "metrics" else "{channel}"
        if self.payload == "metrics" and self.time is None:
            self.time, self.time_format = "timestamp", "epoch_ms"
        known = {*names, "metric"} if self.payload == "metrics" else set(names)
        templates = [self.sensor, self.channel]
        if self.observes:
            templates += [self.observes.part_number, self.observes.serial]
        for template in templates:
            unknown = set(_fields(template)) - known
            if unknown:
                raise ValueError(
                    f"template {template!r} names {', '.join(sorted(unknown))}, which the topic "
                    f"{self.topic!r} does not capture"
                )
        if self.time_format not in ("iso", "epoch_s", "epoch_ms", "epoch_us") and (
            "%" not in self.time_format
        ):
            raise ValueError("time_format is iso, epoch_s, epoch_ms, epoch_us or a strptime format")
        return self

    @property
    def filter(self) -> str:
        """The MQTT subscription filter."""
        return "/".join("+" if _fields(level) else level for level in self.topic.split("/"))

    @property
    def levels(self) -> list[str | None]:
        """Per topic level: its field name, or None for a literal level."""
        return [next(iter(_fields(level)), None) for level in self.topic.split("/")]


class MqttMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["mqtt"] = "mqtt"
    topics: Annotated[list[TopicRule], Field(min_length=1)]


class NodeBinding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: str
    sensor: str
    channel: str
    unit: str | None = None
    quantity: str | None = None
    control: bool = False
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> NodeBinding:
        if self.control and (self.min is None or self.max is None):
            raise ValueError(
                f"control channel {self.channel!r} needs min and max (the bounds `thread act` enforces)"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"channel {self.channel!r}: min is above max")
        return self


class OpcuaMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["opcua"] = "opcua"
    publishing_interval_ms: Annotated[int, Field(ge=10)] = 100
    sensors: dict[str, Observes] = Field(default_factory=dict)
    nodes: Annotated[list[NodeBinding], Field(min_length=1)]


def _load(path: Path, model: type[BaseModel], kind: str) -> Any:
    data = load_mapping(path)
    if data.get("kind", kind) != kind:
        raise SourceError(f"{path}: this mapping is for {data.get('kind')!r}, not {kind!r}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or kind}: {e['msg']}" for e in exc.errors()
        )
        raise SourceError(f"{path}: {details}") from None


def load_mqtt_mapping(path: Path) -> MqttMapping:
    """Read and check an MQTT mapping file.

    Raises:
        SourceError: missing file, bad TOML, unknown keys, wrong kind (naming the field).
    """
    mapping: MqttMapping = _load(path, MqttMapping, "mqtt")
    return mapping


def load_opcua_mapping(path: Path) -> OpcuaMapping:
    """Read and check an OPC UA mapping file.

    Raises:
        SourceError: missing file, bad TOML, unknown keys, wrong kind (naming the field).
    """
    mapping: OpcuaMapping = _load(path, OpcuaMapping, "opcua")
    return mapping
