"""A unit's health: one function of the thread, for the trace, the HTTP API and the USD overlay.

The health of a unit is the worst of what the thread says about it, each with a reason
a person can read:

- critical: an open corrective work order; an open critical alert;
- warning: another open work order; an open warning alert; a suspect lot still installed
  in it, at any depth (the audit's `suspect-lot-installed` definition, today: a risk to
  plan a replacement for, not a failure); its latest remaining useful life below
  `rul_threshold` (in the simulation's own units, cycles or days);
- good: none of these;
- unknown: the unit is not in the thread.

`HEALTH_READS` are the reads, anchored at a unit `u`: the trace puts those it does not
read anyway in its own single query, `unit_health` runs them all for many units in one batched
query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from thread.audit.builtin import SUSPECT_LOT_INSTALLED, SUSPECT_STATUSES
from thread.clock import utc_today
from thread.stores.base import GraphStore, chunked

__all__ = [
    "DEFAULT_RUL_THRESHOLD",
    "HEALTH_COLUMNS",
    "HEALTH_READ",
    "HEALTH_READS",
    "Health",
    "UnitHealth",
    "alert_facts",
    "health_from",
    "health_of",
    "health_params",
    "order_facts",
    "rul_facts",
    "unit_health",
]

Health = Literal["good", "warning", "critical", "unknown"]

DEFAULT_RUL_THRESHOLD = 30.0

_RANK: dict[str, int] = {"good": 0, "warning": 1, "critical": 2}
_BATCH = 2000
_ALERTING = ("critical", "warning")
"""Alert severities that make a unit's health worse."""

# one read per fact, anchored at a bound `u`; each CALL aggregates, so a unit with nothing
# has an empty list
HEALTH_READS: dict[str, str] = {
    "health_orders": (
        "CALL (u) { "
        "MATCH (m:MaintenanceEvent)-[pr:PERFORMED_ON]->(u) "
        "WHERE toLower(m.status) = 'open' AND m._missing IS NULL AND pr._missing IS NULL "
        "WITH m ORDER BY m.work_order "
        "RETURN collect([m.work_order, m.type]) AS health_orders } "
    ),
    "health_alerts": (
        "CALL (u) { "
        "MATCH (a:Alert)-[:RAISED_ON]->(u) "
        f"WHERE a.status = 'open' AND a.severity IN {list(_ALERTING)!r} "
        "WITH a ORDER BY a.uid "
        "RETURN collect([a.uid, a.severity]) AS health_alerts } "
    ),
    "health_lots": (
        "CALL (u) { "
        f"MATCH {SUSPECT_LOT_INSTALLED[0]} WHERE {SUSPECT_LOT_INSTALLED[1]} "
        "WITH l, min(length(path)) AS depth ORDER BY l.uid "
        "RETURN collect([l.uid, l.status, depth]) AS health_lots } "
    ),
    "health_rul": (
        "CALL (u) { "
        "MATCH (r:SimulationRun)-[:SIMULATED]->(:InstanceTwin)-[:TWIN_OF]->(u) "
        "WHERE r.rul IS NOT NULL "
        "WITH r ORDER BY coalesce(r.finished, '') DESC, r.uid LIMIT 1 "
        "RETURN collect([r.rul, r.uid]) AS health_rul } "
    ),
}
"""The facts health is judged on, by column; parameters from `health_params()`."""

HEALTH_READ = "".join(HEALTH_READS.values())
"""All of them, anchored at a bound `u`."""

HEALTH_COLUMNS = tuple(HEALTH_READS)
"""The columns `HEALTH_READ` returns, for `health_from`."""


def health_params(as_of: str | None = None) -> dict[str, Any]:
    """`HEALTH_READ`'s parameters: the suspect statuses and the day (today, UTC, when None)."""
    return {"statuses": SUSPECT_STATUSES, "as_of": as_of or utc_today()}


@dataclass
class UnitHealth:
    """A unit's health level and why (`reasons` is empty when good); `rul` and `rul_run`
    are the latest remaining useful life and the run it came from, when known."""

    level: Health
    reasons: list[str] = field(default_factory=list)
    rul: float | None = None
    rul_run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "reasons": self.reasons}


def order_facts(events: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """`health_orders` from the trace's maintenance rows [uid, work_order, type, status, …,
    still current]: the open work orders that have not disappeared from their source."""
    return sorted([e[1], e[2]] for e in events if str(e[3] or "").lower() == "open" and e[-1])


def alert_facts(alerts: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """`health_alerts` from rows of [uid, status, severity, …] of every alert on the unit
    (the trace reads those anyway, so it need not read them twice)."""
    found = {(row[0], row[2]) for row in alerts if row[1] == "open" and row[2] in _ALERTING}
    return [list(fact) for fact in sorted(found)]


def rul_facts(runs: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """`health_rul` from the properties of every simulation run of the unit's twin: the
    latest run that has a remaining useful life."""
    with_rul = sorted((r for r in runs if r.get("rul") is not None), key=lambda r: r["uid"])
    with_rul.sort(key=lambda r: r.get("finished") or "", reverse=True)
    return [[with_rul[0]["rul"], with_rul[0]["uid"]]] if with_rul else []


def health_from(row: Mapping[str, Any], rul_threshold: float = DEFAULT_RUL_THRESHOLD) -> UnitHealth:
    """The health rule of the module docstring, from one row of `HEALTH_READ`'s columns."""
    level = "good"
    reasons: list[str] = []

    def worse(to: str, reason: str) -> None:
        nonlocal level
        reasons.append(reason)
        if _RANK[to] > _RANK[level]:
            level = to

    for work_order, kind in row["health_orders"]:
        critical = (kind or "").lower() == "corrective"
        named = f"{kind} " if kind else ""
        worse("critical" if critical else "warning", f"open {named}work order {work_order}")
    for alert, severity in row["health_alerts"]:
        worse(severity, f"open {severity} alert {alert}")
    for lot, status, depth in row["health_lots"]:
        where = "" if depth == 1 else f" (depth {depth})"
        worse("warning", f"contains {status} lot {lot}{where}")
    rul: float | None = None
    rul_run: str | None = None
    if row["health_rul"]:
        rul, rul_run = float(row["health_rul"][0][0]), row["health_rul"][0][1]
        if rul < rul_threshold:
            run = f" ({rul_run})" if rul_run else ""
            worse("warning", f"remaining useful life {rul:g} below {rul_threshold:g}{run}")
    return UnitHealth(cast(Health, level), reasons, rul, rul_run)


def health_of(open_types: Iterable[str | None], rul: float | None, rul_threshold: float) -> str:
    """The level for open work orders of `open_types` and a remaining useful life alone."""
    row = {
        "health_orders": [[None, kind] for kind in open_types],
        "health_alerts": [],
        "health_lots": [],
        "health_rul": [] if rul is None else [[rul, None]],
    }
    return health_from(row, rul_threshold).level


def unit_health(
    store: GraphStore,
    uids: Iterable[str],
    *,
    rul_threshold: float = DEFAULT_RUL_THRESHOLD,
    as_of: str | None = None,
) -> dict[str, UnitHealth]:
    """The health of each unit of `uids`, in one read per 2000 units.

    Args:
        uids: unit uids; one that is not a unit in the thread is `unknown`.
        rul_threshold: a remaining useful life below this is a warning.
        as_of: the day suspect lots are judged installed on (today when None).
    """
    wanted = sorted(set(uids))
    found: dict[str, UnitHealth] = {}
    query = (
        "UNWIND $units AS unit MATCH (u:Entity {uid: unit}) WHERE u:Unit "
        + HEALTH_READ
        + "RETURN unit, "
        + ", ".join(HEALTH_COLUMNS)
    )
    for batch in chunked(wanted, _BATCH):
        for row in store.read(query, {"units": list(batch), **health_params(as_of)}):
            found[row["unit"]] = health_from(row, rul_threshold)
    return {
        uid: found.get(uid) or UnitHealth("unknown", [f"{uid} is not a unit of the thread"])
        for uid in wanted
    }
