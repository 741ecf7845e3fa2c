"""Twin state written back to USD: an overlay layer that shows a fleet's condition.

`export_overlay` writes a new layer, never the scene's own files: it sublayers the
imported scene's root layer (the `file` the USD importer recorded on the Scene node),
copies its stage metadata (default prim, up axis, metres per unit, time codes), and on
every prim bound to a unit (`REPRESENTS`) authors

- `customData` under a `thread` dictionary: `health`, `unit`, `status`,
  `last_maintenance`, `open_work_orders`, the latest value of each sensor channel
  (`sensors.<sensor_id>.<channel>` with `value`, `unit`, `time`, `quantity`) and `rul`
  with the simulation run it came from, when known; composition merges it with the
  prim's own `thread` entries (its `thread:serial`), nothing of the scene is lost;
- `primvars:displayColor` (constant) by health, on the prim and on the geometric prims
  below it (which often author a colour of their own), so any USD viewer shows it.
  Materials take precedence over displayColor in renderers that use them.

Health is the thread's one health function (`thread.queries.health`, also in `thread
trace` and the HTTP API), with its reasons in `customData` (`reasons`): the worst of open
work orders (corrective: critical), open alerts, suspect lots still installed and a
remaining useful life below `rul_threshold`; unknown when the prim declares a unit
(`bind_part_number`, `bind_serial`) that is not in the graph, or no longer bound.

Everything is read with parameterised read-only queries.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from thread.clock import utc_now
from thread.entities import closest_uids
from thread.errors import NotFoundError, SourceError, ThreadError
from thread.queries.health import DEFAULT_RUL_THRESHOLD, Health, UnitHealth, health_of, unit_health
from thread.stores.base import GraphStore, chunked

__all__ = [
    "DEFAULT_RUL_THRESHOLD",
    "HEALTH_COLORS",
    "Health",
    "OverlayReport",
    "PrimState",
    "export_overlay",
    "health_of",
]

HEALTH_COLORS: dict[str, tuple[float, float, float]] = {
    "good": (0.1, 0.6, 0.2),  # green
    "warning": (1.0, 0.65, 0.0),  # amber
    "critical": (0.85, 0.1, 0.1),  # red
    "unknown": (0.5, 0.5, 0.5),  # grey
}
"""displayColor (linear RGB) by health."""

# the UsdGeom prim types that draw something and so take a displayColor
_GPRIMS = [
    "Mesh",
    "Cube",
    "Sphere",
    "Cylinder",
    "Cone",
    "Capsule",
    "Plane",
    "Cylinder_1",
    "Capsule_1",
    "Points",
    "BasisCurves",
    "NurbsCurves",
    "HermiteCurves",
    "NurbsPatch",
    "TetMesh",
]
_METADATA = (
    "defaultPrim",
    "upAxis",
    "metersPerUnit",
    "timeCodesPerSecond",
    "framesPerSecond",
    "startTimeCode",
    "endTimeCode",
)
_FORMATS = (".usda", ".usdc", ".usd")
_BATCH = 2000
_DEPTH = 64  # deepest prim hierarchy searched for geometry below a bound prim


@dataclass
class PrimState:
    """What the overlay says about one bound prim."""

    prim_path: str
    health: str
    reasons: list[str] = field(default_factory=list)
    unit: str | None = None
    status: str | None = None
    last_maintenance: str | None = None
    open_work_orders: list[str] = field(default_factory=list)
    sensors: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    rul: float | None = None
    rul_run: str | None = None
    colored: list[str] = field(default_factory=list)

    def custom_data(self) -> dict[str, Any]:
        """The `thread` dictionary authored on the prim (no empty entries)."""
        from pxr import Vt

        data: dict[str, Any] = {"health": self.health}
        for name in ("unit", "status", "last_maintenance", "rul", "rul_run"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.unit is not None:
            data["open_work_orders"] = Vt.StringArray(self.open_work_orders)
            data["reasons"] = Vt.StringArray(self.reasons)
        if self.sensors:
            data["sensors"] = self.sensors
        return data


@dataclass
class OverlayReport:
    """What `export_overlay` wrote."""

    scene: str
    out: str
    sublayer: str
    prims: list[PrimState] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def by_health(self) -> dict[str, int]:
        counts = dict.fromkeys(HEALTH_COLORS, 0)
        for prim in self.prims:
            counts[prim.health] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["by_health"] = self.by_health
        return data


def export_overlay(
    store: GraphStore,
    scene: str,
    out: Path,
    *,
    rul_threshold: float = DEFAULT_RUL_THRESHOLD,
) -> OverlayReport:
    """Write the twin state of `scene`'s bound prims to the new layer `out`.

    Args:
        scene: the Scene's uid (`scene:plant.usda`) or its path (`plant.usda`).
        out: the overlay to write (`.usda`, `.usdc` or `.usd`); replaced if it exists,
            refused if it is one of the scene's own layers.
        rul_threshold: a remaining useful life below this is a warning.

    Raises:
        NotFoundError: no such scene (the message offers the closest).
        SourceError: the scene's root layer is gone or unreadable.
        ThreadError: `out` is one of the scene's layers, not a .usda, .usdc or .usd
            file, or cannot be written.
    """
    if out.suffix.lower() not in _FORMATS:
        raise ThreadError(f"{out}: an overlay is a {', '.join(_FORMATS)} layer")
    uid = scene if scene.startswith("scene:") else store.ontology.uid("Scene", scene)
    rows = store.read(
        "MATCH (s:Entity {uid: $uid}) WHERE s:Scene RETURN s.path AS path, s.file AS file",
        {"uid": uid},
    )
    if not rows:
        raise NotFoundError(uid, closest_uids(store, uid))
    scene_path, source = rows[0]["path"], Path(rows[0]["file"] or "")
    if not source.is_file():
        raise SourceError(f"{source}: the root layer of {uid} is gone; re-import the scene")
    target = out.resolve()
    if target in _scene_files(store, uid, source):
        raise ThreadError(
            f"refusing to write {out}: it is a layer of {uid}; an overlay is a new file"
        )
    states = _states(store, scene_path, rul_threshold)
    sublayer = Path(os.path.relpath(source, target.parent)).as_posix()
    report = OverlayReport(uid, str(out), sublayer, states)
    if not states:
        report.warnings.append(f"{uid} has no prim bound to a unit; the overlay only sublayers it")
    _write(source, target, sublayer, uid, states, rul_threshold)
    return report


def _scene_files(store: GraphStore, uid: str, source: Path) -> set[Path]:
    """The scene's root layer and every layer file it depends on, directly or not (walked
    breadth-first: layers shared by many others would multiply variable-length paths)."""
    files = {source.resolve()}
    seen, frontier = {uid}, [uid]
    while frontier:
        rows = store.read(
            "UNWIND $uids AS u MATCH (:Entity {uid: u})-[:DEPENDS_ON]->(l:Layer) "
            "RETURN DISTINCT l.uid AS uid, l.file AS file",
            {"uids": frontier},
        )
        frontier = [r["uid"] for r in rows if r["uid"] not in seen]
        seen.update(frontier)
        files.update(Path(r["file"]).resolve() for r in rows if r["file"])
    return files


def _states(store: GraphStore, scene_path: str, rul_threshold: float) -> list[PrimState]:
    """The state of every prim of the scene that is bound to a unit or declares one."""
    bound = store.read(
        "MATCH (p:Prim)-[r:REPRESENTS]->(u:Unit) "
        "WHERE p.scene = $scene AND p._missing IS NULL AND r._missing IS NULL "
        "RETURN p.uid AS uid, p.prim_path AS prim, u.uid AS unit, u.status AS status",
        {"scene": scene_path},
    )
    declared = store.read(
        "MATCH (p:Prim) WHERE p.scene = $scene AND p._missing IS NULL "
        "AND p.bind_serial IS NOT NULL AND p.bind_part_number IS NOT NULL "
        "RETURN p.uid AS uid, p.prim_path AS prim",
        {"scene": scene_path},
    )
    units = sorted({row["unit"] for row in bound})
    orders = _by_unit(
        store,
        "UNWIND $units AS unit MATCH (m:MaintenanceEvent)-[r:PERFORMED_ON]->(:Entity {uid: unit}) "
        "WHERE m._missing IS NULL AND r._missing IS NULL "
        "RETURN unit, m.work_order AS work_order, m.type AS type, m.status AS status, "
        "m.opened AS opened, m.closed AS closed",
        units,
    )
    channels = _by_unit(
        store,
        "UNWIND $units AS unit MATCH (s:Sensor)-[:OBSERVES]->(:Entity {uid: unit}) "
        "MATCH (s)-[:HAS_CHANNEL]->(c:Channel) WHERE c.last_value IS NOT NULL "
        "RETURN unit, s.sensor_id AS sensor, c.channel AS channel, c.last_value AS value, "
        "c.unit_of_measure AS uom, c.last AS time, c.quantity AS quantity",
        units,
    )
    healths = unit_health(store, units, rul_threshold=rul_threshold)
    states: dict[str, PrimState] = {}
    for row in bound:
        unit = row["unit"]
        states[row["uid"]] = _unit_state(row, orders[unit], channels[unit], healths[unit])
    for row in declared:
        states.setdefault(row["uid"], PrimState(row["prim"], "unknown"))
    _geometry_below(store, states)
    return sorted(states.values(), key=lambda s: s.prim_path)


def _is(order: Mapping[str, Any], status: str) -> bool:
    return str(order["status"] or "").lower() == status


def _by_unit(store: GraphStore, query: str, units: list[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for batch in chunked(units, _BATCH):
        for row in store.read(query, {"units": list(batch)}):
            found[row["unit"]].append(row)
    return found


def _unit_state(
    row: Mapping[str, Any],
    orders: list[dict[str, Any]],
    channels: list[dict[str, Any]],
    health: UnitHealth,
) -> PrimState:
    closed = [o["closed"] or o["opened"] for o in orders if _is(o, "closed")]
    open_orders = [o for o in orders if _is(o, "open")]
    state = PrimState(
        row["prim"],
        health.level,
        health.reasons,
        unit=row["unit"],
        status=row["status"],
        last_maintenance=max((c for c in closed if c), default=None),
        open_work_orders=sorted(str(o["work_order"]) for o in open_orders),
        rul=health.rul,
        rul_run=health.rul_run,
    )
    for channel in channels:
        reading = {
            k: channel[src]
            for k, src in (
                ("value", "value"),
                ("unit", "uom"),
                ("time", "time"),
                ("quantity", "quantity"),
            )
            if channel[src] is not None
        }
        state.sensors.setdefault(str(channel["sensor"]), {})[str(channel["channel"])] = reading
    return state


def _geometry_below(store: GraphStore, states: dict[str, PrimState]) -> None:
    """Each state's geometric prims below it in the imported hierarchy, to colour them."""
    query = (
        f"UNWIND $uids AS uid MATCH (:Entity {{uid: uid}})-[:HAS_CHILD*1..{_DEPTH}]->(c:Prim) "
        "WHERE c.type_name IN $types AND c._missing IS NULL "
        "RETURN uid, c.prim_path AS path"
    )
    for batch in chunked(sorted(states), _BATCH):
        for row in store.read(query, {"uids": list(batch), "types": _GPRIMS}):
            states[row["uid"]].colored.append(row["path"])
    for state in states.values():
        state.colored.sort()


def _write(
    source: Path,
    target: Path,
    sublayer: str,
    uid: str,
    states: list[PrimState],
    rul_threshold: float,
) -> None:
    from pxr import Gf, Sdf, Tf, UsdGeom, Vt

    try:
        original = Sdf.Layer.FindOrOpen(str(source))
    except Tf.ErrorException as exc:
        raise SourceError(f"{source}: the root layer of {uid} cannot be read: {exc}") from None
    if original is None:
        raise SourceError(f"{source}: the root layer of {uid} cannot be read")
    layer = Sdf.Layer.CreateAnonymous(target.suffix or ".usda")
    layer.subLayerPaths.append(sublayer)
    for key in _METADATA:
        if original.pseudoRoot.HasInfo(key):
            layer.pseudoRoot.SetInfo(key, original.pseudoRoot.GetInfo(key))
    layer.documentation = f"Thread twin state of {uid}; written by `thread export usd`."
    layer.customLayerData = {
        "thread": {"scene": uid, "exported": utc_now(), "rul_threshold": rul_threshold}
    }
    for state in states:
        spec = Sdf.CreatePrimInLayer(layer, state.prim_path)
        spec.customData = {"thread": state.custom_data()}
        color = Vt.Vec3fArray([Gf.Vec3f(*HEALTH_COLORS[state.health])])
        for path in [state.prim_path, *state.colored]:
            holder = Sdf.CreatePrimInLayer(layer, path)
            attribute = Sdf.AttributeSpec(
                holder, "primvars:displayColor", Sdf.ValueTypeNames.Color3fArray
            )
            attribute.default = color
            attribute.SetInfo("interpolation", UsdGeom.Tokens.constant)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        written = layer.Export(str(target))
    except Tf.ErrorException as exc:
        raise ThreadError(f"{target}: cannot write the overlay: {exc}") from None
    if not written:
        raise ThreadError(f"{target}: cannot write the overlay")
