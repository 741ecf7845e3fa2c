"""IFC building models (IFC2X3, IFC4, IFC4X3) with ifcopenshell: the spatial tree, every
element with its type, property sets, quantities, ports, connections and systems.

What becomes of the file (every uid from the GlobalId, so re-exports keep identity):

- `IfcSite` -> `Site` (code = GlobalId); `IfcBuilding` (and IFC4X3 facilities) ->
  `Building`; `IfcBuildingStorey` (and facility parts) -> `Storey`; `IfcSpace` (and
  external spatial elements, spatial zones) -> `Space`; `AGGREGATES` between them as
  `IfcRelAggregates` says, where the ontology allows it.
- every `IfcElement` (walls, doors, pumps, openings, …) -> `BuildingElement` with
  `ifc_class`, `global_id`, name, description, `object_type`, `tag`, `predefined_type`,
  its ports (`ports`, `port_names`, `port_flow_directions`), the element it is part of
  (`part_of`), `CONTAINS_ELEMENT` from the spatial element that contains it, `HAS_TYPE`
  to its `ElementType` (every `IfcTypeObject`, with the type's property sets and ports),
  `CONNECTED_TO` for each `IfcRelConnectsPorts` (from the relating port's element to the
  related port's element; port names, flow directions and the realizing element on the
  relationship) and `MEMBER_OF` each `IfcSystem` (distribution systems, zones, …) that
  groups it.
- property sets and quantity sets flattened as `Pset_X.Prop` (bounded values as
  `.upper`/`.lower`/`.set_point`, tables as `.defining`/`.defined`, complex properties
  nested with dots), their names in `property_sets` / `quantity_sets`. Lengths, areas and
  volumes are converted to metres, square metres and cubic metres with the property's
  own unit or the project's (mm files are common); other measures are kept in the
  file's units.

Bindings (see `importers.binding`): `Pset_ManufacturerOccurrence.SerialNumber` names the
unit, `Pset_ManufacturerTypeInformation.ModelReference` (else `ArticleNumber`) the part,
looked up on the element, then on its type. A bound unit is `LOCATED_IN` the spatial
element containing the element, from the date of the file's header time stamp (so the
same file always says the same).

The ontology has no place yet for the property sets of ports and of the IfcProject (not
imported), for a space's type (its ElementType node has no HAS_TYPE from the space) or
for the spaces an IfcZone groups (reported, not linked).

Defects real files have (a duplicate or missing GlobalId, a dangling reference, a port
that belongs to no element, a relationship the ontology has no place for) are warnings
and the rest is imported; a file that is not IFC, is truncated or does not parse is a
SourceError and nothing is written.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, cast

from thread.errors import SourceError
from thread.importers.base import ImportContext, Importer
from thread.importers.binding import BindingKeys, binding_records, declared_binding, parse_bindings
from thread.records import NodeRecord, Notice, Origin, PropValue, Record, node, rel

__all__ = ["DEFAULT_BINDINGS", "IfcImporter"]

DEFAULT_BINDINGS = BindingKeys(
    serial=("Pset_ManufacturerOccurrence.SerialNumber",),
    part_number=(
        "Pset_ManufacturerTypeInformation.ModelReference",
        "Pset_ManufacturerTypeInformation.ArticleNumber",
    ),
)
"""The IFC standard's manufacturer property sets."""

# most specific first: an IFC4X3 IfcBuilding is also an IfcFacility
_SPATIAL_LABELS = (
    ("IfcSite", "Site"),
    ("IfcBuilding", "Building"),
    ("IfcFacility", "Building"),
    ("IfcBuildingStorey", "Storey"),
    ("IfcFacilityPart", "Storey"),
    ("IfcSpace", "Space"),
    ("IfcExternalSpatialElement", "Space"),
    ("IfcSpatialZone", "Space"),
)
_ATTRIBUTES = {
    "Name": "name",
    "LongName": "long_name",
    "Description": "description",
    "ObjectType": "object_type",
    "Tag": "tag",
    "PredefinedType": "predefined_type",
    "ElementType": "element_type",
}
_LENGTH_ATTRIBUTES = {
    "Elevation": "elevation",
    "RefElevation": "ref_elevation",
    "ElevationOfRefHeight": "elevation_of_ref_height",
    "ElevationOfTerrain": "elevation_of_terrain",
}
_CONVERTED_UNITS = ("LENGTHUNIT", "AREAUNIT", "VOLUMEUNIT")
_QUANTITY_UNITS = {
    "IfcQuantityLength": "LENGTHUNIT",
    "IfcQuantityArea": "AREAUNIT",
    "IfcQuantityVolume": "VOLUMEUNIT",
}
_DEFINITION_ATTRIBUTES = {"GlobalId", "OwnerHistory", "Name", "Description"}
# Positions of the attributes read for every property set, property and quantity, the
# same in IFC2X3, IFC4 and IFC4X3: IfcRelDefinesByProperties(GlobalId, OwnerHistory, Name,
# Description, RelatedObjects, RelatingPropertyDefinition), IfcPropertySet(…, Name,
# Description, HasProperties), IfcElementQuantity(…, Name, Description,
# MethodOfMeasurement, Quantities), IfcPropertySingleValue(Name, Description,
# NominalValue, Unit) and IfcPhysicalSimpleQuantity(Name, Description, Unit, <the value>).
# Reading by position skips ifcopenshell's attribute lookup by name, a third of an
# import's time.
_ROOT_NAME, _DEFINITION, _PROPERTIES, _QUANTITIES = 2, 5, 4, 5
_NAME, _NOMINAL_VALUE, _QUANTITY_UNIT, _QUANTITY_VALUE = 0, 2, 2, 3
_LOGGED_NOTICES = 20
_LOG_PREFIX = re.compile(r"^(\[[^\]]*\] )+")
_LOG_OFFSET = re.compile(r"at offset (\d+)")


def _log_lines(path: Path, log: str) -> list[str]:
    """ifcopenshell's log without its level and clock, byte offsets given as lines (in one
    pass over the file: a bad export can log thousands of them)."""
    lines = [
        line for line in (_LOG_PREFIX.sub("", raw).strip() for raw in log.splitlines()) if line
    ]
    offsets = sorted({int(m.group(1)) for line in lines if (m := _LOG_OFFSET.search(line))})
    if not offsets:
        return lines
    data = path.read_bytes()
    numbers, line_number, previous = {}, 1, 0
    for offset in offsets:
        line_number += data.count(b"\n", previous, offset)
        numbers[offset], previous = line_number, offset
    located = []
    for line in lines:
        found = _LOG_OFFSET.search(line)
        located.append(f"line {numbers[int(found.group(1))]}: {line}" if found else line)
    return located


def _open_model(path: Path, display: str) -> tuple[Any, list[str]]:
    """The parsed file and the parser's complaints, or SourceError saying why not."""
    import ifcopenshell

    if not path.is_file():
        raise SourceError(f"{display}: not a file")
    with open(path, "rb") as handle:
        head = handle.read(256)
        handle.seek(max(0, path.stat().st_size - 4096))
        tail = handle.read()
    if not head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"ISO-10303-21"):
        raise SourceError(
            f"{display}: not an IFC file (an IFC STEP file starts with 'ISO-10303-21;')"
        )
    if b"END-ISO-10303-21" not in tail:
        raise SourceError(f"{display}: truncated IFC file (no 'END-ISO-10303-21;' at its end)")
    _take_log()  # forget what an earlier parse logged
    try:
        model = ifcopenshell.open(str(path))
    except (ifcopenshell.Error, OSError, RuntimeError) as exc:
        logged = _log_lines(path, _take_log())
        reason = str(exc).replace(", check logs", "")
        detail = f": {logged[0]}" if logged else ""
        raise SourceError(f"{display}: not a readable IFC file: {reason}{detail}") from None
    return model, _log_lines(path, _take_log())


def _take_log() -> str:
    """What ifcopenshell has logged since it was last asked (asking empties the log)."""
    import ifcopenshell

    return str(ifcopenshell.get_log())  # type: ignore[no-untyped-call]  # unannotated in its stub


def _by_type(model: Any, ifc_class: str) -> list[Any]:
    """Instances of `ifc_class` and its subclasses; none when the schema lacks it."""
    try:
        return list(model.by_type(ifc_class))
    except RuntimeError:
        return []


def _header_date(model: Any) -> str | None:
    """The date of the header's FILE_NAME time stamp ('YYYY-MM-DD'), if it has one."""
    try:
        stamp = str(model.header.file_name.time_stamp or "")
        return date.fromisoformat(stamp[:10]).isoformat()
    except (ValueError, AttributeError, RuntimeError):
        return None


@cache
def _attribute_names(qualified_class: str) -> frozenset[str]:
    """The attributes and inverse attributes of an IFC class ('IFC4.IfcPump')."""
    import ifcopenshell.ifcopenshell_wrapper as wrapper

    schema, _, ifc_class = qualified_class.partition(".")
    declaration = wrapper.schema_by_name(schema).declaration_by_name(ifc_class).as_entity()
    if declaration is None:  # a type declaration, not an entity: it has no attributes
        return frozenset()
    names = {a.name() for a in declaration.all_attributes()}
    inverse = declaration.all_inverse_attributes()  # their name() is unannotated in the stub
    return frozenset(names | {i.name() for i in inverse})  # type: ignore[no-untyped-call]


def _get(entity: Any, name: str) -> Any:
    """`entity.<name>`, None when its class has no such attribute (asking ifcopenshell for
    an attribute a class lacks costs ten times a lookup, and IFC2X3 and IFC4 differ)."""
    return getattr(entity, name) if name in _attribute_names(entity.is_a(True)) else None


def _flat(value: Any) -> PropValue:
    """An attribute or property value as a flat graph value (None when it has none)."""
    if value is None or type(value) in (str, int, bool):
        return cast(PropValue, value)  # the common case first: most values are plain
    if hasattr(value, "wrappedValue"):
        return _flat(value.wrappedValue)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        items = [v for v in (_flat(item) for item in value) if v is not None]
        kinds = {type(item) for item in items}
        if list in kinds or (len(kinds) > 1 and not kinds <= {int, float}):
            return [str(item) for item in items]
        return items
    if hasattr(value, "is_a"):  # a reference to another entity: its name, or its class
        name = _get(value, "Name")
        return str(name) if name else value.is_a()
    return str(value)


class _Units:
    """Scale factors to SI for lengths, areas and volumes (the rest stays as written)."""

    def __init__(self, model: Any) -> None:
        import ifcopenshell.util.unit as units

        self._units = units
        self.project: dict[str, float] = {}
        self.warnings: list[str] = []
        for kind in _CONVERTED_UNITS:
            try:
                self.project[kind] = float(units.calculate_unit_scale(model, kind))
            except (AttributeError, TypeError, ValueError) as exc:  # a damaged IfcUnitAssignment
                self.project[kind] = 1.0
                self.warnings.append(
                    f"the project's {kind} cannot be read ({exc}); values kept as written"
                )
        self._unit_types: dict[str, str] = {}

    def scale(self, unit_type: str | None, unit: Any = None) -> float:
        if unit_type not in _CONVERTED_UNITS:
            return 1.0
        if unit is not None and _get(unit, "UnitType") == unit_type:
            try:
                return float(self._units.get_unit_scale(unit))
            except (AttributeError, TypeError, ValueError):
                pass  # an odd explicit unit: the project's is the best guess
        return self.project[unit_type]

    def unit_type(self, measure_class: str) -> str:
        """The IfcUnitEnum of a measure class (IfcPositiveLengthMeasure -> LENGTHUNIT)."""
        unit_type = self._unit_types.get(measure_class)
        if unit_type is None:
            # typed as taking five measure classes; it reads any (IfcPositiveLengthMeasure …)
            unit_type = self._units.get_measure_unit_type(measure_class)  # type: ignore[arg-type]
            self._unit_types[measure_class] = unit_type
        return unit_type

    def measure(self, value: Any, holder: Any = None) -> PropValue:
        """A property's value (a wrapped measure such as IfcLengthMeasure(3140.)) as a
        flat value, in SI when it is a length, area or volume; `holder` is the property,
        whose own Unit, when it has one, overrides the project's."""
        if value is None:
            return None
        if not hasattr(value, "is_a") or value.id():  # not a measure: a plain value or entity
            return _flat(value)
        flat = _flat(value[0])  # the wrapped value (value.wrappedValue, read faster)
        if isinstance(flat, int | float) and not isinstance(flat, bool):
            unit_type = self.unit_type(value.is_a())
            if unit_type in _CONVERTED_UNITS:
                unit = holder.Unit if holder is not None else None
                return flat * self.scale(unit_type, unit)
        return flat


class _BuildingWalk:
    """One model's records, with what its parts share: which entities became which
    nodes, the property sets by object, the units and the binding keys."""

    def __init__(self, model: Any, context: ImportContext, keys: BindingKeys) -> None:
        import ifcopenshell.ifcopenshell_wrapper as wrapper

        self.model = model
        self.schema = wrapper.schema_by_name(model.schema_identifier)
        self.onto = context.onto
        self.keys = keys
        self.origin = Origin(context.display)
        self.units = _Units(model)
        self.valid_from = _header_date(model)
        self.nodes: dict[int, NodeRecord] = {}  # entity id -> the node it became
        self.global_ids: dict[str, int] = {}
        self.type_of: dict[int, Any] = {}
        for relation in _by_type(model, "IfcRelDefinesByType"):
            for related in relation.RelatedObjects or ():
                self.type_of.setdefault(related.id(), relation.RelatingType)
        self.containers: dict[int, Any] = {}
        for relation in _by_type(model, "IfcRelContainedInSpatialStructure"):
            for element in relation.RelatedElements or ():
                self.containers.setdefault(element.id(), relation.RelatingStructure)
        self.parent_of: dict[int, Any] = {}  # what an object is part of (IfcRelAggregates)
        for relation in _by_type(model, "IfcRelAggregates"):
            for part in relation.RelatedObjects or ():
                self.parent_of.setdefault(part.id(), relation.RelatingObject)
        self.ports_of: dict[int, list[Any]] = defaultdict(list)
        self.port_owner: dict[int, Any] = {}
        for relation in _by_type(model, "IfcRelNests"):  # IFC4: ports nested in their owner
            for port in relation.RelatedObjects or ():
                if port.is_a("IfcPort"):
                    self._own(relation.RelatingObject, port)
        for relation in _by_type(model, "IfcRelConnectsPortToElement"):  # IFC2X3
            self._own(relation.RelatedElement, relation.RelatingPort)
        self._flattened: dict[int, dict[str, PropValue]] = {}
        self.notices = [Notice(warning, self.origin) for warning in self.units.warnings]
        self._attribute_types: dict[str, list[tuple[str, str | None]]] = {}

    def _own(self, owner: Any, port: Any) -> None:
        if owner is None or port is None:  # a dangling reference (ifcopenshell logged it)
            return
        self.ports_of[owner.id()].append(port)
        self.port_owner.setdefault(port.id(), owner)

    def _node_of(self, entity: Any) -> NodeRecord | None:
        """The node `entity` became; None for an entity left out, or for a relationship's
        end that is missing from the file (`$`, or a dangling reference)."""
        return self.nodes.get(entity.id()) if entity is not None else None

    # ------------------------------------------------------------------ nodes

    def _add(self, entity: Any, label: str, props: dict[str, PropValue]) -> NodeRecord | Notice:
        """The node of `entity`, or a warning when its GlobalId is missing or taken."""
        global_id = entity.GlobalId
        what = f"#{entity.id()} {entity.is_a()}"
        if not global_id:
            return Notice(f"{what} has no GlobalId; left out", self.origin)
        first = self.global_ids.setdefault(global_id, entity.id())
        if first != entity.id():
            return Notice(
                f"{what} repeats GlobalId {global_id} of #{first}; only #{first} is imported",
                self.origin,
            )
        if label == "Site":
            props = {"code": global_id, **props}
        record = node(self.onto, label, props, self.origin)
        self.nodes[entity.id()] = record
        return record

    def _common(self, entity: Any) -> dict[str, PropValue]:
        """The entity's own attributes Thread keeps, under snake_case names."""
        props: dict[str, PropValue] = {"global_id": entity.GlobalId, "ifc_class": entity.is_a()}
        present = _attribute_names(entity.is_a(True))
        for attribute, name in _ATTRIBUTES.items():
            if attribute in present:
                value = _flat(getattr(entity, attribute))
                if value is not None:
                    props[name] = value
        for attribute, name in _LENGTH_ATTRIBUTES.items():
            value = getattr(entity, attribute) if attribute in present else None
            if isinstance(value, int | float):
                props[name] = value * self.units.scale("LENGTHUNIT")
        for attribute, name in (("RefLatitude", "latitude"), ("RefLongitude", "longitude")):
            angle = getattr(entity, attribute) if attribute in present else None
            if angle:
                props[name] = _degrees(angle)
        return props

    def _with_definitions(self, entity: Any, props: dict[str, PropValue]) -> dict[str, PropValue]:
        """`props` plus the entity's property and quantity sets, flattened."""
        definitions = [d for d in _get(entity, "HasPropertySets") or () if d is not None]
        for relation in _get(entity, "IsDefinedBy") or ():
            if relation.is_a("IfcRelDefinesByProperties"):  # IFC2X3 types are here too
                defined = relation[_DEFINITION]  # IFC4: may be a set of them
                definitions += [d for d in _many(defined) if d is not None]
        psets: set[str] = set()
        qsets: set[str] = set()
        for definition in definitions:
            ifc_class = definition.is_a()
            name = definition[_ROOT_NAME] or ifc_class
            (qsets if ifc_class == "IfcElementQuantity" else psets).add(name)
            props.update(self._flatten(definition, ifc_class, name))
        if psets:
            props["property_sets"] = sorted(psets)
        if qsets:
            props["quantity_sets"] = sorted(qsets)
        return props

    def _ports(self, entity: Any, props: dict[str, PropValue]) -> dict[str, PropValue]:
        ports = self.ports_of.get(entity.id())
        if ports:
            props["ports"] = [p.GlobalId or f"#{p.id()}" for p in ports]
            props["port_names"] = [p.Name or "" for p in ports]
            props["port_flow_directions"] = [_get(p, "FlowDirection") or "" for p in ports]
        return props

    # ------------------------------------------------------------------ property sets

    def _flatten(self, definition: Any, ifc_class: str, name: str) -> dict[str, PropValue]:
        """A property set, quantity set or predefined set as `<name>.Prop` properties
        (cached: exporters share one set among many objects)."""
        cached = self._flattened.get(definition.id())
        if cached is not None:
            return cached
        out: dict[str, PropValue] = {}
        if ifc_class == "IfcPropertySet":
            for prop in definition[_PROPERTIES] or ():
                self._property(name, prop, out)
        elif ifc_class == "IfcElementQuantity":
            for quantity in definition[_QUANTITIES] or ():
                self._quantity(name, quantity, out)
        else:  # IfcDoorLiningProperties and the other predefined sets: their attributes
            for attribute, measure in self._attributes(ifc_class):
                value = _get(definition, attribute)
                if isinstance(value, int | float) and not isinstance(value, bool) and measure:
                    value = value * self.units.scale(self.units.unit_type(measure))
                flat = _flat(value)
                if flat is not None:
                    out[f"{name}.{attribute}"] = flat
        for key in [k for k in out if "`" in k]:
            del out[key]
            self.notices.append(
                Notice(f"{key!r} cannot be a property name (backtick); left out", self.origin)
            )
        self._flattened[definition.id()] = out
        return out

    def _attributes(self, ifc_class: str) -> list[tuple[str, str | None]]:
        """A predefined property set's own attributes and their measure types."""
        known = self._attribute_types.get(ifc_class)
        if known is None:
            known = []
            declaration = self.schema.declaration_by_name(ifc_class).as_entity()
            for attribute in declaration.all_attributes() if declaration else ():
                if attribute.name() in _DEFINITION_ATTRIBUTES:
                    continue
                kind = attribute.type_of_attribute()
                declared = kind.declared_type() if hasattr(kind, "declared_type") else None
                known.append((attribute.name(), declared.name() if declared else None))
            self._attribute_types[ifc_class] = known
        return known

    def _property(self, prefix: str, prop: Any, out: dict[str, PropValue]) -> None:
        name = f"{prefix}.{prop[_NAME] or '#' + str(prop.id())}"
        values: list[tuple[str, PropValue]]
        if prop.is_a("IfcPropertySingleValue"):  # most of them: the short way
            value = self.units.measure(prop[_NOMINAL_VALUE], prop)
            if value is not None:
                out[name] = value
            return
        if prop.is_a("IfcPropertyEnumeratedValue"):  # a list; none chosen is no value
            chosen = [self.units.measure(v) for v in prop.EnumerationValues or ()]
            values = [(name, _flat(chosen) if chosen else None)]
        elif prop.is_a("IfcPropertyListValue"):
            listed = [self.units.measure(v, prop) for v in prop.ListValues or ()]
            values = [(name, _flat(listed))]
        elif prop.is_a("IfcPropertyBoundedValue"):
            values = [
                (f"{name}.{suffix}", self.units.measure(_get(prop, attribute), prop))
                for attribute, suffix in (
                    ("UpperBoundValue", "upper"),
                    ("LowerBoundValue", "lower"),
                    ("SetPointValue", "set_point"),
                )
            ]
        elif prop.is_a("IfcPropertyTableValue"):
            values = [
                (f"{name}.defining", _flat(prop.DefiningValues)),
                (f"{name}.defined", _flat(prop.DefinedValues)),
            ]
        elif prop.is_a("IfcPropertyReferenceValue"):
            values = [(name, _flat(prop.PropertyReference))]
        elif prop.is_a("IfcComplexProperty"):
            for part in prop.HasProperties or ():
                self._property(name, part, out)
            return
        else:
            values = []
        out.update((k, v) for k, v in values if v is not None)

    def _quantity(self, prefix: str, quantity: Any, out: dict[str, PropValue]) -> None:
        name = f"{prefix}.{quantity[_NAME] or '#' + str(quantity.id())}"
        if quantity.is_a("IfcPhysicalComplexQuantity"):
            for part in quantity.HasQuantities or ():
                self._quantity(name, part, out)
            return
        value = _flat(quantity[_QUANTITY_VALUE]) if len(quantity) > _QUANTITY_VALUE else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            unit_type = _QUANTITY_UNITS.get(quantity.is_a())
            value = value * self.units.scale(unit_type, quantity[_QUANTITY_UNIT])
        if value is not None:
            out[name] = value

    # ------------------------------------------------------------------ walk

    def spatial(self) -> Iterator[Record]:
        seen: set[int] = set()
        for entity in _by_type(self.model, "IfcSpatialStructureElement") + _by_type(
            self.model, "IfcSpatialElement"
        ):
            if entity.id() in seen:
                continue
            seen.add(entity.id())
            label = next((lb for cls, lb in _SPATIAL_LABELS if entity.is_a(cls)), None)
            if label is None:
                yield Notice(
                    f"#{entity.id()} {entity.is_a()}: a spatial element Thread has no label "
                    "for; left out",
                    self.origin,
                )
                continue
            props = self._with_definitions(entity, self._common(entity))
            project = self.parent_of.get(entity.id())
            if project is not None and project.is_a("IfcProject") and project.Name:
                props["project"] = project.Name
            yield self._add(entity, label, props)

    def aggregates(self) -> Iterator[Record]:
        for relation in _by_type(self.model, "IfcRelAggregates"):
            parent = self._node_of(relation.RelatingObject)
            if parent is None or parent.label not in ("Site", "Building", "Storey", "Space"):
                continue
            for child_entity in relation.RelatedObjects or ():
                child = self.nodes.get(child_entity.id())
                if child is None:
                    continue
                if (parent.label, "AGGREGATES", child.label) in self.onto.allowed:
                    yield rel("AGGREGATES", parent, child, origin=self.origin)
                else:
                    yield Notice(
                        f"{parent.label} {parent.uid} aggregates {child.label} {child.uid}: "
                        "the ontology has no such AGGREGATES; not linked",
                        self.origin,
                    )

    def types(self) -> Iterator[Record]:
        for entity in _by_type(self.model, "IfcTypeObject"):
            props = self._ports(entity, self._with_definitions(entity, self._common(entity)))
            yield self._add(entity, "ElementType", props)

    def elements(self) -> Iterator[Record]:
        for entity in _by_type(self.model, "IfcElement"):
            props = self._ports(entity, self._with_definitions(entity, self._common(entity)))
            parent = self.parent_of.get(entity.id())
            if parent is not None and parent.is_a("IfcElement") and parent.GlobalId:
                props["part_of"] = parent.GlobalId
            type_node = self._node_of(self.type_of.get(entity.id()))
            sources = [props, type_node.props if type_node is not None else {}]
            declared = declared_binding(sources, self.keys)
            if declared:
                props.update(declared.props())
            record = self._add(entity, "BuildingElement", props)
            yield record
            if isinstance(record, Notice):
                continue
            if type_node is not None:
                yield rel("HAS_TYPE", record, type_node, origin=self.origin)
            container_node = self._node_of(self.containers.get(entity.id()))
            if container_node is not None:
                yield rel("CONTAINS_ELEMENT", container_node, record, origin=self.origin)
            if declared:
                what = f"{entity.is_a()} {entity.GlobalId}"
                yield from binding_records(self.onto, record, declared, what, self.origin)
                yield from self._locate(entity, declared.unit(self.onto))

    def _locate(self, entity: Any, unit: str | None) -> Iterator[Record]:
        """The bound unit is where its element is: the spatial element containing it (or
        containing the assembly it is part of)."""
        if unit is None:
            return
        holder, container = entity, None
        while holder is not None and container is None:
            container = self.containers.get(holder.id())
            holder = self.parent_of.get(holder.id())
        place = self._node_of(container)
        if place is None:
            return
        if self.valid_from is None:
            yield Notice(
                f"{unit} is not located in {place.uid}: the file's header has no time stamp "
                "to date it from",
                self.origin,
            )
            return
        yield rel(
            "LOCATED_IN",
            ("Unit", unit),
            place,
            {"valid_from": self.valid_from, "element": entity.GlobalId},
            key=self.valid_from,
            origin=self.origin,
            optional=True,
        )

    def connections(self) -> Iterator[Record]:
        for relation in _by_type(self.model, "IfcRelConnectsPorts"):
            ports = (relation.RelatingPort, relation.RelatedPort)
            owners = [
                self.port_owner.get(port.id()) if port is not None else None for port in ports
            ]
            source, target = (self._node_of(owner) for owner in owners)
            if source is None or target is None:
                yield Notice(
                    f"IfcRelConnectsPorts {relation.GlobalId}: a port belongs to no imported "
                    "element; not linked",
                    self.origin,
                )
                continue
            if source.label != "BuildingElement" or target.label != "BuildingElement":
                yield Notice(
                    f"IfcRelConnectsPorts {relation.GlobalId}: connects a port of a type, not "
                    "of an element; not linked",
                    self.origin,
                )
                continue
            props: dict[str, PropValue] = {"global_id": relation.GlobalId or ""}
            for port, prefix in zip(ports, ("port", "other_port"), strict=True):
                props[prefix] = port.Name or ""
                props[f"{prefix}_global_id"] = port.GlobalId or ""
                props[f"{prefix}_flow_direction"] = _get(port, "FlowDirection") or ""
            realizing = _get(relation, "RealizingElement")
            if realizing is not None and realizing.GlobalId:
                props["realizing_element"] = realizing.GlobalId
            key = relation.GlobalId or f"{props['port_global_id']}/{props['other_port_global_id']}"
            yield rel("CONNECTED_TO", source, target, props, key=key, origin=self.origin)

    def systems(self) -> Iterator[Record]:
        for entity in _by_type(self.model, "IfcSystem"):
            system = self._add(
                entity, "System", self._with_definitions(entity, self._common(entity))
            )
            yield system
            if isinstance(system, Notice):
                continue
            others: dict[str, int] = defaultdict(int)
            for relation in _get(entity, "IsGroupedBy") or ():
                for member in relation.RelatedObjects or ():
                    record = self.nodes.get(member.id())
                    if record is not None and record.label == "BuildingElement":
                        yield rel("MEMBER_OF", record, system, origin=self.origin)
                    else:
                        others[member.is_a()] += 1
            if others:
                listed = ", ".join(f"{count} {cls}" for cls, count in sorted(others.items()))
                yield Notice(
                    f"{entity.is_a()} {entity.GlobalId} groups {listed}: MEMBER_OF links "
                    "building elements only; not linked",
                    self.origin,
                )


def _degrees(angle: Any) -> float:
    """An IfcCompoundPlaneAngleMeasure (degrees, minutes, seconds, millionths) in
    decimal degrees; every part carries the sign."""
    parts = [*list(angle), 0, 0, 0][:4]
    return float(parts[0] + parts[1] / 60 + parts[2] / 3600 + parts[3] / 3.6e9)


def _many(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


class IfcImporter(Importer):
    kind = "ifc"
    description = (
        "IFC building models (IFC2X3, IFC4, IFC4X3): spatial tree, elements with types, "
        "property sets, quantities, port connections and systems, bound to units and parts."
    )
    extensions = (".ifc",)

    def records(self, path: Path, context: ImportContext) -> Iterator[Record]:
        """Yield the model's records; defects in it are warnings.

        Raises:
            SourceError: the file is not IFC, is truncated or does not parse, or the
                mapping is invalid.
        """
        keys = parse_bindings(
            context.mapping, self.kind, DEFAULT_BINDINGS, context.mapping_path or "mapping"
        )
        model, logged = _open_model(path, context.display)
        walk = _BuildingWalk(model, context, keys)
        for line in logged[:_LOGGED_NOTICES]:
            yield Notice(f"ifcopenshell: {line}", walk.origin)
        if len(logged) > _LOGGED_NOTICES:
            yield Notice(
                f"ifcopenshell: {len(logged) - _LOGGED_NOTICES} more messages", walk.origin
            )
        yield from walk.spatial()
        yield from walk.aggregates()
        yield from walk.types()
        yield from walk.elements()
        yield from walk.connections()
        yield from walk.systems()
        yield from walk.notices
