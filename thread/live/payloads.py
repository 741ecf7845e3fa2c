"""Turning one MQTT message into samples, as its topic rule says (see `mapping`).

This runs once per message on the MQTT network thread, so it is plain Python on the
decoded JSON with the rule's choices made up front; a payload that does not fit raises
`PayloadError` with the reason, which the ingest reports with the topic and skips.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from thread.live.mapping import TopicRule
from thread.live.session import ChannelSpec, Sample

__all__ = ["BAD", "UNCERTAIN", "PayloadError", "TopicRouter", "quality_code"]

BAD = 0x80000000
UNCERTAIN = 0x40000000
_WORDS = {"good": 0, "ok": 0, "uncertain": UNCERTAIN, "bad": BAD}
_CACHE_LIMIT = 100_000


class PayloadError(ValueError):
    """A message that does not fit its topic rule; the text says why."""


def quality_code(raw: Any) -> int:
    """A quality flag as an OPC UA status code (0 = good): true/false, good/uncertain/bad,
    or a status code number.

    Raises:
        PayloadError: anything else.
    """
    if isinstance(raw, bool):
        return 0 if raw else BAD
    if isinstance(raw, int) and 0 <= raw < 2**32:
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _WORDS:
        return _WORDS[raw.strip().lower()]
    raise PayloadError(f"quality {raw!r} is not true/false, good/uncertain/bad or a status code")


def _clock(rule: TopicRule) -> Callable[[Any], int]:
    """The function that turns the rule's time field into µs since the epoch."""
    fmt = rule.time_format
    zone = ZoneInfo(rule.timezone)
    scale = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}.get(fmt)

    def from_datetime(value: datetime) -> int:
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return int(value.timestamp() * 1_000_000)

    def parse(raw: Any) -> int:
        try:
            if scale is not None:
                number = float(raw) if not isinstance(raw, bool) else math.nan
                if not math.isfinite(number):
                    raise ValueError
                return round(number * scale)
            if not isinstance(raw, str):
                raise ValueError
            if fmt == "iso":
                return from_datetime(datetime.fromisoformat(raw))
            return from_datetime(datetime.strptime(raw, fmt))
        except (ValueError, TypeError, OverflowError):
            raise PayloadError(f"time {raw!r} is not in the format {fmt}") from None

    return parse


def _field(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _number(raw: Any, quality: int) -> float:
    if raw is None and quality != 0:
        return math.nan  # a bad sample may come without a value; it is kept, flagged
    if isinstance(raw, bool) or raw is None:
        raise PayloadError(f"value {raw!r} is not a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise PayloadError(f"value {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise PayloadError(f"value {raw!r} is not a finite number")
    return value


class _Decoder:
    def __init__(self, rule: TopicRule, specs: dict[tuple[str, str], ChannelSpec]) -> None:
        self.rule = rule
        self.clock = _clock(rule)
        self.specs = specs

    def declare(self, sensor_id: str, channel: str, fields: dict[str, str]) -> None:
        """Remember what the rule says of a channel seen for the first time."""
        rule = self.rule
        observes = None
        if rule.observes is not None:
            observes = (
                rule.observes.part_number.format_map(fields),
                rule.observes.serial.format_map(fields),
            )
        self.specs[(sensor_id, channel)] = ChannelSpec(
            sensor_id,
            channel,
            rule.units.get(channel),
            rule.quantities.get(channel),
            observes,
        )

    def sample(self, item: Any, sensor_id: str, channel: str, default_t: int) -> Sample:
        rule = self.rule
        quality = 0
        if rule.quality is not None:
            raw_quality = _field(item, rule.quality)
            if raw_quality is not None:
                quality = quality_code(raw_quality)
        value = _number(_field(item, rule.value), quality)
        raw_t = _field(item, rule.time) if rule.time else None
        t = self.clock(raw_t) if raw_t is not None else default_t
        unit = _field(item, rule.unit) if rule.unit else None
        if unit is not None and not isinstance(unit, str):
            raise PayloadError(f"unit {unit!r} is not text")
        return (sensor_id, channel, unit or "", t, value, quality)

    def decode(self, fields: dict[str, str], payload: bytes, arrival_us: int) -> list[Sample]:
        rule = self.rule
        sensor_id = rule.sensor.format_map(fields)
        if rule.payload == "number":
            try:
                value = float(payload)
            except ValueError:
                raise PayloadError(f"payload {payload[:40]!r} is not a number") from None
            if not math.isfinite(value):
                raise PayloadError(f"payload {payload[:40]!r} is not a finite number")
            channel = rule.channel.format_map(fields)
            if (sensor_id, channel) not in self.specs:
                self.declare(sensor_id, channel, fields)
            return [(sensor_id, channel, "", arrival_us, value, 0)]
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"payload is not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise PayloadError("payload is not a JSON object")
        if rule.payload == "json":
            channel = rule.channel.format_map(fields)
            if (sensor_id, channel) not in self.specs:
                self.declare(sensor_id, channel, fields)
            return [self.sample(data, sensor_id, channel, arrival_us)]
        items = data.get(rule.metrics)
        if not isinstance(items, list):
            raise PayloadError(f"payload has no list {rule.metrics!r}")
        raw_t = data.get(rule.time) if rule.time else None
        default_t = self.clock(raw_t) if raw_t is not None else arrival_us
        samples = []
        for item in items:
            name = item.get(rule.name) if isinstance(item, dict) else None
            if not isinstance(name, str) or not name:
                raise PayloadError(f"a metric without a {rule.name!r}")
            channel = rule.channel.format_map({**fields, "metric": name})
            if (sensor_id, channel) not in self.specs:
                self.declare(sensor_id, channel, {**fields, "metric": name})
            samples.append(self.sample(item, sensor_id, channel, default_t))
        return samples


class TopicRouter:
    """Finds the rule a topic falls under and the fields its levels give (cached)."""

    def __init__(self, rules: list[TopicRule]) -> None:
        self.rules = rules
        self.specs: dict[tuple[str, str], ChannelSpec] = {}
        self._decoders = [_Decoder(rule, self.specs) for rule in rules]
        self._levels = [rule.levels for rule in rules]
        self._literals = [rule.topic.split("/") for rule in rules]
        self._cache: dict[str, tuple[int, dict[str, str]] | None] = {}

    def match(self, topic: str) -> tuple[int, dict[str, str]] | None:
        if topic in self._cache:
            return self._cache[topic]
        parts = topic.split("/")
        result = None
        for i, (levels, literals) in enumerate(zip(self._levels, self._literals, strict=True)):
            if len(levels) != len(parts):
                continue
            fields: dict[str, str] = {}
            for name, literal, part in zip(levels, literals, parts, strict=True):
                if name is None and literal != part:
                    break
                if name is not None:
                    if not part:
                        break
                    fields[name] = part
            else:
                result = (i, fields)
                break
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[topic] = result
        return result

    def decode(self, topic: str, payload: bytes, arrival_us: int) -> list[Sample]:
        """The samples of one message.

        Raises:
            PayloadError: no rule matches the topic, or the payload does not fit its rule.
        """
        found = self.match(topic)
        if found is None:
            raise PayloadError("no topic rule of the mapping matches this topic")
        index, fields = found
        return self._decoders[index].decode(fields, payload, arrival_us)

    def spec(self, sensor_id: str, channel: str) -> ChannelSpec | None:
        """What the rule that first delivered this channel says about it (its unit,
        quantity and observed unit), for channels created with --create-missing."""
        return self.specs.get((sensor_id, channel))
