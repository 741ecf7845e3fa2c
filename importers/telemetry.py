"""Telemetry files: samples of sensor channels, in wide or long form, with a clock or an index.

Columnar all the way: the file is read with pyarrow's CSV reader (or split on whitespace
for space-aligned exports such as NASA's C-MAPSS), times are parsed and converted to UTC
in arrow, and the rows are cut per channel by sorting, never by looping over samples in
Python. What the graph gets is one Sensor and Channel node per channel and, through the
service, a Parquet dataset per channel with its summary.

The `[telemetry]` table of the mapping file says how to read the samples:

    [telemetry]
    layout = "wide"             # wide: one column per channel; long: sensor, channel, value columns
    time = "datetime"           # the column of instants (parsed with [source] datetime_format
                                # or as ISO 8601, in [source] timezone when naive), or
    index = "cycle"             # the column of an integer index (cycles, steps)
    sensor = "FD001-{unit}"     # the sensor id: a template over columns, or fixed text
    channels = ["s1", "s2"]     # wide: the channel columns (default: every other column)
    channel = "channel"         # long: the column naming the channel
    value = "value"             # long: the column of values

    [telemetry.observes]        # each sensor observes a unit (templates over columns)
    part_number = "TURBOFAN"
    serial = "{unit}"

    [telemetry.units]           # unit of measure per channel ("*": every channel)
    s2 = "degR"

    [telemetry.quantities]      # the quantity each channel measures
    s2 = "temperature"
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from thread.errors import Problem, SourceError
from thread.importers.base import ImportContext, Importer
from thread.importers.mapping import (
    MappingSpec,
    SourceOptions,
    parse_mapping,
    parse_template,
    template_fields,
)
from thread.importers.tabular import decode, split_rows
from thread.records import Origin, Record, Samples, node, rel

__all__ = ["TelemetryImporter", "TelemetrySpec"]

_MAX_PROBLEMS = 50


class TelemetrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layout: Literal["wide", "long"] = "long"
    time: str | None = None
    index: str | None = None
    sensor: str = "{sensor_id}"
    channels: list[str] = Field(default_factory=list)
    channel: str = "channel"
    value: str = "value"
    observes: dict[str, str] = Field(default_factory=dict)
    units: dict[str, str] = Field(default_factory=dict)
    quantities: dict[str, str] = Field(default_factory=dict)

    @field_validator("sensor")
    @classmethod
    def _sensor(cls, value: str) -> str:
        return _plain_template(value)

    @field_validator("observes")
    @classmethod
    def _observes(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value.values():
            _plain_template(pattern)
        return value

    @model_validator(mode="after")
    def _clock(self) -> TelemetrySpec:
        if (self.time is None) == (self.index is None):
            raise ValueError(
                "name exactly one of `time` (a column of instants) or `index` (an integer column)"
            )
        if self.observes and set(self.observes) != {"part_number", "serial"}:
            raise ValueError("observes needs part_number and serial (templates over columns)")
        return self

    @property
    def clock(self) -> str:
        return self.time or self.index or ""

    def unit_of(self, channel: str) -> str | None:
        return self.units.get(channel, self.units.get("*"))


def _plain_template(pattern: str) -> str:
    """Telemetry templates are joined column-wise in arrow, so they take plain {column}
    fields only (a format spec would otherwise be silently ignored)."""
    if any(spec for _, _, spec in parse_template(pattern)):
        raise ValueError("telemetry templates take plain {column} fields, without a format")
    return pattern


def _default_mapping() -> dict[str, Any]:
    """importers/mappings/telemetry.toml: long form, sensor_id, channel, timestamp, value."""
    text = (
        resources.files("thread.importers")
        .joinpath("mappings/telemetry.toml")
        .read_text(encoding="utf-8")
    )
    return tomllib.loads(text)


def _spec(mapping: MappingSpec, where: str) -> TelemetrySpec:
    try:
        return TelemetrySpec.model_validate(mapping.telemetry)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'telemetry'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise SourceError(f"{where}: [telemetry] {details}") from None


_BLOCK_BYTES = 4 << 20  # CSV read this much at a time: memory stays flat, speed as a whole read
_WHITESPACE_ROWS = 200_000


def _blocks(
    path: Path, display: str, options: SourceOptions, spec: TelemetrySpec, as_text: bool = False
) -> Iterator[Any]:
    """The file as arrow tables of a few MB each: the clock as text, the rest typed as
    inferred (or all as text with `as_text`, to find the line of a bad value)."""
    import pyarrow as pa

    if options.separator == "whitespace":
        yield from _whitespace_blocks(path, display, options)
        return
    if not path.is_file():
        raise SourceError(f"{display}: file not found")
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(
        encoding=options.encoding,
        skip_rows=options.skip_rows,
        column_names=None if options.header else list(options.names),
        block_size=_BLOCK_BYTES,
    )
    parse = pacsv.ParseOptions(delimiter=options.separator)
    try:
        types: dict[str, Any] = {spec.clock: pa.string()}
        if as_text:
            names = pacsv.open_csv(path, read_options=read, parse_options=parse).schema.names
            types = dict.fromkeys(names, pa.string())
        convert = pacsv.ConvertOptions(strings_can_be_null=True, column_types=types)
        reader = pacsv.open_csv(
            path, read_options=read, parse_options=parse, convert_options=convert
        )
        for batch in reader:
            if any(pa.types.is_binary(column) for column in batch.schema.types):
                raise _not_text(path, display, options)  # arrow reads bad UTF-8 as bytes
            if batch.num_rows:  # a block can end up empty (blank lines only)
                yield pa.Table.from_batches([batch])
    except pa.ArrowInvalid as exc:
        if "invalid UTF8" in str(exc):
            raise _not_text(path, display, options) from None
        if not as_text and "conversion error" in str(exc):
            raise _Retyped from None  # a later block holds a value the first did not
        if "straddling" in str(exc):
            raise SourceError(
                f"{display}: a line is longer than {_BLOCK_BYTES >> 20} MB, the longest the "
                "telemetry reader takes"
            ) from None
        raise SourceError(f"{display}: {exc}") from None
    except UnicodeError:  # from the codec arrow reads other encodings with
        raise _not_text(path, display, options) from None


def _not_text(path: Path, display: str, options: SourceOptions) -> SourceError:
    """The error for a file that is not text in its encoding: the tabular reader's, which
    names the line (it reads the file again as a whole, on the way to an error only)."""
    decode(path, display, options.encoding)
    return SourceError(f"{display}: not valid {options.encoding} text")


class _Retyped(Exception):
    """A block's values do not fit the types inferred from the first block."""


def _whitespace_blocks(path: Path, display: str, options: SourceOptions) -> Iterator[Any]:
    """Space-aligned text (C-MAPSS) in tables of rows, every column as text."""

    lines = split_rows(decode(path, display, options.encoding), options, display)
    names = list(options.names)
    if options.header:
        first = next(lines, None)
        names = first[1] if first else []
    rows: list[list[str]] = []
    for number, fields in lines:
        if len(fields) != len(names):
            raise SourceError(
                f"{display}:{number}: expected {len(names)} columns, found {len(fields)}"
            )
        rows.append(fields)
        if len(rows) == _WHITESPACE_ROWS:
            yield _text_table(names, rows)
            rows = []
    if rows:
        yield _text_table(names, rows)


def _text_table(names: list[str], rows: list[list[str]]) -> Any:
    import pyarrow as pa

    columns = zip(*rows, strict=True)
    return pa.table(
        {name: pa.array(col, pa.string()) for name, col in zip(names, columns, strict=True)}
    )


class _Problems(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems


def _line(index: int, options: SourceOptions) -> int:
    return index + 1 + options.skip_rows + int(options.header)


def _numbers(table: Any, column: str, display: str, options: SourceOptions, first_row: int) -> Any:
    """A column as float64; each value that is not a number is a Problem with its line."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = table.column(column)
    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type):
        return _finite(pc.cast(values, pa.float64()), values, column, display, options, first_row)
    text = pc.cast(values, pa.string())
    if options.decimal == ",":
        text = pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
    try:
        numbers = pc.cast(text, pa.float64())
    except pa.ArrowInvalid:
        problems = []
        for i, item in enumerate(text.to_pylist()):
            if item is None:
                continue
            try:
                float(item)
            except ValueError:
                problems.append(
                    Problem(
                        display, f"{item!r} is not a number", _line(first_row + i, options), column
                    )
                )
                if len(problems) >= _MAX_PROBLEMS:
                    break
        raise _Problems(problems) from None
    return _finite(numbers, values, column, display, options, first_row)


def _finite(
    numbers: Any, values: Any, column: str, display: str, options: SourceOptions, first_row: int
) -> Any:
    """`numbers`, unless one is infinite (`inf`, or `1e400` past float64): a summary of
    such a channel cannot be stored, so each is a Problem with its line. NaN stays: exports
    write it for a missing reading, and the summaries leave it out."""
    import pyarrow.compute as pc

    infinite = pc.fill_null(pc.is_inf(numbers), False)
    if not pc.any(infinite).as_py():
        return numbers
    rows = pc.indices_nonzero(infinite).to_pylist()[:_MAX_PROBLEMS]
    problems = [
        Problem(
            display,
            f"{values[row].as_py()!r} is not a finite number (infinite, or past a 64-bit float)",
            _line(first_row + row, options),
            column,
        )
        for row in rows
    ]
    raise _Problems(problems)


def _clock(
    table: Any, spec: TelemetrySpec, display: str, options: SourceOptions, first_row: int
) -> Any:
    """The clock column: UTC timestamps for `time`, int64 for `index`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = _required(
        pc.cast(table.column(spec.clock), pa.string()), spec.clock, display, options, first_row
    )
    if spec.index:
        try:
            return pc.cast(text, pa.int64())
        except pa.ArrowInvalid:
            bad = _first_failing(text, lambda part: pc.cast(part, pa.int64()))
            raise _bad_clock(
                display,
                options,
                spec,
                first_row + bad,
                f"{text[bad].as_py()!r} is not an integer index (of at most 64 bits)",
            ) from None
    if options.datetime_format:
        fmt = options.datetime_format

        def parse(part: Any) -> Any:
            return pc.strptime(part, format=fmt, unit="us")
    else:
        zoned = _has_offset(text[0].as_py())

        def parse(part: Any) -> Any:
            return pc.cast(part, pa.timestamp("us", "UTC" if zoned else None))

    try:
        stamps = parse(text)
    except pa.ArrowInvalid:
        bad = _first_failing(text, parse)
        expected = options.datetime_format or "ISO 8601"
        raise _bad_clock(
            display,
            options,
            spec,
            first_row + bad,
            f"{text[bad].as_py()!r} is not a datetime in the format {expected}",
        ) from None
    if stamps.type.tz is None:
        stamps = _zoned(stamps, text, spec, display, options, first_row)
    return pc.cast(stamps, pa.timestamp("us", "UTC"))


def _zoned(
    stamps: Any,
    text: Any,
    spec: TelemetrySpec,
    display: str,
    options: SourceOptions,
    first_row: int,
) -> Any:
    """Naive times read in [source] timezone. A time the clocks passed twice (autumn) is
    the first of the two, as in the tabular importers; one they skipped (spring) is a
    problem with its line, since no instant is right for it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    zone = options.timezone

    def assume(part: Any) -> Any:
        return pc.assume_timezone(part, zone, ambiguous="earliest")

    try:
        return assume(stamps)
    except pa.ArrowInvalid as exc:
        if "Cannot locate" in str(exc):  # in Python's zone database, not in arrow's
            raise SourceError(
                f"{display}: the time zone {zone!r} is not known to the telemetry reader; "
                "use another IANA name in [source] timezone"
            ) from None
        bad = _first_failing(stamps, assume)
        raise _bad_clock(
            display,
            options,
            spec,
            first_row + bad,
            f"{text[bad].as_py()!r} does not exist in {zone} (the clocks skipped it)",
        ) from None


def _first_failing(values: Any, convert: Callable[[Any], Any]) -> int:
    """The index of the first value `convert` rejects, found by halving: arrow says that a
    conversion failed, not where. A few conversions, on the way to an error only."""
    import pyarrow as pa

    low, high = 0, len(values)  # the first failure is in [low, high)
    while high - low > 1:
        middle = (low + high) // 2
        try:
            convert(values.slice(low, middle - low))
        except pa.ArrowInvalid:
            high = middle
        else:
            low = middle
    return low


def _required(
    values: Any, column: str, display: str, options: SourceOptions, first_row: int
) -> Any:
    """`values`, unless one is blank: a Problem naming its line (a sample needs its clock,
    sensor and channel)."""
    if values.null_count:
        first = next(i for i, v in enumerate(values.to_pylist()) if v is None)
        raise _Problems(
            [Problem(display, "a value is required", _line(first_row + first, options), column)]
        )
    return values


def _bad_clock(
    display: str, options: SourceOptions, spec: TelemetrySpec, index: int, message: str
) -> _Problems:
    return _Problems([Problem(display, message, _line(index, options), spec.clock)])


def _has_offset(text: str) -> bool:
    """Whether ISO text carries its zone ('Z' or '+02:00'); naive ones get [source] timezone."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def _template(table: Any, pattern: str, display: str) -> Any:
    """A template over columns evaluated for every row, as a string array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts: list[Any] = []
    for literal, name, _ in parse_template(pattern):
        if literal:
            parts.append(pa.scalar(literal))
        if name:
            if name not in table.column_names:
                raise SourceError(
                    f"{display}: the template {pattern!r} names no column {name!r}; the columns are: {', '.join(table.column_names)}"
                )
            parts.append(pc.cast(table.column(name), pa.string()))
    if not any(isinstance(p, pa.ChunkedArray | pa.Array) for p in parts):
        return pa.array([pattern] * table.num_rows, pa.string())
    return pc.binary_join_element_wise(*parts, "")


def _runs(keys: Any) -> Iterator[tuple[Any, int, int]]:
    """(key, start, stop) of each run of equal keys in a sorted array."""
    import pyarrow.compute as pc

    encoded = pc.run_end_encode(keys.combine_chunks() if hasattr(keys, "combine_chunks") else keys)
    start = 0
    for value, end in zip(encoded.values.to_pylist(), encoded.run_ends.to_pylist(), strict=True):
        yield value, start, end
        start = end


def _checked_columns(table: Any, spec: TelemetrySpec, display: str) -> list[str]:
    """Check that each column the mapping reads is there, once; the channel columns of a
    wide file."""
    names = table.column_names
    keys = [
        spec.clock,
        *template_fields(spec.sensor),
        *(f for t in spec.observes.values() for f in template_fields(t)),
    ]
    channels = []
    if spec.layout == "wide":
        channels = spec.channels or [c for c in names if c not in keys]
    read = [*keys, *channels] if spec.layout == "wide" else [*keys, spec.channel, spec.value]
    counts = Counter(names)
    for column in read:
        if column not in counts:
            raise SourceError(
                f"{display}: no column {column!r}; the columns are: {', '.join(names)}"
            )
        if counts[column] > 1:
            raise SourceError(
                f"{display}: the header names {counts[column]} columns {column!r}; "
                "a column Thread reads needs a name of its own"
            )
    return channels


def _compact(
    table: Any,
    spec: TelemetrySpec,
    channels: list[str],
    display: str,
    options: SourceOptions,
    first_row: int,
) -> Any:
    """One block as sensor, t, observed unit, and values per channel (wide) or channel and
    value (long); raises _Problems naming the lines of bad clocks or values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = {
        "t": _clock(table, spec, display, options, first_row),
        "sensor": pc.dictionary_encode(
            _required(
                _template(table, spec.sensor, display), spec.sensor, display, options, first_row
            )
        ),
    }
    for field, pattern in spec.observes.items():
        columns[f"obs.{field}"] = pc.dictionary_encode(_template(table, pattern, display))
    if spec.layout == "wide":
        for channel in channels:
            columns[f"value.{channel}"] = _numbers(table, channel, display, options, first_row)
    else:
        text = pc.cast(table.column(spec.channel), pa.string())
        columns["channel"] = pc.dictionary_encode(
            _required(text, spec.channel, display, options, first_row)
        )
        columns["value"] = _numbers(table, spec.value, display, options, first_row)
    return pa.table(columns)


class TelemetryImporter(Importer):
    kind = "telemetry"
    description = (
        "Sensor samples, wide or long, timestamped or indexed (cycles), to Parquet per channel."
    )
    extensions = (".csv", ".txt")

    def records(self, path: Path, context: ImportContext) -> Iterator[Record]:
        import pyarrow as pa

        where = context.mapping_path or "the default telemetry mapping"
        mapping = parse_mapping(context.mapping or _default_mapping(), self.kind, where)
        if not mapping.telemetry:
            raise SourceError(
                f"{context.display}: telemetry needs a mapping with a [telemetry] table (see importers/mappings/telemetry.toml)"
            )
        spec = _spec(mapping, where)
        options = mapping.source
        display = context.display
        try:
            frames, channels, problems = self._frames(path, display, options, spec)
        except _Retyped:
            frames, channels, problems = self._frames(path, display, options, spec, as_text=True)
        if problems:
            yield from problems[:_MAX_PROBLEMS]
            return
        if not any(frame.num_rows for frame in frames):
            raise SourceError(f"{display}: the file has no data rows")
        frame = pa.concat_tables(frames).unify_dictionaries()
        origin = Origin(display)
        if spec.layout == "wide":
            yield from self._wide(frame, channels, spec, context, origin)
        else:
            yield from self._long(frame, spec, context, origin)

    def _frames(
        self,
        path: Path,
        display: str,
        options: SourceOptions,
        spec: TelemetrySpec,
        as_text: bool = False,
    ) -> tuple[list[Any], list[str], list[Problem]]:
        """The file block by block, each cut down to sensor, clock, values (and channel,
        observed unit) with the strings dictionary-encoded, so a large export never sits
        in memory as text; with every problem found, up to the limit."""
        frames: list[Any] = []
        problems: list[Problem] = []
        channels: list[str] = []
        first_row = 0
        for block, table in enumerate(_blocks(path, display, options, spec, as_text)):
            if block == 0:
                channels = _checked_columns(table, spec, display)
            try:
                frame = _compact(table, spec, channels, display, options, first_row)
            except _Problems as found:
                problems += found.problems
                if len(problems) >= _MAX_PROBLEMS:
                    break
            else:
                if not problems:
                    frames.append(frame)
            first_row += table.num_rows
        return frames, channels, problems

    def _sensor_records(
        self,
        frame: Any,
        start: int,
        sensor_id: str,
        spec: TelemetrySpec,
        context: ImportContext,
        origin: Origin,
    ) -> Iterator[Record]:
        onto = context.onto
        sensor = node(onto, "Sensor", {"sensor_id": sensor_id}, origin)
        yield sensor
        if spec.observes:
            part = frame.column("obs.part_number")[start].as_py()
            serial = frame.column("obs.serial")[start].as_py()
            if part and serial:
                yield rel(
                    "OBSERVES", sensor, ("Unit", onto.uid("Unit", part, serial)), origin=origin
                )

    def _channel_records(
        self,
        sensor_id: str,
        channel: str,
        samples: Any,
        spec: TelemetrySpec,
        context: ImportContext,
        origin: Origin,
    ) -> Iterator[Record]:
        onto = context.onto
        props: dict[str, Any] = {"sensor_id": sensor_id, "channel": channel}
        if spec.unit_of(channel):
            props["unit_of_measure"] = spec.unit_of(channel)
        if channel in spec.quantities:
            props["quantity"] = spec.quantities[channel]
        record = node(onto, "Channel", props, origin)
        yield record
        yield rel("HAS_CHANNEL", ("Sensor", onto.uid("Sensor", sensor_id)), record, origin=origin)
        yield Samples(record.uid, samples, origin)

    def _wide(
        self,
        frame: Any,
        channels: list[str],
        spec: TelemetrySpec,
        context: ImportContext,
        origin: Origin,
    ) -> Iterator[Record]:
        import pyarrow as pa
        import pyarrow.compute as pc

        frame = frame.set_column(
            frame.column_names.index("sensor"),
            "sensor",
            pc.cast(frame.column("sensor"), pa.string()),
        )
        order = pc.sort_indices(frame, sort_keys=[("sensor", "ascending"), ("t", "ascending")])
        frame = frame.take(order)
        for sensor_id, start, stop in _runs(frame.column("sensor")):
            yield from self._sensor_records(frame, start, sensor_id, spec, context, origin)
            t = frame.column("t").slice(start, stop - start)
            for channel in channels:
                part = frame.column(f"value.{channel}").slice(start, stop - start)
                samples = pa.table({"t": t, "value": part}).filter(pc.is_valid(part))
                yield from self._channel_records(sensor_id, channel, samples, spec, context, origin)

    def _long(
        self, frame: Any, spec: TelemetrySpec, context: ImportContext, origin: Origin
    ) -> Iterator[Record]:
        """Cut long-form samples per channel: sort row numbers by (sensor, channel) codes,
        then move only the t and value columns, never the strings."""
        import pyarrow as pa
        import pyarrow.compute as pc

        frame = frame.filter(pc.is_valid(frame.column("value")))
        sensors = pc.dictionary_encode(frame.column("sensor")).combine_chunks()
        channels = pc.dictionary_encode(frame.column("channel")).combine_chunks()
        width = max(len(channels.dictionary), 1)
        code = pc.add(
            pc.multiply(pc.cast(sensors.indices, pa.int64()), width),
            pc.cast(channels.indices, pa.int64()),
        )
        # a stable sort on one integer key keeps each channel's rows in file order, which is
        # time order in nearly every export (staging sorts the rare channel that is not)
        order = pc.sort_indices(code)
        codes = pc.take(code, order)
        t, values = pc.take(frame.column("t"), order), pc.take(frame.column("value"), order)
        sensor_names = sensors.dictionary.to_pylist()
        channel_names = channels.dictionary.to_pylist()
        seen: set[str] = set()
        for joined, start, stop in _runs(codes):
            sensor_id, channel = sensor_names[joined // width], channel_names[joined % width]
            if sensor_id not in seen:
                seen.add(sensor_id)
                yield from self._sensor_records(
                    frame, order[start].as_py(), sensor_id, spec, context, origin
                )
            samples = pa.table(
                {"t": t.slice(start, stop - start), "value": values.slice(start, stop - start)}
            )
            yield from self._channel_records(sensor_id, channel, samples, spec, context, origin)
