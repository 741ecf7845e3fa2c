"""OpenUSD and IFC imports through Thread against a raw walk plus a raw write, side by side.

In one run, each path in a fresh process and a fresh embedded FalkorDB store of its own
(so no path profits from another's caches or pays for another's data, and each one's
peak memory is its own):

- USD: a generated stage of 100,000 prims (lines, cells, pumps bound to units through
  `customData`, and their parts), imported the way `thread import usd` does
  (`thread.pipeline.imports.import_file`), against a raw `Usd.PrimRange` walk reading the same
  attributes plus a raw `UNWIND … MERGE` of the same nodes and relationships;
- IFC: a generated IFC4 file of about 20,000 elements in storeys and spaces, with types,
  property sets, quantities in millimetres and pumps bound to units, imported the way
  `thread import ifc` does, against a raw `ifcopenshell.open` and walk collecting the
  same data plus the raw write.

The units the scene and the building bind to are in every graph before the clock starts.
The raw write is measured twice: bare (the target's baseline) and with the provenance
Thread writes on every node and relationship, to show what that costs.
The paths run in turn, three times each by default, and the best time of each counts:
the ratio should not depend on what else the machine was doing.
Targets (issue 4): Thread takes at most 1.5 x (raw walk + raw write); each import's peak
memory stays under 2 GB.

    python bench/usd_ifc_bench.py [--prims 100000] [--elements 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import multiprocessing
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BATCH = 5000
TARGET_RATIO = 1.5
TARGET_MB = 2048
STAMP = {"_run": "run:20250106T080000Z-bench0", "_updated": "2025-01-06T08:00:00Z", "_src": "bench"}
PARTS_PER_PUMP = 8
ELEMENT_CLASSES = ("IfcWall", "IfcDoor", "IfcWindow", "IfcSlab", "IfcPump", "IfcPipeSegment")
# IFC4 attributes after Tag (elements) and after ElementType (types), per class
ELEMENT_TAIL = {
    "IfcDoor": "$,$,.NOTDEFINED.,.NOTDEFINED.,$",
    "IfcWindow": "$,$,.NOTDEFINED.,.NOTDEFINED.,$",
}
TYPE_TAIL = {
    "IfcDoor": ".NOTDEFINED.,.NOTDEFINED.,$,$",
    "IfcWindow": ".NOTDEFINED.,.NOTDEFINED.,$,$",
}

# ---------------------------------------------------------------- generated sources


def write_stage(path: Path, prims: int) -> int:
    """A usdc stage of `prims` prims: /World, lines of ten cells of ten pumps (bound to
    units by customData, with assetInfo and a kind), each pump with its parts. Returns
    the number of pumps."""
    from pxr import Sdf

    layer = Sdf.Layer.CreateNew(str(path))
    specs = _stage_specs(prims)
    with Sdf.ChangeBlock():
        world = Sdf.CreatePrimInLayer(layer, "/World")
        world.specifier, world.typeName = Sdf.SpecifierDef, "Xform"
        layer.defaultPrim = "World"
        made = {"/World": world}
        pumps = 0
        for parent, name, type_name in specs:
            spec = Sdf.PrimSpec(made[parent], name, Sdf.SpecifierDef, type_name)
            made[f"{parent}/{name}"] = spec
            if name.startswith("Pump_"):
                spec.kind = "component"
                spec.customData = {"thread": {"serial": f"SN-{pumps:07d}", "partNumber": "P-100"}}
                spec.assetInfo = {"name": "pump", "version": "2.1"}
                pumps += 1
    layer.Save()
    return pumps


def _stage_specs(prims: int) -> Iterator[tuple[str, str, str]]:
    """(parent path, name, type) of the stage's prims below /World, `prims - 1` of them."""

    def every() -> Iterator[tuple[str, str, str]]:
        for line in itertools.count():
            line_path = f"/World/Line_{line:04d}"
            yield "/World", f"Line_{line:04d}", "Xform"
            for cell in range(10):
                cell_path = f"{line_path}/Cell_{cell:02d}"
                yield line_path, f"Cell_{cell:02d}", "Xform"
                for pump in range(10):
                    yield cell_path, f"Pump_{pump:02d}", "Xform"
                    for k in range(PARTS_PER_PUMP):
                        part_type = ("Cube", "Cylinder")[k % 2]
                        yield f"{cell_path}/Pump_{pump:02d}", f"Part_{k}", part_type

    return itertools.islice(every(), prims - 1)


def write_building(path: Path, elements: int) -> int:
    """An IFC4 file (millimetres) of `elements` elements in 10 storeys of 10 spaces, with
    a type each, two property sets and a quantity set each; pumps carry a serial number
    and their type the model reference P-100. Returns the pump count."""
    import ifcopenshell.guid

    rng = random.Random(4)

    def guid() -> str:
        return str(ifcopenshell.guid.compress(uuid.UUID(int=rng.getrandbits(128)).hex))

    lines: list[str] = []
    ids = iter(range(1, 10**9))

    def add(text: str) -> int:
        number = next(ids)
        lines.append(f"#{number}={text};")
        return number

    mm = add("IFCSIUNIT(*,.LENGTHUNIT.,.MILLI.,.METRE.)")
    m2 = add("IFCSIUNIT(*,.AREAUNIT.,$,.SQUARE_METRE.)")
    units = add(f"IFCUNITASSIGNMENT((#{mm},#{m2}))")
    project = add(f"IFCPROJECT('{guid()}',$,'Bench',$,$,$,$,$,#{units})")
    site = add(f"IFCSITE('{guid()}',$,'Site',$,$,$,$,$,.ELEMENT.,$,$,$,$,$)")
    building = add(f"IFCBUILDING('{guid()}',$,'Plant',$,$,$,$,$,.ELEMENT.,$,$,$)")
    add(f"IFCRELAGGREGATES('{guid()}',$,$,$,#{project},(#{site}))")
    add(f"IFCRELAGGREGATES('{guid()}',$,$,$,#{site},(#{building}))")
    storeys, spaces = [], []
    for s in range(10):
        storey = add(f"IFCBUILDINGSTOREY('{guid()}',$,'Level {s}',$,$,$,$,$,.ELEMENT.,{s * 3500}.)")
        storeys.append(storey)
        rooms = [
            add(
                f"IFCSPACE('{guid()}',$,'{s}{r:02d}',$,$,$,$,'Room {s}{r:02d}',.ELEMENT.,.SPACE.,$)"
            )
            for r in range(10)
        ]
        spaces += rooms
        add(f"IFCRELAGGREGATES('{guid()}',$,$,$,#{storey},({','.join(f'#{x}' for x in rooms)}))")
    add(f"IFCRELAGGREGATES('{guid()}',$,$,$,#{building},({','.join(f'#{x}' for x in storeys)}))")
    types = {}
    for ifc_class in ELEMENT_CLASSES:
        props = [add("IFCPROPERTYSINGLEVALUE('Manufacturer',$,IFCLABEL('Acme'),$)")]
        if ifc_class == "IfcPump":
            props.append(add("IFCPROPERTYSINGLEVALUE('ModelReference',$,IFCLABEL('P-100'),$)"))
        pset = add(
            f"IFCPROPERTYSET('{guid()}',$,'Pset_ManufacturerTypeInformation',$,"
            f"({','.join(f'#{p}' for p in props)}))"
        )
        types[ifc_class] = add(
            f"{ifc_class.upper()}TYPE('{guid()}',$,'{ifc_class} type',$,$,(#{pset}),$,$,$,"
            f"{TYPE_TAIL.get(ifc_class, '.NOTDEFINED.')})"
        )
    members: dict[str, list[int]] = {c: [] for c in ELEMENT_CLASSES}
    contained: dict[int, list[int]] = {}
    pumps = 0
    for i in range(elements):
        ifc_class = ELEMENT_CLASSES[i % len(ELEMENT_CLASSES)]
        element = add(
            f"{ifc_class.upper()}('{guid()}',$,'{ifc_class[3:]} {i}',$,'{ifc_class[3:]}',$,$,'T{i}',"
            f"{ELEMENT_TAIL.get(ifc_class, '.NOTDEFINED.')})"
        )
        members[ifc_class].append(element)
        contained.setdefault(spaces[i % len(spaces)], []).append(element)
        common = [
            add(f"IFCPROPERTYSINGLEVALUE('Reference',$,IFCIDENTIFIER('R-{i}'),$)"),
            add(f"IFCPROPERTYSINGLEVALUE('IsExternal',$,IFCBOOLEAN(.{'TF'[i % 2]}.),$)"),
            add(f"IFCPROPERTYSINGLEVALUE('Width',$,IFCPOSITIVELENGTHMEASURE({100 + i % 400}.),$)"),
            add("IFCPROPERTYSINGLEVALUE('Status',$,IFCLABEL('NEW'),$)"),
        ]
        psets = [
            add(
                f"IFCPROPERTYSET('{guid()}',$,'Pset_{ifc_class[3:]}Common',$,"
                f"({','.join(f'#{p}' for p in common)}))"
            )
        ]
        if ifc_class == "IfcPump":
            serial = add(f"IFCPROPERTYSINGLEVALUE('SerialNumber',$,IFCLABEL('SN-{pumps:07d}'),$)")
            psets.append(
                add(f"IFCPROPERTYSET('{guid()}',$,'Pset_ManufacturerOccurrence',$,(#{serial}))")
            )
            pumps += 1
        length = add(f"IFCQUANTITYLENGTH('Length',$,$,{1000 + i % 5000}.,$)")
        area = add(f"IFCQUANTITYAREA('Area',$,$,{1 + i % 30}.5,$)")
        psets.append(
            add(f"IFCELEMENTQUANTITY('{guid()}',$,'BaseQuantities',$,$,(#{length},#{area}))")
        )
        for pset in psets:
            add(f"IFCRELDEFINESBYPROPERTIES('{guid()}',$,$,$,(#{element}),#{pset})")
    for ifc_class, elements_of in members.items():
        add(
            f"IFCRELDEFINESBYTYPE('{guid()}',$,$,$,({','.join(f'#{e}' for e in elements_of)}),"
            f"#{types[ifc_class]})"
        )
    for space, elements_in in contained.items():
        add(
            f"IFCRELCONTAINEDINSPATIALSTRUCTURE('{guid()}',$,$,$,"
            f"({','.join(f'#{e}' for e in elements_in)}),#{space})"
        )
    header = (
        "ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('ViewDefinition [bench]'),'2;1');\n"
        f"FILE_NAME('{path.name}','2025-01-06T08:00:00',(''),(''),'bench','bench','');\n"
        "FILE_SCHEMA(('IFC4'));\nENDSEC;\nDATA;\n"
    )
    path.write_text(header + "\n".join(lines) + "\nENDSEC;\nEND-ISO-10303-21;\n")
    return pumps


# ---------------------------------------------------------------- raw paths


def raw_usd_walk(path: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """usd-core directly: every prim with the attributes Thread reads, and its links."""
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(path), Usd.Stage.LoadAll)
    scene = f"scene:{path.name}"
    nodes: list[dict[str, Any]] = [{"label": "Scene", "uid": scene, "props": {"path": path.name}}]
    rels: list[tuple[str, str, str]] = []

    def flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                flat(f"{prefix}.{key}", item, out)
        else:
            out[prefix] = value

    for prim in Usd.PrimRange(stage.GetPseudoRoot(), Usd.PrimAllPrimsPredicate):
        prim_path = str(prim.GetPath())
        if prim_path == "/":
            continue
        props: dict[str, Any] = {
            "scene": path.name,
            "prim_path": prim_path,
            "name": prim.GetName(),
            "type_name": str(prim.GetTypeName()),
            "specifier": str(prim.GetSpecifier()),
            "active": prim.IsActive(),
            "instanceable": prim.IsInstanceable(),
            "loaded": prim.IsLoaded(),
        }
        kind = Usd.ModelAPI(prim).GetKind()
        if kind:
            props["kind"] = kind
        if prim.IsA(UsdGeom.Imageable):
            props["purpose"] = str(UsdGeom.Imageable(prim).ComputePurpose())
        for name in prim.GetVariantSets().GetNames():
            props[f"variants.{name}"] = prim.GetVariantSets().GetVariantSelection(name)
        flat("assetInfo", prim.GetAssetInfo() if prim.HasAuthoredAssetInfo() else {}, props)
        custom = prim.GetCustomData() if prim.HasAuthoredCustomData() else {}
        flat("customData", custom, props)
        for relationship in prim.GetAuthoredRelationships():
            relationship.GetTargets()
        uid = f"prim:{path.name}:{prim_path}"
        nodes.append({"label": "Prim", "uid": uid, "props": props})
        parent = prim_path.rsplit("/", 1)[0]
        rels.append(
            ("HAS_CHILD", f"prim:{path.name}:{parent}", uid) if parent else ("HAS_PRIM", scene, uid)
        )
        serial = props.get("customData.thread.serial")
        if serial:
            rels.append(
                ("REPRESENTS", uid, f"unit:{props['customData.thread.partNumber']}/{serial}")
            )
    return nodes, rels


def raw_ifc_walk(path: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """ifcopenshell directly: spatial elements, types and elements with their property
    and quantity sets (lengths in metres), containment, aggregation and types. Like
    Thread, it asks an entity only for attributes its class has (ifcopenshell is slow to
    say that an attribute is missing)."""
    import ifcopenshell
    import ifcopenshell.util.unit

    model = ifcopenshell.open(str(path))
    scale = ifcopenshell.util.unit.calculate_unit_scale(model)
    schema = ifcopenshell.ifcopenshell_wrapper.schema_by_name(model.schema_identifier)
    nodes: list[dict[str, Any]] = []
    rels: list[tuple[str, str, str]] = []

    @functools.cache
    def names(ifc_class: str) -> set[str]:
        declaration = schema.declaration_by_name(ifc_class)
        inverse = {i.name() for i in declaration.all_inverse_attributes()}
        return {a.name() for a in declaration.all_attributes()} | inverse

    def props_of(entity: Any) -> dict[str, Any]:
        props: dict[str, Any] = {"global_id": entity.GlobalId, "ifc_class": entity.is_a()}
        has = names(entity.is_a())
        for attribute in ("Name", "LongName", "Description", "ObjectType", "Tag", "PredefinedType"):
            value = getattr(entity, attribute) if attribute in has else None
            if value is not None:
                props[attribute.lower()] = value
        definitions = []
        if "IsDefinedBy" in has:
            definitions += [r.RelatingPropertyDefinition for r in entity.IsDefinedBy]
        if "HasPropertySets" in has:
            definitions += list(entity.HasPropertySets or ())
        for definition in definitions:
            if definition.is_a("IfcPropertySet"):
                for prop in definition.HasProperties:
                    value = prop.NominalValue
                    number = value.wrappedValue
                    if "LengthMeasure" in value.is_a():
                        number *= scale
                    props[f"{definition.Name}.{prop.Name}"] = number
            else:
                for quantity in definition.Quantities:
                    number = quantity[3]
                    props[f"{definition.Name}.{quantity.Name}"] = (
                        number * scale if quantity.is_a("IfcQuantityLength") else number
                    )
        return props

    uid_of: dict[int, str] = {}
    for label, ifc_class in (
        ("Site", "IfcSite"),
        ("Building", "IfcBuilding"),
        ("Storey", "IfcBuildingStorey"),
        ("Space", "IfcSpace"),
        ("ElementType", "IfcTypeObject"),
        ("BuildingElement", "IfcElement"),
    ):
        for entity in model.by_type(ifc_class):
            uid = f"site:{entity.GlobalId}" if label == "Site" else f"ifc:{entity.GlobalId}"
            uid_of[entity.id()] = uid
            nodes.append({"label": label, "uid": uid, "props": props_of(entity)})
    for relation in model.by_type("IfcRelAggregates"):
        parent = uid_of.get(relation.RelatingObject.id())
        for child in relation.RelatedObjects:
            if parent and child.id() in uid_of:
                rels.append(("AGGREGATES", parent, uid_of[child.id()]))
    place: dict[str, str] = {}
    for relation in model.by_type("IfcRelContainedInSpatialStructure"):
        for element in relation.RelatedElements:
            place[uid_of[element.id()]] = uid_of[relation.RelatingStructure.id()]
            rels.append(
                ("CONTAINS_ELEMENT", uid_of[relation.RelatingStructure.id()], uid_of[element.id()])
            )
    for relation in model.by_type("IfcRelDefinesByType"):
        for element in relation.RelatedObjects:
            rels.append(("HAS_TYPE", uid_of[element.id()], uid_of[relation.RelatingType.id()]))
    for item in nodes:
        serial = item["props"].get("Pset_ManufacturerOccurrence.SerialNumber")
        if serial:
            rels.append(("REPRESENTS", item["uid"], f"unit:P-100/{serial}"))
            rels.append(("LOCATED_IN", f"unit:P-100/{serial}", place[item["uid"]]))
    return nodes, rels


def raw_write(
    store: Any,
    nodes: list[dict[str, Any]],
    rels: list[tuple[str, str, str]],
    stamp: dict[str, str] | None = None,
) -> None:
    """The same nodes and relationships through `UNWIND $rows … MERGE`, nothing else;
    `stamp` adds the provenance Thread writes on each (`_run`, `_updated`, `_src`)."""
    common = ", n += $common" if stamp else ""
    params = {"common": stamp} if stamp else {}
    by_label: dict[str, list[dict[str, Any]]] = {}
    for item in nodes:
        by_label.setdefault(item["label"], []).append({"uid": item["uid"], "props": item["props"]})
    for label, rows in by_label.items():
        query = (
            f"UNWIND $rows AS row MERGE (n:Entity:{label} {{uid: row.uid}}) "
            f"SET n += row.props{common}"
        )
        for start in range(0, len(rows), BATCH):
            store.write(query, {"rows": rows[start : start + BATCH], **params})
    by_type: dict[str, list[dict[str, str]]] = {}
    for rel_type, src, dst in rels:
        by_type.setdefault(rel_type, []).append({"src": src, "dst": dst})
    for rel_type, rows in by_type.items():
        query = (
            "UNWIND $rows AS row MATCH (a:Entity {uid: row.src}) MATCH (b:Entity {uid: row.dst}) "
            f"MERGE (a)-[n:{rel_type} {{_key: ''}}]->(b)" + (" SET n += $common" if stamp else "")
        )
        for start in range(0, len(rows), BATCH):
            store.write(query, {"rows": rows[start : start + BATCH], **params})


# ---------------------------------------------------------------- measuring


def _units(store: Any, count: int) -> None:
    """The units the scene or building binds to, written before the clock starts."""
    from thread import ontology
    from thread.pipeline.write import Source, ThreadService
    from thread.records import node

    onto = ontology.load()
    records = [node(onto, "Part", {"part_number": "P-100"})]
    records += [
        node(onto, "Unit", {"part_number": "P-100", "serial": f"SN-{i:07d}"}) for i in range(count)
    ]
    ThreadService(store).import_records(records, Source("bench", "units"))


def _measure(path_kind: str, source: str, store_spec: str, units: int) -> dict[str, float]:
    """One path in this (child) process: seconds per phase, client CPU and peak memory."""
    from thread.pipeline.imports import import_file
    from thread.stores import open_store

    path = Path(source)
    times: dict[str, float] = {}
    if path_kind == "thread":
        with open_store(store_spec) as store:
            _units(store, units)
            start, cpu = time.perf_counter(), time.process_time()
            report = import_file(store, "usd" if path.suffix == ".usdc" else "ifc", path)
            times["thread"] = time.perf_counter() - start
            times["cpu"] = time.process_time() - cpu
            times["nodes"] = report.nodes.created
            times["relationships"] = report.relationships.created
    else:
        walk = raw_usd_walk if path.suffix == ".usdc" else raw_ifc_walk
        start, cpu = time.perf_counter(), time.process_time()
        nodes, rels = walk(path)
        times["walk"] = time.perf_counter() - start
        times["cpu"] = time.process_time() - cpu
        times["nodes"], times["relationships"] = len(nodes), len(rels)
        for phase, stamp in (("write", None), ("stamped", STAMP)):
            with open_store(f"{store_spec}-{phase}") as store:  # a fresh store each
                _units(store, units)
                start, cpu = time.perf_counter(), time.process_time()
                raw_write(store, nodes, rels, stamp)
                times[phase] = time.perf_counter() - start
                if phase == "write":
                    times["cpu"] += time.process_time() - cpu
    times["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return times


def _in_child(work: Callable[..., dict[str, float]], *args: Any) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(work, args)


def compare(title: str, source: Path, folder: Path, units: int, repeat: int) -> Iterator[str]:
    """Run Thread and the raw path on `source`, each in a fresh store and process, in turn
    `repeat` times; the best time of each counts (the machine may be busy meanwhile)."""
    threads, raws = [], []
    for run in range(repeat):
        store = f"embedded:{folder}/{{}}-{source.suffix[1:]}-{run}"
        threads.append(_in_child(_measure, "thread", str(source), store.format("thread"), units))
        raws.append(_in_child(_measure, "raw", str(source), store.format("raw"), units))
    thread = min(threads, key=lambda t: t["thread"])
    raw = min(raws, key=lambda r: r["walk"] + r["write"])
    baseline = raw["walk"] + raw["write"]
    ratio = thread["thread"] / baseline
    stamped = min(r["walk"] + r["stamped"] for r in raws)
    peak = max(t["peak_mb"] for t in threads + raws)
    yield title
    yield (
        f"  Thread import           {thread['thread']:8.2f} s   {int(thread['nodes']):,} nodes, "
        f"{int(thread['relationships']):,} relationships (best of {repeat})"
    )
    yield (
        f"  raw walk + raw write    {baseline:8.2f} s   ({raw['walk']:.2f} + {raw['write']:.2f}; "
        f"{int(raw['nodes']):,} nodes, {int(raw['relationships']):,} relationships)"
    )
    yield (
        f"  ... with provenance     {stamped:8.2f} s   (the raw write with the _run, _updated "
        "and _src Thread puts on every node and relationship)"
    )
    yield (
        f"  client process CPU      {thread['cpu']:8.2f} s Thread, {raw['cpu']:.2f} s raw "
        "(the store's own work not counted)"
    )
    yield (
        f"  Thread / raw            {ratio:8.2f} x   "
        f"(target <= {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'MISSED'}); "
        f"{thread['thread'] / stamped:.2f} x the raw write with provenance"
    )
    yield (
        f"  peak memory             {max(t['peak_mb'] for t in threads):8.0f} MB Thread, "
        f"{max(r['peak_mb'] for r in raws):.0f} MB raw "
        f"(target < {TARGET_MB} MB: {'met' if peak < TARGET_MB else 'MISSED'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prims", type=int, default=100_000)
    parser.add_argument("--elements", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each path; the best counts")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="thread-usd-ifc-bench-") as tmp:
        folder = Path(tmp)
        stage = folder / "stage.usdc"
        pumps = write_stage(stage, args.prims)
        title = f"USD: {args.prims:,} prims ({stage.stat().st_size / 1e6:.1f} MB usdc, {pumps:,} bound pumps)"
        for line in compare(title, stage, folder, pumps, args.repeat):
            print(line, flush=True)
        building = folder / "building.ifc"
        pumps = write_building(building, args.elements)
        title = f"IFC: {args.elements:,} elements ({building.stat().st_size / 1e6:.1f} MB IFC4, mm, {pumps:,} bound pumps)"
        for line in compare(title, building, folder, pumps, args.repeat):
            print(line, flush=True)


if __name__ == "__main__":
    main()
