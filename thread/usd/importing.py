"""OpenUSD stages: a Scene, its composed prims, the layers it depends on, and bindings.

The stage is opened with usd-core and fully composed (sublayers, references, payloads,
variants, inherits), so the graph holds what a USD viewer shows, not what one file says:

- one `Scene` per imported root layer, uid `scene:<path relative to the import root>`,
  with the absolute `file` (the write-back overlay sublayers it), the stage metadata and
  the options the stage was composed with;
- one `Prim` per composed prim (usd-core's `TraverseAll`: active or not, defined, over or
  class; instance proxies are not entered, as usd-core does not by default), uid
  `prim:<scene path>:<prim path>`, with name, type name, specifier, kind, purpose,
  active, instanceable, loaded, the current variant selections (`variants.<set>`), and
  `assetInfo` and `customData` flattened with dotted keys (`assetInfo.name`,
  `customData.thread:serial`); `HAS_PRIM` from the scene to the root prims and
  `HAS_CHILD` down the hierarchy;
- one `Layer` per layer or asset the scene depends on through sublayers, references or
  payloads (every variant, loaded or not), uid `layer:<path relative to the import
  root>`, `DEPENDS_ON` from the scene or the layer that names it. A dependency that
  cannot be found or read is still a Layer (`resolved`/`readable` false, `error`) and is
  reported; its uid is the anchored path when it is file-relative, else the asset path
  as authored.

Composition errors (a missing layer, an unreadable MaterialX file, a reference to a prim
that does not exist) and relationships whose target does not exist are warnings that
name the layer and prim; the import carries on with what composed. A file that usd-core
cannot open at all is a SourceError.

Options (`context.options`): `payloads` (default true: load payloads), `variants`
(variant set name -> selection, applied to every prim that has that set, in a session
layer; default: the authored selections) and `root` (the folder scene and layer uids are
relative to; default: the file's folder).

Bindings: see `importers.binding`; the default keys are `thread:serial` and
`thread:partNumber`, looked up in `assetInfo` first, then `customData`, both as written
(`string "thread:serial" = …`) and as a USD key path, which is what
`SetCustomDataByKey("thread:serial", …)` authors (`dictionary thread = {serial = …}`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from thread.errors import SourceError
from thread.importers.base import ImportContext, Importer
from thread.importers.binding import BindingKeys, binding_records, declared_binding, parse_bindings
from thread.records import (
    MAX_UID_BYTES,
    NodeRecord,
    Notice,
    Origin,
    PropValue,
    Record,
    node,
    rel,
    text_too_long,
)

__all__ = ["DEFAULT_BINDINGS", "UsdImporter", "UsdOptions", "flatten_value"]

DEFAULT_BINDINGS = BindingKeys(serial=("thread:serial",), part_number=("thread:partNumber",))
"""Where a prim declares its unit: `customData = {string "thread:serial" = "SN-0001"}`."""

_INTERNAL = re.compile(r"pxrInternal_v\d+_\d+_\d+__pxrReserved__::")
_SPECIFIERS = {"SpecifierDef": "def", "SpecifierOver": "over", "SpecifierClass": "class"}


class UsdOptions(BaseModel):
    """How to compose the stage (the CLI's `--no-payloads`, `--variant SET=VALUE`)."""

    model_config = ConfigDict(extra="forbid")

    payloads: bool = True
    variants: dict[str, str] = Field(default_factory=dict)
    root: Path | None = None


def _parse_options(raw: Mapping[str, Any], display: str) -> UsdOptions:
    try:
        return UsdOptions.model_validate(dict(raw))
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SourceError(f"{display}: usd options: {details}") from None


def _key_paths(keys: BindingKeys) -> BindingKeys:
    """Each key as written and as a USD key path into nested dictionaries (flattened with
    dots): `thread:serial` also finds `thread = {serial = …}`."""

    def both(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for name in names for n in (name, name.replace(":", "."))))

    return BindingKeys(serial=both(keys.serial), part_number=both(keys.part_number))


def _clean(text: str) -> str:
    """usd-core's message without its internal namespace noise."""
    return _INTERNAL.sub("", text).strip()


def _reasons(exc: Exception) -> str:
    """What a usd-core error exception says, one line per error it carries."""
    return "; ".join(_clean(getattr(error, "commentary", str(error))) for error in exc.args)


def flatten_value(prefix: str, value: Any, out: dict[str, PropValue]) -> None:
    """Put a USD metadata value into `out` as flat graph properties.

    Dictionaries become dotted keys under `prefix`; asset paths their authored path;
    vectors and arrays lists; arrays of vectors or matrices a JSON string; non-finite
    numbers their text. A None is left out (the graph has no nulls).
    """
    if isinstance(value, dict):
        for key, item in value.items():
            flatten_value(f"{prefix}.{key}", item, out)
        return
    flat = _scalar_or_list(value)
    if flat is not None:
        out[prefix] = flat


@cache
def _usd_types() -> tuple[Any, Any, tuple[Any, ...]]:
    """usd-core's asset path, time code and quaternion types (imported on first use;
    typed Any, as usd-core ships no type information)."""
    from pxr import Gf, Sdf

    return Sdf.AssetPath, Sdf.TimeCode, (Gf.Quatd, Gf.Quatf, Gf.Quath)


def _scalar(value: Any) -> PropValue:
    asset_path, time_code, _ = _usd_types()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, asset_path):
        return str(value.path)
    if isinstance(value, time_code):
        return _scalar(value.GetValue())
    return str(value)


def _scalar_or_list(value: Any) -> PropValue:
    if isinstance(value, _usd_types()[2]):
        value = [value.GetReal(), *value.GetImaginary()]
    if isinstance(value, str) or not hasattr(value, "__len__"):
        return _scalar(value)
    items = [_scalar_or_list(item) for item in value]
    kinds = {type(item) for item in items}
    if list in kinds or (len(kinds) > 1 and not kinds <= {int, float}):
        return json.dumps(items, default=str)
    return items


def _authored(prim: Any, field: str) -> dict[str, PropValue]:
    """The prim's `assetInfo` or `customData` as usd-core composes it, flattened, without
    the entries a schema supplies as fallbacks (`userDocBrief`): those are not the file's.
    A key with a ':' is authored (usd-core reads it as a key path, and no schema fallback
    has one)."""
    if field == "assetInfo":
        if not prim.HasAuthoredAssetInfo():
            return {}
        data, authored = prim.GetAssetInfo(), prim.HasAuthoredAssetInfoKey
    else:
        if not prim.HasAuthoredCustomData():
            return {}
        data, authored = prim.GetCustomData(), prim.HasAuthoredCustomDataKey
    out: dict[str, PropValue] = {}
    for key, value in data.items():
        if ":" in key or authored(key):
            flatten_value(key, value, out)
    return out


def _drop_unstorable(props: dict[str, PropValue], what: str, origin: Origin) -> Iterator[Notice]:
    """Leave out keys no store can take as property names (a backtick), saying so."""
    for key in [k for k in props if "`" in k]:
        del props[key]
        yield Notice(f"{what}: {key!r} cannot be a property name (backtick); left out", origin)


def _open_stage(path: Path, display: str, options: UsdOptions) -> Any:
    """The composed stage, or SourceError saying why usd-core cannot open the file."""
    from pxr import Sdf, Tf, Usd

    if not path.is_file():
        raise SourceError(f"{display}: not a file")
    if path.stat().st_size == 0:
        raise SourceError(f"{display}: empty file, not a USD layer")
    try:
        layer = Sdf.Layer.FindOrOpen(str(path))
    except Tf.ErrorException as exc:
        raise SourceError(f"{display}: not a readable USD layer: {_reasons(exc)}") from None
    if layer is None:
        raise SourceError(f"{display}: not a readable USD layer (usd-core cannot open it)")
    load = Usd.Stage.LoadAll if options.payloads else Usd.Stage.LoadNone
    try:
        stage = Usd.Stage.Open(layer, load)  # with a session layer of its own, for variants
        # layers this process already holds may be older than their files: read them again
        # (unless someone edits them in memory); files unchanged since are not read twice
        clean = {used for used in stage.GetUsedLayers() if not used.anonymous and not used.dirty}
        Sdf.Layer.ReloadLayers(clean)
    except Tf.ErrorException as exc:
        raise SourceError(
            f"{display}: usd-core cannot compose the stage: {_reasons(exc)}"
        ) from None
    return stage


def _apply_variants(stage: Any, wanted: Mapping[str, str], origin: Origin) -> Iterator[Notice]:
    """Select `wanted` variants in the session layer on every prim that has the set,
    top-down, so selections inside a newly selected variant are applied too."""
    from pxr import Usd

    if not wanted:
        return
    stage.SetEditTarget(Usd.EditTarget(stage.GetSessionLayer()))
    lacking: dict[tuple[str, str], list[str]] = defaultdict(list)
    found: set[str] = set()
    pending = list(reversed(stage.GetPseudoRoot().GetAllChildren()))
    while pending:
        prim = pending.pop()
        sets = prim.GetVariantSets()
        for name in sets.GetNames():
            value = wanted.get(name)
            if value is None:
                continue
            found.add(name)
            variant_set = sets.GetVariantSet(name)
            if value not in variant_set.GetVariantNames():
                lacking[(name, value)].append(str(prim.GetPath()))
            elif variant_set.GetVariantSelection() != value:
                variant_set.SetVariantSelection(value)
        pending.extend(reversed(prim.GetAllChildren()))
    for (name, value), paths in sorted(lacking.items()):
        shown = ", ".join(f"<{p}>" for p in paths[:5]) + (", …" if len(paths) > 5 else "")
        yield Notice(
            f"variant {name}={value}: not a variant of {len(paths)} prim(s) with that set "
            f"({shown}); their selection is kept",
            origin,
        )
    for name in sorted(set(wanted) - found):
        yield Notice(f"variant {name}={wanted[name]}: no prim has a variant set {name!r}", origin)


class _SceneWalk:
    """One stage's records, with the state its parts share (scene record, uids, root)."""

    def __init__(
        self, stage: Any, path: Path, options: UsdOptions, context: ImportContext, keys: BindingKeys
    ) -> None:
        from pxr import Usd, UsdGeom

        self.stage = stage
        self.file = path.resolve()
        self.root = (options.root or path.parent).resolve()
        self.options = options
        self.onto = context.onto
        self.keys = keys
        self.origin = Origin(context.display)
        self.scene_path = self.relative(str(self.file))
        prim = self.onto.node_class("Prim")  # uid prim:<scene path>:<prim path>, built once
        self.prim_uid = f"{prim.uid_prefix}:{self.scene_path}{prim.key_separator}"
        self.composition_messages: list[str] = []
        self.notices: list[Notice] = []
        self._model_api, self._imageable = Usd.ModelAPI, UsdGeom.Imageable

    def uid_of(self, prim_path: str) -> str:
        """`prim:<scene>:<prim path>`; for a path so deep that the uid would pass the uid
        limit, `prim:<scene>:~<digest of the path>` (the path stays in `prim_path`)."""
        uid = self.prim_uid + prim_path
        if text_too_long(uid, MAX_UID_BYTES) is None:
            return uid
        return self.prim_uid + "~" + hashlib.sha256(prim_path.encode()).hexdigest()[:32]

    def relative(self, real_path: str) -> str:
        """A layer's path relative to the import root, keeping a package's inner part
        (`kit.usdz[geo.usdc]`)."""
        base, bracket, inner = real_path.partition("[")
        relative = Path(os.path.relpath(base, self.root)).as_posix()
        return relative + bracket + inner

    # ------------------------------------------------------------------ scene

    def scene(self) -> NodeRecord:
        from pxr import UsdGeom

        layer = self.stage.GetRootLayer()
        props: dict[str, PropValue] = {
            "path": self.scene_path,
            "file": str(self.file),
            "name": self.file.name,
            "format": layer.GetFileFormat().formatId,
            "up_axis": str(UsdGeom.GetStageUpAxis(self.stage)),
            "meters_per_unit": UsdGeom.GetStageMetersPerUnit(self.stage),
            "time_codes_per_second": layer.timeCodesPerSecond,
            "payloads": self.options.payloads,
            "variant_options": [f"{k}={v}" for k, v in sorted(self.options.variants.items())],
        }
        if layer.defaultPrim:
            props["default_prim"] = layer.defaultPrim
        if layer.HasStartTimeCode():
            props["start_time_code"] = layer.startTimeCode
        if layer.HasEndTimeCode():
            props["end_time_code"] = layer.endTimeCode
        if layer.documentation:
            props["doc"] = layer.documentation
        flatten_value("customLayerData", dict(layer.customLayerData), props)
        self.notices.extend(_drop_unstorable(props, f"layer {self.scene_path}", self.origin))
        return node(self.onto, "Scene", props, self.origin)

    # ------------------------------------------------------------------ prims

    def prims(self, scene: NodeRecord) -> Iterator[Record]:
        """Every composed prim, its place in the hierarchy and its binding."""
        from pxr import Usd

        for prim in Usd.PrimRange(self.stage.GetPseudoRoot(), Usd.PrimAllPrimsPredicate):
            path = str(prim.GetPath())
            if path == "/":
                continue
            props = self._prim_props(prim, path)
            declared = None
            if prim.HasAuthoredAssetInfo() or prim.HasAuthoredCustomData():
                sources = [_authored(prim, "assetInfo"), _authored(prim, "customData")]
                for prefix, values in zip(("assetInfo", "customData"), sources, strict=True):
                    props.update((f"{prefix}.{k}", v) for k, v in values.items())
                yield from _drop_unstorable(props, f"prim <{path}>", self.origin)
                declared = declared_binding(sources, self.keys)
                if declared:
                    props.update(declared.props())
            record = NodeRecord("Prim", self.uid_of(path), props, self.origin)
            yield record
            parent = path.rsplit("/", 1)[0]  # traversed before its children
            if parent:
                parent_uid = self.uid_of(parent)
                yield rel("HAS_CHILD", ("Prim", parent_uid), record, origin=self.origin)
            else:
                yield rel("HAS_PRIM", scene, record, origin=self.origin)
            if declared:
                what = f"prim <{path}>"
                yield from binding_records(self.onto, record, declared, what, self.origin)
            relationships = prim.GetAuthoredRelationships()
            if relationships:
                yield from self._broken_targets(prim, relationships)

    def _prim_props(self, prim: Any, path: str) -> dict[str, PropValue]:
        """What the composed prim says about itself (not its metadata dictionaries)."""
        specifier = prim.GetSpecifier()
        props: dict[str, PropValue] = {
            "scene": self.scene_path,
            "prim_path": path,
            "name": prim.GetName(),
            "type_name": str(prim.GetTypeName()),
            "specifier": _SPECIFIERS.get(specifier.name) or str(specifier),
            "active": prim.IsActive(),
            "instanceable": prim.IsInstanceable(),
            "loaded": prim.IsLoaded(),
        }
        kind = self._model_api(prim).GetKind()
        if kind:
            props["kind"] = kind
        if prim.IsA(self._imageable):
            props["purpose"] = str(self._imageable(prim).ComputePurpose())
        sets = prim.GetVariantSets()
        for name in sets.GetNames():
            selection = sets.GetVariantSelection(name)
            if selection:
                props[f"variants.{name}"] = selection
        return props

    def _broken_targets(self, prim: Any, relationships: list[Any]) -> Iterator[Notice]:
        """Relationships (material bindings, skeletons, collections) whose target is not
        on the composed stage; targets inside unloaded payloads, inactive prims or
        instances are not composed on purpose and are not reported."""
        for relationship in relationships:
            for target in relationship.GetTargets():
                if not self._target_exists(target):
                    yield Notice(
                        f"prim <{prim.GetPath()}>: relationship {relationship.GetName()} "
                        f"targets <{target}>, which is not on the composed stage",
                        self.origin,
                    )

    def _target_exists(self, target: Any) -> bool:
        prim = self.stage.GetPrimAtPath(target.GetPrimPath())
        if prim:
            return not target.IsPropertyPath() or prim.HasProperty(target.name)
        ancestor = target.GetPrimPath().GetParentPath()
        while not self.stage.GetPrimAtPath(ancestor):
            ancestor = ancestor.GetParentPath()
        holder = self.stage.GetPrimAtPath(ancestor)
        return not (holder.IsActive() and holder.IsLoaded()) or holder.IsInstance()

    # ------------------------------------------------------------------ layers

    def layers(self, scene: NodeRecord) -> Iterator[Record]:
        """Layers the scene depends on, walked from the root layer through every arc."""
        from pxr import Sdf

        used = {layer.identifier for layer in self.stage.GetUsedLayers()}
        root = self.stage.GetRootLayer()
        walked = {root.identifier}
        pending: list[tuple[Any, NodeRecord]] = [(root, scene)]
        while pending:
            layer, owner = pending.pop()
            for arc, asset in _arcs(layer):
                record, opened = self._layer_node(layer, asset, used)
                yield record
                yield rel(
                    "DEPENDS_ON",
                    owner,
                    record,
                    {"arc": arc, "asset_path": asset},
                    key=arc,
                    origin=self.origin,
                )
                if not record.props["readable"]:
                    yield from self._unresolved_notice(layer, asset, record)
                if isinstance(opened, Sdf.Layer) and opened.identifier not in walked:
                    walked.add(opened.identifier)
                    pending.append((opened, record))

    def _layer_node(self, owner: Any, asset: str, used: set[str]) -> tuple[NodeRecord, Any]:
        from pxr import Ar, Sdf, Tf

        anchored = owner.ComputeAbsolutePath(asset)
        resolved = str(Ar.GetResolver().Resolve(anchored))
        opened, error = None, ""
        if resolved:
            try:
                opened = Sdf.Layer.FindOrOpen(anchored)
            except Tf.ErrorException as exc:
                error = _reasons(exc)
            if opened is None and not error:
                error = "usd-core cannot open it"
        else:
            error = "not found"
        if opened is not None:
            path = self.relative(opened.realPath or opened.identifier)
        elif os.path.isabs(anchored.partition("[")[0]):
            path = self.relative(anchored)
        else:
            path = asset
        props: dict[str, PropValue] = {
            "path": path,
            "resolved": bool(resolved),
            "readable": opened is not None,
            "used": opened is not None and opened.identifier in used,
            "error": error,
            "format": opened.GetFileFormat().formatId if opened is not None else "",
        }
        if resolved:
            props["file"] = resolved
        return node(self.onto, "Layer", props, self.origin), opened

    def _unresolved_notice(self, owner: Any, asset: str, record: NodeRecord) -> Iterator[Notice]:
        """Report a dependency that cannot be used, unless usd-core's own composition
        error already did (it names the prim that introduced it)."""
        anchored = owner.ComputeAbsolutePath(asset)
        if any(anchored in message for message in self.composition_messages):
            return
        yield Notice(
            f"layer {self.relative(owner.realPath) if owner.realPath else owner.identifier}: "
            f"dependency @{asset}@ cannot be used ({record.props['error']})",
            self.origin,
        )

    # ------------------------------------------------------------------ errors

    def composition_errors(self) -> Iterator[Notice]:
        for error in self.stage.GetCompositionErrors():
            message = _clean(str(error))
            self.composition_messages.append(message)
            yield Notice(f"composition: {message}", self.origin)


def _arcs(layer: Any) -> list[tuple[str, str]]:
    """(arc, asset path) of each external composition arc authored in `layer`, across all
    its variants: sublayers, references and payloads (not textures or other assets)."""
    from pxr import UsdUtils

    composition = set(layer.GetCompositionAssetDependencies()) - {""}
    if not composition:
        return []
    sublayers, references, payloads = UsdUtils.ExtractExternalReferences(layer.identifier)
    arcs = [("sublayer", a) for a in sublayers if a in composition]
    arcs += [("reference", a) for a in references if a in composition]
    arcs += [("payload", a) for a in payloads if a in composition]
    named = {a for _, a in arcs}
    arcs += [("reference", a) for a in sorted(composition - named)]
    return arcs


class UsdImporter(Importer):
    kind = "usd"
    description = (
        "OpenUSD stages (.usd, .usda, .usdc, .usdz): the scene, its composed prims, the "
        "layers it depends on, prims bound to units and parts."
    )
    extensions = (".usd", ".usda", ".usdc", ".usdz")

    def records(self, path: Path, context: ImportContext) -> Iterator[Record]:
        """Yield the scene's records; composition defects are warnings.

        Raises:
            SourceError: the file is not a USD layer usd-core can open, or the options or
                the mapping are invalid.
        """
        options = _parse_options(context.options, context.display)
        keys = parse_bindings(
            context.mapping, self.kind, DEFAULT_BINDINGS, context.mapping_path or "mapping"
        )
        keys = _key_paths(keys)
        from pxr import UsdUtils

        # usd-core's warnings become the import's warnings instead of stderr noise
        diagnostics = UsdUtils.CoalescingDiagnosticDelegate()
        stage = _open_stage(path, context.display, options)
        walk = _SceneWalk(stage, path, options, context, keys)
        yield from _apply_variants(stage, options.variants, walk.origin)
        scene = walk.scene()
        yield scene
        yield from walk.notices
        yield from walk.composition_errors()
        yield from walk.prims(scene)
        yield from walk.layers(scene)
        for item in diagnostics.TakeUncoalescedDiagnostics():
            if "_ReportErrors" not in item.sourceFunction:  # composition errors, above
                yield Notice(f"usd-core: {_clean(item.commentary)}", walk.origin)
