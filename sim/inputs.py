"""What models read: twins, their units and channels (found by role), samples from
Parquet, and life histories, all from the graph and the store's telemetry.

Run-to-failure, as the graph records it: a unit whose `status` is `failed` ran until it
failed, so its telemetry ends at the failure (C-MAPSS training engines are imported this
way); every other unit is in service, observed up to its last sample. For reliability on
dated fleets, each corrective work order ends a life (the failed part was renewed) and the
life after the last one is censored at the fleet's latest record.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from thread.entities import require_entity
from thread.sim.errors import MissingInputError, NotEnoughDataError
from thread.sim.model import Role
from thread.stores.base import GraphStore, chunked
from thread.telemetry.datasets import TELEMETRY_DIR, channel_folder_name, read_samples

__all__ = [
    "FAILED",
    "ChannelInfo",
    "FleetUnit",
    "Life",
    "Series",
    "Twin",
    "fleet_units",
    "iso_seconds",
    "life_data",
    "read_series",
    "resolve_roles",
    "resolve_twin",
    "role_series",
    "series_checksum",
    "unit_channels",
]

FAILED = "failed"
_DAY = 86400.0
_BATCH = 2000


@dataclass(frozen=True)
class Twin:
    """A twin and what it stands for: one unit, or a fleet (one or more revisions)."""

    uid: str
    label: str
    unit: str | None
    aggregates: tuple[str, ...]
    part_number: str
    revision: str | None


@dataclass(frozen=True)
class ChannelInfo:
    uid: str
    channel: str
    quantity: str | None
    unit_of_measure: str | None
    index_kind: str


@dataclass(frozen=True)
class Series:
    """One channel's samples: t in seconds since the epoch (time) or the index (cycles)."""

    info: ChannelInfo
    t: np.ndarray
    values: np.ndarray

    @property
    def checksum(self) -> str:
        return series_checksum(self.t, self.values)


@dataclass(frozen=True)
class FleetUnit:
    unit: str
    twin: str
    status: str | None
    build_date: str | None


@dataclass
class Life:
    """One life of a unit: from its start (build or last renewal) to a failure or to now."""

    unit: str
    twin: str
    start: float
    end: float
    failed: bool
    mode: str | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start


def series_checksum(t: np.ndarray, values: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(t, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def iso_seconds(text: str) -> float:
    """A stored ISO date or datetime (UTC) as seconds since the epoch."""
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def resolve_twin(store: GraphStore, uid: str) -> Twin:
    """The twin `uid`, or for a Part uid the fleet of all its revisions' aggregate twins.

    Raises:
        NotFoundError: no such uid; MissingInputError: it is not a twin or a part with units.
    """
    label, props = require_entity(store, uid)
    if label == "InstanceTwin":
        rows = store.read(
            "MATCH (t:Entity {uid: $uid})-[:TWIN_OF]->(u:Unit) "
            "OPTIONAL MATCH (t)-[:INSTANCE_OF]->(a:AggregateTwin) "
            "RETURN u.uid AS unit, a.uid AS aggregate, a.revision AS revision",
            {"uid": uid},
        )
        if not rows:
            raise MissingInputError(f"{uid} is not linked to a unit (run `thread twin` refresh)")
        aggregate = rows[0]["aggregate"]
        return Twin(
            uid,
            label,
            rows[0]["unit"],
            (aggregate,) if aggregate else (),
            str(props.get("part_number")),
            rows[0]["revision"],
        )
    if label == "AggregateTwin":
        return Twin(uid, label, None, (uid,), str(props["part_number"]), str(props["revision"]))
    if label == "Part":
        rows = store.read(
            "MATCH (a:AggregateTwin) WHERE a.part_number = $pn RETURN a.uid AS uid ORDER BY uid",
            {"pn": props["part_number"]},
        )
        if not rows:
            raise MissingInputError(
                f"{uid} has no aggregate twins (import units of it, then refresh twins)"
            )
        return Twin(
            uid, label, None, tuple(r["uid"] for r in rows), str(props["part_number"]), None
        )
    raise MissingInputError(
        f"{uid} is a {label}; give an instance twin (twin:…), an aggregate twin (atwin:…) or a part"
    )


def fleet_units(store: GraphStore, twin: Twin) -> list[FleetUnit]:
    """The units a twin stands for, with their instance twins, ordered by uid."""
    if twin.unit is not None:
        rows = store.read(
            "MATCH (u:Entity {uid: $unit}) RETURN u.uid AS unit, u.status AS status, u.build_date AS build_date",
            {"unit": twin.unit},
        )
        return [FleetUnit(r["unit"], twin.uid, r["status"], r["build_date"]) for r in rows]
    rows = store.read(
        "UNWIND $aggregates AS a MATCH (t:InstanceTwin)-[:INSTANCE_OF]->(:Entity {uid: a}) "
        "MATCH (t)-[:TWIN_OF]->(u:Unit) "
        "RETURN u.uid AS unit, t.uid AS twin, u.status AS status, u.build_date AS build_date ORDER BY unit",
        {"aggregates": list(twin.aggregates)},
    )
    return [FleetUnit(r["unit"], r["twin"], r["status"], r["build_date"]) for r in rows]


def unit_channels(store: GraphStore, units: Sequence[str]) -> dict[str, list[ChannelInfo]]:
    """Every channel of every sensor observing each unit, ordered by channel name."""
    found: dict[str, list[ChannelInfo]] = defaultdict(list)
    for batch in chunked(list(units), _BATCH):
        for row in store.read(
            "UNWIND $units AS uid MATCH (u:Entity {uid: uid})<-[:OBSERVES]-(:Sensor)-[:HAS_CHANNEL]->(c:Channel) "
            "RETURN uid AS unit, c.uid AS uid, c.channel AS channel, c.quantity AS quantity, "
            "c.unit_of_measure AS uom, c.index_kind AS kind ORDER BY unit, channel, uid",
            {"units": list(batch)},
        ):
            found[row["unit"]].append(
                ChannelInfo(
                    row["uid"], row["channel"], row["quantity"], row["uom"], row["kind"] or "index"
                )
            )
    return dict(found)


def resolve_roles(
    roles: Sequence[Role],
    channels: Sequence[ChannelInfo],
    unit: str,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, list[ChannelInfo]]:
    """The channels that fill each role on one unit.

    An override (role → channel uid) wins; otherwise a channel of the role's quantity,
    preferring the role's names when several match. A `many` role takes every channel
    whose quantity is not excluded.

    Raises:
        MissingInputError: a role no channel fills, or an ambiguous one (listing the
            candidates and how to choose with --channel ROLE=UID).
    """
    overrides = dict(overrides or {})
    by_uid = {c.uid: c for c in channels}
    unknown = sorted(set(overrides) - {r.name for r in roles})
    if unknown:
        raise MissingInputError(
            f"no role named {', '.join(unknown)}; the roles are {', '.join(r.name for r in roles)}"
        )
    taken: set[str] = set(overrides.values())
    chosen: dict[str, list[ChannelInfo]] = {}
    for role in roles:
        if role.name in overrides:
            uid = overrides[role.name]
            if uid not in by_uid:
                raise MissingInputError(f"{uid} is not a channel of {unit}")
            chosen[role.name] = [by_uid[uid]]
            continue
        if role.many:
            chosen[role.name] = [c for c in channels if c.quantity not in role.exclude_quantities]
            continue
        candidates = [c for c in channels if c.quantity == role.quantity and c.uid not in taken]
        if len(candidates) > 1 and role.names:
            named = [c for c in candidates if c.channel.lower() in role.names]
            candidates = named or candidates
        if len(candidates) != 1:
            listed = ", ".join(c.uid for c in candidates) or "none"
            raise MissingInputError(
                f"{unit}: role {role.name!r} ({role.description}) needs one channel of quantity "
                f"{role.quantity!r}; found {listed}. Choose with --channel {role.name}=CHANNEL_UID"
            )
        chosen[role.name] = candidates
        taken.add(candidates[0].uid)
    return chosen


def role_series(
    store: GraphStore,
    unit: str,
    roles: Sequence[Role],
    overrides: Mapping[str, str] | None = None,
) -> dict[str, Series]:
    """The samples of the channel that fills each role on one unit (roles of one channel
    each: a `many` role gets its first channel only).

    Raises:
        MissingInputError: a role no channel fills, an ambiguous one, or a channel that
            has no samples in the store.
    """
    channels = unit_channels(store, [unit]).get(unit, [])
    found = resolve_roles(roles, channels, unit, overrides)
    series = read_series(store.data_dir, [infos[0] for infos in found.values()])
    by_role = {}
    for role, infos in found.items():
        if infos[0].uid not in series:
            raise MissingInputError(f"{infos[0].uid} has no samples in the store")
        by_role[role] = series[infos[0].uid]
    return by_role


def _files(data_dir: Path, channels: Sequence[ChannelInfo]) -> tuple[list[str], list[int]]:
    """Each channel's Parquet files and, for each file, the index of its channel."""
    files: list[str] = []
    owners: list[int] = []
    root = os.fspath(data_dir / TELEMETRY_DIR)
    for index, info in enumerate(channels):
        folder = f"{root}/{channel_folder_name(info.uid)}"
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(".parquet"))
        except FileNotFoundError:
            continue
        files.extend(f"{folder}/{n}" for n in names)
        owners.extend([index] * len(names))
    return files, owners


def read_series(data_dir: Path, channels: Sequence[ChannelInfo]) -> dict[str, Series]:
    """The samples of many channels at once, each sorted by t (the layout of
    thread.telemetry: one folder per channel, one Parquet file per source).

    Files are read one after another with the reader tuned for small files, then joined
    into one table: a fleet's hundred thousand channels cost one read call per file and
    no other Python work per file or sample.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    result: dict[str, Series] = {}
    for kind in sorted({c.index_kind for c in channels}):
        group = [c for c in channels if c.index_kind == kind]
        files, owners = _files(data_dir, group)
        tables = [read_samples(path) for path in files]
        if not tables:
            continue
        sizes = np.fromiter((table.num_rows for table in tables), np.int64, len(tables))
        table = pa.concat_tables(tables, promote_options="default")
        if table.num_rows == 0:
            continue
        owned = np.asarray(owners, np.int64)
        owner = np.repeat(owned, sizes)
        t_column = table.column("t")
        if pa.types.is_timestamp(t_column.type):
            t_column = pc.cast(pc.cast(t_column, pa.timestamp("us")), pa.int64())
            t = t_column.to_numpy().astype(np.float64) / 1e6
        else:
            t = t_column.to_numpy().astype(np.float64)
        values = table.column("value").to_numpy()
        # files come channel by channel and each is sorted by t (thread.telemetry and
        # thread.segments write them so): only a channel of several files needs sorting
        if np.bincount(owned, minlength=len(group)).max() > 1:
            order = np.lexsort((t, owner))
            owner, t, values = owner[order], t[order], values[order]
        bounds = np.searchsorted(owner, np.arange(len(group) + 1)).tolist()
        for i, info in enumerate(group):
            lo, hi = bounds[i], bounds[i + 1]
            if hi > lo:
                result[info.uid] = Series(info, t[lo:hi], values[lo:hi])
    return result


def _dates(store: GraphStore, units: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for batch in chunked(list(units), _BATCH):
        for row in store.read(
            "UNWIND $units AS uid MATCH (m:MaintenanceEvent)-[:PERFORMED_ON]->(:Entity {uid: uid}) "
            "WHERE m.type = 'corrective' "
            "OPTIONAL MATCH (m)-[:ADDRESSES]->(f:FailureMode) "
            "RETURN uid AS unit, m.opened AS opened, coalesce(f.code, m.failure_mode) AS mode "
            "ORDER BY unit, opened",
            {"units": list(batch)},
        ):
            events[row["unit"]].append(row)
    return events


def _latest_record(store: GraphStore, units: Sequence[str]) -> float:
    """The fleet's latest dated record (work order or sample): 'now' for censoring."""
    latest = 0.0
    for batch in chunked(list(units), _BATCH):
        rows = store.read(
            "UNWIND $units AS uid MATCH (u:Entity {uid: uid}) "
            "OPTIONAL MATCH (m:MaintenanceEvent)-[:PERFORMED_ON]->(u) "
            "OPTIONAL MATCH (u)<-[:OBSERVES]-(:Sensor)-[:HAS_CHANNEL]->(c:Channel) WHERE c.index_kind = 'time' "
            "RETURN max(m.opened) AS opened, max(m.closed) AS closed, max(c.last) AS sampled",
            {"units": list(batch)},
        )
        for value in rows[0].values():
            if value:
                latest = max(latest, iso_seconds(str(value)))
    return latest


def life_data(
    store: GraphStore, units: Sequence[FleetUnit], *, by_mode: bool = False
) -> tuple[dict[str, list[Life]], str]:
    """Lives of the fleet's units, grouped by failure mode when asked (else one group "all").

    Cycle-indexed fleets (telemetry indexed by cycle, like C-MAPSS) measure life in
    cycles: a unit's life is its last cycle, failed when its status is `failed`. Dated
    fleets measure it in days from the build date: each corrective work order ends a life
    (per mode when grouped: only that mode's work orders renew that mode's part), and the
    open life is censored at the fleet's latest record.

    Returns:
        (lives per group, the unit of time: "cycles" or "days").

    Raises:
        NotEnoughDataError: no unit has an age (no build dates and no cycle telemetry).
    """
    uids = [u.unit for u in units]
    cycles: dict[str, float] = {}
    for batch in chunked(uids, _BATCH):
        for row in store.read(
            "UNWIND $units AS uid MATCH (:Entity {uid: uid})<-[:OBSERVES]-(:Sensor)-[:HAS_CHANNEL]->(c:Channel) "
            "WHERE c.index_kind = 'index' RETURN uid AS unit, max(c.last) AS last",
            {"units": list(batch)},
        ):
            if row["last"] is not None:
                cycles[row["unit"]] = float(row["last"])
    if cycles:
        lives = [
            Life(u.unit, u.twin, 0.0, cycles[u.unit], u.status == FAILED)
            for u in units
            if u.unit in cycles
        ]
        return {"all": lives}, "cycles"
    events = _dates(store, uids)
    now = _latest_record(store, uids) / _DAY
    groups: dict[str, list[Life]] = defaultdict(list)
    modes = sorted({e["mode"] or "unspecified" for rows in events.values() for e in rows})
    wanted = modes if by_mode else ["all"]
    for unit in units:
        if not unit.build_date:
            continue
        start = iso_seconds(unit.build_date) / _DAY
        for group in wanted:
            begin = start
            for event in events.get(unit.unit, []):
                mode = event["mode"] or "unspecified"
                if group != "all" and mode != group:
                    continue
                at = iso_seconds(event["opened"]) / _DAY
                groups[group].append(Life(unit.unit, unit.twin, begin, at, True, mode))
                begin = at
            if now > begin:
                groups[group].append(Life(unit.unit, unit.twin, begin, now, False, None))
    if not any(groups.values()):
        raise NotEnoughDataError(
            "no unit of this fleet has an age: import units with build dates, or cycle-indexed telemetry"
        )
    return {g: groups.get(g, []) for g in wanted}, "days"
