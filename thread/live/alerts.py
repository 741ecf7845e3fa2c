"""Alerts in the graph: one Alert node per episode of abnormal behaviour on a unit.

An Alert is RAISED_ON its unit, INVOLVES the channels that contributed most, and was
DETECTED_BY the calibration run whose limits it crossed. Its id is the calibration's run
id and the episode's start, so a replayed stream writes the same alert again (a no-op)
instead of a second one. Alerts are written through ThreadService (validated, with
provenance), each under its own source id, so updating one never disturbs another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thread.entities import require_entity
from thread.errors import ThreadError
from thread.pipeline.write import Source, ThreadService
from thread.records import PropValue, Record, node, rel
from thread.stores.base import GraphStore

if TYPE_CHECKING:
    from thread.sim.anomaly import Episode

__all__ = [
    "AlertTarget",
    "NoUnitError",
    "alert_id",
    "alert_records",
    "alerts_for_unit",
    "list_alerts",
    "open_critical_alerts",
    "unit_of",
    "write_alert",
]


class NoUnitError(ThreadError):
    """The entity given as a twin is neither a unit nor the instance twin of one."""


@dataclass(frozen=True)
class AlertTarget:
    """Where a detector's alerts go: its calibration run, unit and channels."""

    run_uid: str
    run_id: str
    unit_uid: str
    detector: str
    channel_uids: tuple[str, ...]  # in the detector's column order
    channel_names: tuple[str, ...]


def alert_id(run_id: str, start_us: int) -> str:
    """Stable per calibration and episode start (to the microsecond)."""
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(start_us / 1e6, UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{run_id}-{stamp}"


def alert_records(store: GraphStore, target: AlertTarget, episode: Episode) -> list[Record]:
    from thread.telemetry.segments import iso_from_us  # numpy: only where alerts are written

    onto = store.ontology
    contributors = episode.contributors()
    names = dict(zip(target.channel_uids, target.channel_names, strict=True))
    props: dict[str, PropValue] = {
        "alert_id": alert_id(target.run_id, episode.start),
        "status": "open" if episode.open else "cleared",
        "severity": episode.severity,
        "start": iso_from_us(episode.start),
        "end": None if episode.end is None else iso_from_us(episode.end),
        "peak_score": episode.peak_score,
        "peak_at": iso_from_us(episode.peak_at),
        "threshold": episode.threshold,
        "rows": episode.rows,
        "detector": target.detector,
        "contributors": [names[uid] for uid in contributors],
    }
    alert = node(onto, "Alert", props)
    records: list[Record] = [
        alert,
        rel("RAISED_ON", alert, ("Unit", target.unit_uid)),
        rel("DETECTED_BY", alert, ("SimulationRun", target.run_uid)),
    ]
    records.extend(rel("INVOLVES", alert, ("Channel", uid)) for uid in contributors)
    return records


def write_alert(store: GraphStore, target: AlertTarget, episode: Episode) -> str:
    """Create or update the Alert of an episode; returns its uid."""
    records = alert_records(store, target, episode)
    uid = store.ontology.uid("Alert", alert_id(target.run_id, episode.start))
    source = Source("detector", target.run_uid, source_id=f"alert:{uid}")
    ThreadService(store).import_records(records, source)
    return uid


_ALERT_FIELDS = (
    "a.uid AS uid, a.status AS status, a.severity AS severity, a.start AS start, a.end AS end, "
    "a.peak_score AS peak_score, a.threshold AS threshold, a.contributors AS contributors, "
    "u.uid AS unit, r.uid AS detected_by"
)


def unit_of(store: GraphStore, uid: str) -> str:
    """The unit a twin (or a unit) uid stands for.

    Raises:
        NotFoundError: no entity has this uid.
        NoUnitError: it is neither a unit nor an instance twin linked to one.
    """
    label, _ = require_entity(store, uid)
    if label == "Unit":
        return uid
    rows = store.read(
        "MATCH (:InstanceTwin {uid: $uid})-[:TWIN_OF]->(u:Unit) RETURN u.uid AS unit", {"uid": uid}
    )
    if not rows:
        raise NoUnitError(
            f"{uid} is a {label}, not a unit or the instance twin of one (twins are rebuilt by `thread import`)"
        )
    return str(rows[0]["unit"])


def list_alerts(
    store: GraphStore, *, open_only: bool = False, twin: str | None = None
) -> list[dict[str, Any]]:
    """Alerts, newest first, optionally only open ones or those of one twin (or unit)."""
    unit = unit_of(store, twin) if twin else None
    return store.read(
        "MATCH (a:Alert)-[:RAISED_ON]->(u:Unit) "
        "WHERE ($unit IS NULL OR u.uid = $unit) AND (NOT $open OR a.status = 'open') "
        "OPTIONAL MATCH (a)-[:DETECTED_BY]->(r:SimulationRun) "
        f"RETURN {_ALERT_FIELDS} ORDER BY start DESC, uid",
        {"unit": unit, "open": open_only},
    )


def alerts_for_unit(store: GraphStore, unit_uid: str) -> list[dict[str, Any]]:
    """A unit's alerts, newest first (the `alerts` section of `thread trace`)."""
    return list_alerts(store, twin=unit_uid)


def open_critical_alerts(store: GraphStore, unit_uid: str) -> list[str]:
    """Uids of the unit's open critical alerts: they block write-back to it."""
    rows = store.read(
        "MATCH (a:Alert)-[:RAISED_ON]->(:Unit {uid: $unit}) "
        "WHERE a.status = 'open' AND a.severity = 'critical' RETURN a.uid AS uid ORDER BY uid",
        {"unit": unit_uid},
    )
    return [row["uid"] for row in rows]
