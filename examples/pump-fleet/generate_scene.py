"""Generate the pump fleet's plant room twice: as an OpenUSD scene and as an IFC building.

Both describe the same twelve pumps of part P-100 (serials SN-0001 … SN-0012) and bind
them to the example thread's units the way real files do:

- `scene/plant.usda`: a stage `/World/PumpRoom` with one Xform per pump carrying
  `customData` `thread:serial` and `thread:partNumber`, each referencing the pump asset
  `scene/assets/pump.usda` (a body and a motor to colour); plus `Pump_Spare`, which
  declares serial SN-9999, a unit no system knows (an unresolved binding on purpose).
- `building/plant-room.ifc` (IFC4, millimetres): site, building, storey and the space
  "Pump room" containing the twelve `IfcPump`s (`Pset_ManufacturerOccurrence.
  SerialNumber` on each; `Pset_ManufacturerTypeInformation.ModelReference` = P-100 on
  their `IfcPumpType`, where IFC puts type information), an `IfcPipeSegment` header,
  inlet and outlet ports, `IfcRelConnectsPorts` from three pumps to the header, and a
  cooling-water `IfcDistributionSystem`.

The output is deterministic (seeded layout, fixed GlobalIds and header), so running it
again changes nothing and re-importing the files converges.

    python examples/pump-fleet/generate_scene.py [--out examples/pump-fleet]
"""

from __future__ import annotations

import argparse
import random
import uuid
from pathlib import Path
from typing import Any

__all__ = ["PART_NUMBER", "SERIALS", "UNKNOWN_SERIAL", "main", "write_building", "write_scene"]

SEED = 100
PART_NUMBER = "P-100"
SERIALS = [f"SN-{i:04d}" for i in range(1, 13)]
UNKNOWN_SERIAL = "SN-9999"
CONNECTED = 3  # pumps whose outlet is connected to the header pipe
TIME_STAMP = "2025-01-06T08:00:00"
HERE = Path(__file__).resolve().parent


def _pump_asset(path: Path) -> None:
    """The referenced pump: a body and a motor, so a viewer has something to colour."""
    from pxr import Gf, Usd, UsdGeom

    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    pump = UsdGeom.Xform.Define(stage, "/Pump")
    stage.SetDefaultPrim(pump.GetPrim())
    body = UsdGeom.Cylinder.Define(stage, "/Pump/Body")
    body.CreateRadiusAttr(0.25)
    body.CreateHeightAttr(0.6)
    body.AddTranslateOp().Set(Gf.Vec3d(0, 0, 0.3))
    motor = UsdGeom.Cube.Define(stage, "/Pump/Motor")
    motor.CreateSizeAttr(0.3)
    motor.AddTranslateOp().Set(Gf.Vec3d(0.45, 0, 0.3))
    stage.GetRootLayer().Save()


def write_scene(folder: Path, rng: random.Random) -> Path:
    """`folder/plant.usda` and its pump asset; returns the scene's path."""
    from pxr import Gf, Kind, Usd, UsdGeom

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "assets").mkdir(exist_ok=True)
    _pump_asset(folder / "assets" / "pump.usda")
    path = folder / "plant.usda"
    path.unlink(missing_ok=True)
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    stage.GetRootLayer().documentation = "Pump fleet plant room (examples/pump-fleet)"
    world = UsdGeom.Xform.Define(stage, "/World")
    stage.SetDefaultPrim(world.GetPrim())
    Usd.ModelAPI(world.GetPrim()).SetKind(Kind.Tokens.assembly)
    room = UsdGeom.Xform.Define(stage, "/World/PumpRoom")
    Usd.ModelAPI(room.GetPrim()).SetKind(Kind.Tokens.group)
    pumps = [(f"Pump_{i:02d}", serial) for i, serial in enumerate(SERIALS, 1)]
    pumps.append(("Pump_Spare", UNKNOWN_SERIAL))
    for index, (name, serial) in enumerate(pumps):
        prim = UsdGeom.Xform.Define(stage, f"/World/PumpRoom/{name}").GetPrim()
        prim.GetReferences().AddReference("./assets/pump.usda")
        Usd.ModelAPI(prim).SetKind(Kind.Tokens.component)
        prim.SetCustomDataByKey("thread:serial", serial)
        prim.SetCustomDataByKey("thread:partNumber", PART_NUMBER)
        xform = UsdGeom.Xformable(prim)
        row, column = divmod(index, 4)
        xform.AddTranslateOp().Set(Gf.Vec3d(column * 2.0, row * 2.5, 0.0))
        xform.AddRotateZOp().Set(round(rng.uniform(-10, 10), 1))
    stage.GetRootLayer().Save()
    return path


def _guid(rng: random.Random) -> str:
    import ifcopenshell.guid

    return str(ifcopenshell.guid.compress(uuid.UUID(int=rng.getrandbits(128)).hex))


def _pset(model: Any, product: Any, name: str, properties: dict[str, Any]) -> None:
    import ifcopenshell.api.pset

    pset = ifcopenshell.api.pset.add_pset(model, product=product, name=name)
    ifcopenshell.api.pset.edit_pset(model, pset=pset, properties=properties)


def _port(model: Any, element: Any, name: str, direction: str) -> Any:
    import ifcopenshell.api.system

    port = ifcopenshell.api.system.add_port(model, element=element)
    port.Name = name
    port.FlowDirection = direction
    port.PredefinedType = "PIPE"
    port.SystemType = "CHILLEDWATER"
    return port


def write_building(path: Path, rng: random.Random) -> Path:
    """`path`: the plant room as IFC4 in millimetres."""
    import ifcopenshell.api.aggregate
    import ifcopenshell.api.project
    import ifcopenshell.api.root
    import ifcopenshell.api.spatial
    import ifcopenshell.api.system
    import ifcopenshell.api.type
    import ifcopenshell.api.unit

    model = ifcopenshell.api.project.create_file(version="IFC4")
    create = ifcopenshell.api.root.create_entity
    project = create(model, ifc_class="IfcProject", name="Pump fleet")
    millimetre = ifcopenshell.api.unit.add_si_unit(model, unit_type="LENGTHUNIT", prefix="MILLI")
    area = ifcopenshell.api.unit.add_si_unit(model, unit_type="AREAUNIT")
    # assign_unit keeps the units in a set, whose order changes from run to run
    project.UnitsInContext = model.createIfcUnitAssignment([millimetre, area])
    site = create(model, ifc_class="IfcSite", name="Plant site")
    building = create(model, ifc_class="IfcBuilding", name="Pump station")
    storey = create(model, ifc_class="IfcBuildingStorey", name="Ground floor")
    storey.Elevation = 0.0
    room = create(model, ifc_class="IfcSpace", name="PR-01")
    room.LongName = "Pump room"
    for parent, child in ((project, site), (site, building), (building, storey), (storey, room)):
        ifcopenshell.api.aggregate.assign_object(model, products=[child], relating_object=parent)

    pump_type = create(model, ifc_class="IfcPumpType", predefined_type="CIRCULATOR")
    pump_type.Name = "P-100 circulator"
    _pset(
        model,
        pump_type,
        "Pset_ManufacturerTypeInformation",
        {"Manufacturer": "Thread Pumps", "ModelReference": PART_NUMBER, "ModelLabel": "P-100"},
    )
    header = create(model, ifc_class="IfcPipeSegment", predefined_type="RIGIDSEGMENT")
    header.Name = "Header pipe"
    header_ports = [_port(model, header, f"Inlet {i}", "SINK") for i in range(1, CONNECTED + 1)]
    _port(model, header, "Outlet", "SOURCE")
    system = ifcopenshell.api.system.add_system(model, ifc_class="IfcDistributionSystem")
    system.Name = "Cooling water"
    system.PredefinedType = "CHILLEDWATER"

    pumps = []
    for index, serial in enumerate(SERIALS, 1):
        pump = create(model, ifc_class="IfcPump", predefined_type="CIRCULATOR")
        pump.Name = f"Pump {index:02d}"
        pump.Tag = f"P-{index:02d}"
        _pset(model, pump, "Pset_ManufacturerOccurrence", {"SerialNumber": serial})
        _pset(
            model,
            pump,
            "Pset_PumpOccurrence",
            {"BaseType": "BASEPLATE", "DriveConnectionType": "DIRECTDRIVE"},
        )
        diameter = ifcopenshell.api.pset.add_pset(model, product=pump, name="Thread_Dimensions")
        ifcopenshell.api.pset.edit_pset(
            model,
            pset=diameter,
            properties={"NominalDiameter": model.createIfcPositiveLengthMeasure(80.0 + index)},
        )
        _port(model, pump, "Inlet", "SINK")
        outlet = _port(model, pump, "Outlet", "SOURCE")
        if index <= CONNECTED:
            ifcopenshell.api.system.connect_port(
                model, port1=outlet, port2=header_ports[index - 1], direction="SOURCE"
            )
        pumps.append(pump)
    ifcopenshell.api.type.assign_type(model, related_objects=pumps, relating_type=pump_type)
    ifcopenshell.api.spatial.assign_container(
        model, products=[*pumps, header], relating_structure=room
    )
    ifcopenshell.api.system.assign_system(model, products=[*pumps, header], system=system)

    for relation in model.by_type("IfcRelationship"):  # the API collects some in sets
        for attribute in ("RelatedObjects", "RelatedElements"):
            if hasattr(relation, attribute):
                members = sorted(getattr(relation, attribute), key=lambda e: e.id())
                setattr(relation, attribute, members)
    for entity in sorted(model.by_type("IfcRoot"), key=lambda e: e.id()):
        entity.GlobalId = _guid(rng)
    model.header.file_name.name = path.name
    model.header.file_name.time_stamp = TIME_STAMP
    model.header.file_name.preprocessor_version = "examples/pump-fleet/generate_scene.py"
    model.header.file_name.originating_system = "Thread"
    path.parent.mkdir(parents=True, exist_ok=True)
    model.write(str(path))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="the example's folder")
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    scene = write_scene(args.out / "scene", rng)
    building = write_building(args.out / "building" / "plant-room.ifc", rng)
    print(f"wrote {scene} and {building}")


if __name__ == "__main__":
    main()
