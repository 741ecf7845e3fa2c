"""Guarded write-back: a set point sent to an asset only when the thread allows it.

`act` checks, before anything is written to the asset:

1. the twin's unit has a control channel of that name (a Channel with `control = true`,
   bound to an OPC UA node by an OPC UA mapping, with `setpoint_min`/`setpoint_max`);
2. the value lies within those bounds;
3. the unit has no open critical alert, unless the command answers that alert;
4. what it answers (`--answers`), if given, is an Alert or a SimulationRun.

Without `confirm` it is a dry run: the checks run and nothing is written to the asset or
the graph. With `confirm`, the value is written to the OPC UA node, read back, and
recorded as a Command (who, when, value, reason, the value before and the value read
back) that was ISSUED_TO the unit, SETS the channel and ANSWERS the alert or
recommendation. Every confirmed attempt is recorded, so the thread shows what was tried
as well as what was done: a check that fails records the Command with status `refused`
and the check's message in `error` (linked to what exists of the unit, the channel and
the answered entity) and raises `CommandRefused`, without writing to the asset; a write
the server refuses is recorded with status `failed` before the error is raised.
"""

from __future__ import annotations

import asyncio
import getpass
import math
import secrets
from dataclasses import asdict, dataclass, replace
from typing import Any

from thread.clock import utc_now
from thread.entities import primary_label
from thread.errors import ThreadError
from thread.live.alerts import open_critical_alerts, unit_of
from thread.live.opcua_client import (
    OpcuaAccess,
    OpcuaError,
    display_endpoint,
    new_client,
    write_and_read_back,
)
from thread.pipeline.write import Source, ThreadService
from thread.records import PropValue, Record, node, rel
from thread.stores.base import GraphStore

__all__ = ["CommandRefused", "CommandResult", "act"]


class CommandRefused(ThreadError):
    """The command is not allowed now; nothing was written to the asset. `command` is the
    uid of the Command that records the refusal (None on a dry run)."""

    def __init__(self, message: str, command: str | None = None) -> None:
        super().__init__(message)
        self.command = command


@dataclass
class CommandResult:
    command: str | None  # the Command uid (None on a dry run)
    status: str  # dry-run | confirmed | mismatch | failed
    twin: str
    unit: str
    channel: str
    setpoint: str
    value: float
    bounds: tuple[float, float]
    endpoint: str
    node: str
    reason: str
    issued_by: str
    answers: str | None = None
    issued: str | None = None
    before: Any = None
    read_back: Any = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bounds"] = list(self.bounds)
        return data


def _channel(store: GraphStore, unit: str, setpoint: str) -> dict[str, Any]:
    """The unit's one channel named `setpoint` (by name or uid)."""
    rows = store.read(
        "MATCH (:Unit {uid: $unit})<-[:OBSERVES]-(:Sensor)-[:HAS_CHANNEL]->(c:Channel) "
        "WHERE c.channel = $name OR c.uid = $name "
        "RETURN c.uid AS uid, c.channel AS channel, c.control AS control, c.opcua_node AS node, "
        "c.opcua_endpoint AS endpoint, c.setpoint_min AS low, c.setpoint_max AS high, "
        "c.unit_of_measure AS unit ORDER BY uid",
        {"unit": unit, "name": setpoint},
    )
    if not rows:
        names = store.read(
            "MATCH (:Unit {uid: $unit})<-[:OBSERVES]-(:Sensor)-[:HAS_CHANNEL]->(c:Channel) "
            "WHERE c.control = true RETURN c.channel AS channel ORDER BY channel",
            {"unit": unit},
        )
        known = ", ".join(r["channel"] for r in names) or "none"
        raise CommandRefused(f"{unit} has no channel {setpoint!r}; its control channels: {known}")
    if len(rows) > 1:
        raise CommandRefused(
            f"{unit} has several channels named {setpoint!r}; name one by uid: "
            + ", ".join(r["uid"] for r in rows)
        )
    return rows[0]


def _bounds(channel: dict[str, Any]) -> tuple[float, float]:
    """The set-point bounds of a control channel bound to an OPC UA node."""
    if not channel["control"] or not channel["node"]:
        raise CommandRefused(
            f"{channel['uid']} is not a control channel bound to an OPC UA node "
            "(declare it with control = true in an OPC UA mapping and run `thread ingest opcua`)"
        )
    if channel["low"] is None or channel["high"] is None:
        raise CommandRefused(f"{channel['uid']} declares no set-point bounds; refusing to write")
    return float(channel["low"]), float(channel["high"])


def _label(store: GraphStore, uid: str) -> str | None:
    rows = store.read("MATCH (n:Entity {uid: $uid}) RETURN labels(n) AS labels", {"uid": uid})
    return primary_label(rows[0]["labels"]) if rows else None


def _answered(store: GraphStore, uid: str) -> str:
    label = _label(store, uid)
    if label not in ("Alert", "SimulationRun"):
        raise CommandRefused(
            f"--answers {uid}: {'no such entity' if label is None else f'a {label}'}; "
            "a command answers an Alert or a SimulationRun (a recommendation)"
        )
    return label


def act(
    store: GraphStore,
    twin: str,
    setpoint: str,
    value: float,
    *,
    reason: str = "",
    confirm: bool = False,
    answers: str | None = None,
    issued_by: str | None = None,
    access: OpcuaAccess | None = None,
) -> CommandResult:
    """Write a set point to a twin's asset if the thread allows it (see the module docstring).

    `access` carries the user and security string the server may ask for, and an
    endpoint that overrides the one recorded on the channel (when not empty).

    Raises:
        NotFoundError, NoUnitError: `twin` is not a twin or a unit (nothing is recorded).
        CommandRefused: a check failed; nothing was written to the asset (with
            `confirm`, the refusal is recorded as a refused Command).
        OpcuaError: the asset could not be reached or refused the write (the attempt
            is recorded as a failed Command).
    """
    unit = unit_of(store, twin)
    issued_by = issued_by or getpass.getuser()
    channel: dict[str, Any] | None = None
    try:
        channel = _channel(store, unit, setpoint)
        low, high = _bounds(channel)
        if not math.isfinite(value) or not low <= value <= high:
            raise CommandRefused(
                f"{value:g} is outside the bounds of {channel['uid']}: {low:g} .. {high:g}"
                + (f" {channel['unit']}" if channel["unit"] else "")
            )
        answer_label = _answered(store, answers) if answers else None
        blocking = [uid for uid in open_critical_alerts(store, unit) if uid != answers]
        if blocking:
            raise CommandRefused(
                f"{unit} has open critical alert(s) {', '.join(blocking)}: only a command "
                "that answers one of them may write now (--answers ALERT)"
            )
    except CommandRefused as refused:
        if not confirm:
            raise
        uid = _record_refusal(
            store, unit, setpoint, value, reason, issued_by, channel, answers, str(refused)
        )
        raise CommandRefused(f"{refused} (refused, recorded as {uid})", uid) from None
    recorded = str(channel["endpoint"] or "")
    access = (
        replace(access, endpoint=access.endpoint or recorded) if access else OpcuaAccess(recorded)
    )
    target = display_endpoint(access.endpoint)
    result = CommandResult(
        command=None,
        status="dry-run",
        twin=twin,
        unit=unit,
        channel=channel["uid"],
        setpoint=channel["channel"],
        value=value,
        bounds=(low, high),
        endpoint=target,
        node=str(channel["node"]),
        reason=reason,
        issued_by=issued_by,
        answers=answers,
    )
    if not confirm:
        return result
    issued = result.issued = utc_now()
    command_id = _command_id(issued)
    result.command = store.ontology.uid("Command", command_id)
    failure: OpcuaError | None = None
    try:
        result.before, result.read_back = asyncio.run(_write(access, result.node, value))
        result.status = "confirmed" if _same(result.read_back, value) else "mismatch"
    except OpcuaError as exc:
        failure = exc
        result.status, result.error = "failed", str(exc)
    props: dict[str, PropValue] = {
        "command_id": command_id,
        "value": result.value,
        "reason": result.reason,
        "issued_by": result.issued_by,
        "issued": issued,
        "status": result.status,
        "setpoint": result.setpoint,
        "endpoint": result.endpoint,
        "opcua_node": result.node,
        "previous_value": _plain(result.before),
        "read_back": _plain(result.read_back),
        "error": result.error,
    }
    answered = (answer_label, answers) if answer_label and answers else None
    _record(store, props, unit, result.channel, answered, result.endpoint, result.issued_by)
    if failure is not None:
        raise failure
    return result


def _command_id(issued: str) -> str:
    return f"{issued.replace('-', '').replace(':', '')}-{secrets.token_hex(3)}"


def _record_refusal(
    store: GraphStore,
    unit: str,
    setpoint: str,
    value: float,
    reason: str,
    issued_by: str,
    channel: dict[str, Any] | None,
    answers: str | None,
    refusal: str,
) -> str:
    """Record a refused command, linked to what exists of its channel and answer."""
    issued = utc_now()
    props: dict[str, PropValue] = {
        "command_id": _command_id(issued),
        "value": value if math.isfinite(value) else None,  # the store takes finite numbers
        "reason": reason,
        "issued_by": issued_by,
        "issued": issued,
        "status": "refused",
        "setpoint": channel["channel"] if channel else setpoint,
        "error": refusal,
    }
    endpoint = ""
    if channel and channel["node"]:
        endpoint = display_endpoint(str(channel["endpoint"] or ""))
        props.update({"endpoint": endpoint, "opcua_node": str(channel["node"])})
    label = _label(store, answers) if answers else None
    answered = (label, answers) if answers and label in ("Alert", "SimulationRun") else None
    channel_uid = channel["uid"] if channel else None
    return _record(store, props, unit, channel_uid, answered, endpoint or unit, issued_by)


def _same(read_back: Any, value: float) -> bool:
    """The read-back equals the value, allowing for a Float node's single precision."""
    try:
        return math.isclose(float(read_back), value, rel_tol=1e-6, abs_tol=1e-9)
    except (TypeError, ValueError):
        return False


async def _write(access: OpcuaAccess, node_id: str, value: float) -> tuple[Any, Any]:
    from asyncua.ua.uaerrors import UaError  # asyncua.ua does not re-export it

    client = await new_client(access)
    try:
        await client.connect()
    except (OSError, TimeoutError, UaError) as exc:
        raise OpcuaError(
            f"cannot reach {display_endpoint(access.endpoint)}: {exc or type(exc).__name__}"
        ) from None
    try:
        return await write_and_read_back(client, node_id, value)
    finally:
        await client.disconnect()


def _record(
    store: GraphStore,
    props: dict[str, PropValue],
    unit: str,
    channel: str | None,
    answered: tuple[str, str] | None,
    source_path: str,
    issued_by: str,
) -> str:
    """Write a Command ISSUED_TO the unit, SETS the channel and ANSWERS (label, uid);
    returns its uid."""
    command = node(store.ontology, "Command", props)
    records: list[Record] = [command, rel("ISSUED_TO", command, ("Unit", unit))]
    if channel:
        records.append(rel("SETS", command, ("Channel", channel)))
    if answered:
        records.append(rel("ANSWERS", command, answered))
    source = Source("command", source_path, source_id=f"command:{command.uid}", actor=issued_by)
    ThreadService(store).import_records(records, source)
    return command.uid


def _plain(value: Any) -> PropValue:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)
