"""The IFC importer on real building models and on the example plant room.

Real files (../shared/data/ifc, see its README.md):
- `Duplex_A_20110907.ifc`: ThatOpen/engine_web-ifc → tests/ifcfiles/public/duplex.ifc,
  the buildingSMART Duplex Apartment (CC BY 4.0), IFC2X3 from Revit 2011.
- `AC20-FZK-Haus.ifc`: ThatOpen/engine_web-ifc → tests/ifcfiles/public/AC20-FZK-Haus.ifc,
  the KIT FZK-Haus, IFC4 from ArchiCAD 20, CRLF line endings, German names.
- `Sample_entities.ifc`: ThatOpen/engine_web-ifc → tests/ifcfiles/public/Sample_entities.ifc,
  IFC2X3 distribution boards with ports, in millimetres.
- `air-terminal-element_IFC4.ifc`: buildingSMART/IFC4.3.x-sample-models →
  models/building-service-element/air-terminal-element/air-terminal-element.ifc, in inches.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.graph import counts

from thread import ontology
from thread.errors import SourceError
from thread.pipeline.imports import ImportOptions, import_file
from thread.pipeline.write import ImportReport, Source, ThreadService
from thread.records import node
from thread.stores import GraphStore

ONTO = ontology.load()
EXAMPLE_BUILDING = Path(__file__).resolve().parents[1] / "examples" / "pump-fleet" / "building"


def import_ifc(store: GraphStore, path: Path, mapping: Path | None = None) -> ImportReport:
    return import_file(store, "ifc", path, ImportOptions(mapping=mapping))


def by_label(store: GraphStore) -> Counter[str]:
    rows = store.read(
        "MATCH (n) WHERE n._missing IS NULL RETURN [l IN labels(n) WHERE l <> 'Entity'][0] AS label"
    )
    return Counter(row["label"] for row in rows)


def elements(store: GraphStore, ifc_class: str) -> list[dict[str, Any]]:
    rows = store.read(
        "MATCH (e:BuildingElement) WHERE e.ifc_class = $c RETURN e ORDER BY e.uid", {"c": ifc_class}
    )
    return [dict(row["e"]) for row in rows]


def test_duplex_spatial_tree_elements_and_every_property_set(
    store: GraphStore, shared_data: Path
) -> None:
    """buildingSMART Duplex Apartment (CC BY 4.0) via ThatOpen/engine_web-ifc."""
    import ifcopenshell

    path = shared_data / "ifc" / "Duplex_A_20110907.ifc"
    report = import_ifc(store, path)
    assert report.warnings == []
    labels = by_label(store)
    assert (labels["Site"], labels["Building"], labels["Storey"], labels["Space"]) == (1, 1, 4, 21)
    assert len(elements(store, "IfcDoor")) == 14 and len(elements(store, "IfcWindow")) == 24
    assert labels["BuildingElement"] == 268 and labels["ElementType"] == 37
    storeys = store.read(
        "MATCH (:Building)-[:AGGREGATES]->(s:Storey) RETURN s.name AS name ORDER BY s.elevation"
    )
    assert [r["name"] for r in storeys] == ["T/FDN", "Level 1", "Level 2", "Roof"]
    in_spaces = store.read("MATCH (:Storey)-[:AGGREGATES]->(s:Space) RETURN count(s) AS c")
    assert in_spaces[0]["c"] == 21

    # every property set reachable from the file's objects is on the node of its object
    model = ifcopenshell.open(str(path))
    expected: set[tuple[str, str]] = set()
    psets: set[int] = set()
    for relation in model.by_type("IfcRelDefinesByProperties"):
        definition = relation.RelatingPropertyDefinition
        if definition.is_a("IfcPropertySet"):
            psets.add(definition.id())
            expected |= {(o.GlobalId, definition.Name) for o in relation.RelatedObjects}
    assert len(psets) == 1459
    found = {
        (row["gid"], name)
        for row in store.read(
            "MATCH (n:Entity) WHERE n.property_sets IS NOT NULL "
            "RETURN n.global_id AS gid, n.property_sets AS names"
        )
        for name in row["names"]
    }
    assert expected <= found
    wall = store.read("MATCH (e:BuildingElement {uid: 'ifc:2O2Fr$t4X7Zf8NOew3FNtn'}) RETURN e")[0][
        "e"
    ]
    assert wall["name"] == "Basic Wall:Exterior - Brick on Block:138062"
    assert wall["ifc_class"] == "IfcWallStandardCase"
    assert wall["Pset_WallCommon.IsExternal"] is True
    assert "Pset_WallCommon" in wall["property_sets"]


def test_fzk_haus_ifc4_with_crlf_and_german_names(store: GraphStore, shared_data: Path) -> None:
    """KIT FZK-Haus, ArchiCAD 20 IFC4 export, via ThatOpen/engine_web-ifc."""
    import_ifc(store, shared_data / "ifc" / "AC20-FZK-Haus.ifc")
    labels = by_label(store)
    assert (labels["Storey"], labels["Space"]) == (2, 7)
    spaces = store.read(
        "MATCH (:Storey)-[:AGGREGATES]->(s:Space) RETURN s.long_name AS name ORDER BY name"
    )
    assert [r["name"] for r in spaces] == [
        "Bad",
        "Buero",
        "Flur",
        "Galerie",
        "Küche",
        "Schlafzimmer",
        "Wohnen",
    ]
    storey = store.read("MATCH (s:Storey {name: 'Dachgeschoss'}) RETURN s")[0]["s"]
    assert storey["elevation"] == pytest.approx(2.7)
    site = store.read("MATCH (s:Site) RETURN s")[0]["s"]
    assert site["name"] == "Gelaende" and site["uid"] == f"site:{site['global_id']}"
    assert "BaseQuantities" in site["quantity_sets"]


def test_sample_entities_ports_and_millimetres(store: GraphStore, shared_data: Path) -> None:
    """Two distribution boards (ThatOpen/engine_web-ifc Sample_entities.ifc), mm units."""
    import_ifc(store, shared_data / "ifc" / "Sample_entities.ifc")
    boards = elements(store, "IfcElectricDistributionPoint")
    assert len(boards) == 2
    assert sum(len(b["ports"]) for b in boards) == 4
    assert {d for b in boards for d in b["port_flow_directions"]} == {"SOURCEANDSINK"}
    storeys = {row["s"]["name"]: row["s"] for row in store.read("MATCH (s:Storey) RETURN s")}
    assert storeys["OG"]["elevation"] == pytest.approx(3.14)  # 3140 mm
    assert storeys["OG"]["Abhängigkeiten.Ansicht"] == pytest.approx(3.14)
    assert storeys["Erdgeschoss"]["Abmessungen.Höhe für Berechnung"] == pytest.approx(1.0)
    contained = store.read(
        "MATCH (s:Storey)-[:CONTAINS_ELEMENT]->(e) RETURN s.name AS storey, e.tag AS tag "
        "ORDER BY tag"
    )
    assert contained == [
        {"storey": "Erdgeschoss", "tag": "15406643"},
        {"storey": "OG", "tag": "15562443"},
    ]


def test_air_terminal_type_ports_and_connection(store: GraphStore, shared_data: Path) -> None:
    """buildingSMART IFC4.3.x-sample-models air-terminal-element.ifc."""
    report = import_ifc(store, shared_data / "ifc" / "air-terminal-element_IFC4.ifc")
    kind = store.read("MATCH (:BuildingElement)-[:HAS_TYPE]->(t:ElementType) RETURN t")[0]["t"]
    assert kind["ifc_class"] == "IfcAirTerminalType" and kind["name"] == "Acme Diffuser 1234"
    assert kind["property_sets"] == [
        "Pset_AirTerminalTypeCommon",
        "Pset_ManufacturerTypeInformation",
    ]
    assert kind["Pset_AirTerminalTypeCommon.Shape"] == ["SQUARE"]
    assert kind["Pset_ManufacturerTypeInformation.ModelReference"] == "1234"
    assert kind["Pset_ManufacturerTypeInformation.AssemblyPlace"] == ["FACTORY"]
    ports = store.read(
        "MATCH (n:Entity) WHERE n.ports IS NOT NULL RETURN n.ifc_class AS c, size(n.ports) AS p"
    )
    assert sorted((r["c"], r["p"]) for r in ports) == [
        ("IfcAirTerminal", 1),
        ("IfcAirTerminalType", 1),
        ("IfcDuctSegment", 2),
    ]
    connections = store.read(
        "MATCH (a)-[r:CONNECTED_TO]->(b) RETURN a.ifc_class AS a, b.ifc_class AS b, r.port AS port, "
        "r.other_port AS other, r.port_flow_direction AS flow"
    )
    assert connections == [
        {
            "a": "IfcDuctSegment",
            "b": "IfcAirTerminal",
            "port": "Out",
            "other": "Inlet",
            "flow": "SOURCE",
        }
    ]
    # the type's model reference names a part; there is none in this graph: reported
    assert report.warnings == [
        f"{report.source}: REPRESENTS ifc:1mF0_JbLzBtAZ0GUOlCFEx -> part:1234 "
        "skipped: no Part part:1234"
    ]


def test_ifc4x3_facilities_and_their_parts(store: GraphStore, tmp_path: Path) -> None:
    """A bridge and a building on one site (IFC4X3, generated with ifcopenshell.api)."""
    import ifcopenshell.api.aggregate
    import ifcopenshell.api.project
    import ifcopenshell.api.root
    import ifcopenshell.api.spatial

    model = ifcopenshell.api.project.create_file(version="IFC4X3")
    create = ifcopenshell.api.root.create_entity
    project = create(model, ifc_class="IfcProject", name="Crossing")
    site, bridge, deck, house, level, pump = (
        create(model, ifc_class=c, name=n)
        for c, n in (
            ("IfcSite", "Site"),
            ("IfcBridge", "Bridge"),
            ("IfcBridgePart", "Deck"),
            ("IfcBuilding", "Pump house"),
            ("IfcBuildingStorey", "Ground"),
            ("IfcPump", "Pump"),
        )
    )
    for parent, children in (
        (project, [site]),
        (site, [bridge, house]),
        (bridge, [deck]),
        (house, [level]),
    ):
        ifcopenshell.api.aggregate.assign_object(model, products=children, relating_object=parent)
    ifcopenshell.api.spatial.assign_container(model, products=[pump], relating_structure=level)
    model.write(str(tmp_path / "crossing.ifc"))
    import_ifc(store, tmp_path / "crossing.ifc")
    rows = store.read(
        "MATCH (:Site)-[:AGGREGATES]->(b:Building)-[:AGGREGATES]->(s:Storey) "
        "RETURN b.ifc_class AS building, s.ifc_class AS part ORDER BY building"
    )
    assert rows == [
        {"building": "IfcBridge", "part": "IfcBridgePart"},
        {"building": "IfcBuilding", "part": "IfcBuildingStorey"},
    ]
    assert len(store.read("MATCH (:Storey)-[:CONTAINS_ELEMENT]->(e) RETURN e")) == 1


def test_reimporting_the_same_file_changes_nothing(store: GraphStore, shared_data: Path) -> None:
    """KIT FZK-Haus via ThatOpen/engine_web-ifc."""
    path = shared_data / "ifc" / "AC20-FZK-Haus.ifc"
    first = import_ifc(store, path)
    second = import_ifc(store, path)
    assert not second.changed and second.run is None
    assert second.nodes.unchanged == first.nodes.created


# ---------------------------------------------------------------- bindings, re-exports, defects


def units(store: GraphStore, serials: list[str]) -> None:
    records = [node(ONTO, "Part", {"part_number": "P-100"})]
    records += [node(ONTO, "Unit", {"part_number": "P-100", "serial": s}) for s in serials]
    ThreadService(store).import_records(records, Source("test", "units.csv"))


def test_pumps_bind_to_units_located_in_the_pump_room(store: GraphStore) -> None:
    """The example plant room: pumps carry Pset_ManufacturerOccurrence.SerialNumber, their
    type Pset_ManufacturerTypeInformation.ModelReference = P-100."""
    units(store, [f"SN-{i:04d}" for i in range(1, 11)])  # SN-0011 and SN-0012 are unknown
    report = import_ifc(store, EXAMPLE_BUILDING / "plant-room.ifc")
    bound = store.read(
        "MATCH (e:BuildingElement)-[:REPRESENTS]->(u:Unit) RETURN e.name AS pump, u.serial AS sn "
        "ORDER BY sn"
    )
    assert len(bound) == 10 and bound[0] == {"pump": "Pump 01", "sn": "SN-0001"}
    located = store.read(
        "MATCH (u:Unit)-[r:LOCATED_IN]->(s:Space) RETURN u.serial AS sn, s.long_name AS space, "
        "r.valid_from AS since ORDER BY sn"
    )
    assert len(located) == 10
    assert located[0] == {"sn": "SN-0001", "space": "Pump room", "since": "2025-01-06"}
    skipped = sorted(w.split(": ", 1)[1] for w in report.warnings)
    assert len(skipped) == 4 and all("SN-0011" in w or "SN-0012" in w for w in skipped)
    unbound = store.read(
        "MATCH (e:BuildingElement) WHERE e.bind_serial IN ['SN-0011', 'SN-0012'] "
        "AND NOT (e)-[:REPRESENTS]->() RETURN e.bind_part_number AS pn"
    )
    assert unbound == [{"pn": "P-100"}, {"pn": "P-100"}]
    pump = next(e for e in elements(store, "IfcPump") if e["name"] == "Pump 01")
    assert pump["Thread_Dimensions.NominalDiameter"] == pytest.approx(0.081)  # 81 mm
    connected = store.read(
        "MATCH (p:BuildingElement)-[:CONNECTED_TO]->(h {ifc_class: 'IfcPipeSegment'}) "
        "RETURN count(p) AS c"
    )
    assert connected[0]["c"] == 3
    members = store.read("MATCH (e)-[:MEMBER_OF]->(s:System) RETURN s.name AS s, count(e) AS c")
    assert members == [{"s": "Cooling water", "c": 13}]


def test_a_mapping_overrides_the_binding_keys(store: GraphStore, tmp_path: Path) -> None:
    units(store, ["SN-0001"])
    mapping = tmp_path / "tags.toml"
    mapping.write_text(
        'kind = "ifc"\n[bindings]\nserial = "Pset_ManufacturerOccurrence.SerialNumber"\n'
        'part_number = "Pset_ManufacturerTypeInformation.ModelLabel"\n'
    )
    import_ifc(store, EXAMPLE_BUILDING / "plant-room.ifc", mapping=mapping)
    assert (
        store.read("MATCH (:BuildingElement)-[r:REPRESENTS]->(:Unit) RETURN count(r) AS c")[0]["c"]
        == 1
    )
    mapping.write_text('[bindings]\nserial_number = "X.Y"\n')
    with pytest.raises(SourceError, match=r"tags.toml: bindings.serial_number: Extra inputs"):
        import_ifc(store, EXAMPLE_BUILDING / "plant-room.ifc", mapping=mapping)


def _edit(source: Path, target: Path, change: Any) -> Path:
    import ifcopenshell

    model = ifcopenshell.open(str(source))
    change(model)
    model.write(str(target))
    return target


def test_a_re_export_reports_what_appeared_and_disappeared(
    store: GraphStore, tmp_path: Path
) -> None:
    """An authoring tool regenerated one pump's GlobalId: one element disappeared (kept,
    marked) and one appeared."""
    path = tmp_path / "plant-room.ifc"
    shutil.copy(EXAMPLE_BUILDING / "plant-room.ifc", path)
    import_ifc(store, path)

    def regenerate(model: Any) -> None:
        pump = next(p for p in model.by_type("IfcPump") if p.Name == "Pump 07")
        pump.GlobalId = "3aXyZ0000000000000PUMP7"

    _edit(path, path, regenerate)
    report = import_ifc(store, path)
    assert report.by_label["BuildingElement"].created == 1
    assert report.by_label["BuildingElement"].disappeared == 1
    assert report.nodes.disappeared == 1 and report.nodes.created == 1
    old = [e for e in elements(store, "IfcPump") if e.get("_missing")]
    assert len(old) == 1 and old[0]["name"] == "Pump 07"
    assert "ifc:3aXyZ0000000000000PUMP7" not in report.disappeared


def test_defects_of_real_files_are_warnings(store: GraphStore, tmp_path: Path) -> None:
    """A repeated GlobalId, a missing one and a port of no element do not stop the import."""

    def damage(model: Any) -> None:
        pumps = model.by_type("IfcPump")
        pumps[1].GlobalId = pumps[0].GlobalId
        pumps[2].GlobalId = ""
        relation = model.by_type("IfcRelConnectsPorts")[0]
        model.remove(relation.RelatingPort.Nests[0])

    path = _edit(EXAMPLE_BUILDING / "plant-room.ifc", tmp_path / "damaged.ifc", damage)
    report = import_ifc(store, path)
    assert len(elements(store, "IfcPump")) == 10
    text = "\n".join(report.warnings)
    assert "repeats GlobalId" in text and "has no GlobalId" in text
    assert "a port belongs to no imported element" in text


def test_every_kind_of_property_value_is_flattened(store: GraphStore, tmp_path: Path) -> None:
    """Bounded, list, table, complex, reference and enumerated values, an explicit unit
    (centimetres in a millimetre file) and a name no store can take."""

    def enrich(model: Any) -> None:
        pump = next(p for p in model.by_type("IfcPump") if p.Name == "Pump 01")
        centimetre = model.createIfcSIUnit(None, "LENGTHUNIT", "CENTI", "METRE")
        length = model.createIfcPositiveLengthMeasure
        props = [
            model.createIfcPropertyBoundedValue(
                "Flow", None, model.createIfcReal(5.0), model.createIfcReal(1.0)
            ),
            model.createIfcPropertyListValue("Sizes", None, [length(100.0), length(250.0)]),
            model.createIfcPropertySingleValue("Gap", None, length(2.0), centimetre),
            model.createIfcComplexProperty(
                "Motor",
                None,
                "motor",
                [
                    model.createIfcPropertySingleValue(
                        "Power", None, model.createIfcPowerMeasure(7500.0)
                    )
                ],
            ),
            model.createIfcPropertyTableValue(
                "Curve",
                None,
                [model.createIfcReal(0.0), model.createIfcReal(1.0)],
                [model.createIfcReal(10.0), model.createIfcReal(8.0)],
            ),
            model.createIfcPropertyReferenceValue(
                "Casing", None, None, model.createIfcMaterial("Cast iron")
            ),
            model.createIfcPropertyEnumeratedValue(
                "Sealing", None, [model.createIfcLabel("MECHANICAL")]
            ),
            model.createIfcPropertySingleValue("Odd`Name", None, model.createIfcLabel("x")),
        ]
        pset = model.createIfcPropertySet(
            "3aXyZ0000000000000PSET1", None, "Thread_Test", None, props
        )
        model.createIfcRelDefinesByProperties(
            "3aXyZ0000000000000RELP1", None, None, None, [pump], pset
        )

    path = _edit(EXAMPLE_BUILDING / "plant-room.ifc", tmp_path / "values.ifc", enrich)
    report = import_ifc(store, path)
    pump = next(e for e in elements(store, "IfcPump") if e["name"] == "Pump 01")
    assert (pump["Thread_Test.Flow.upper"], pump["Thread_Test.Flow.lower"]) == (5.0, 1.0)
    assert pump["Thread_Test.Sizes"] == pytest.approx([0.1, 0.25])  # mm in the file
    assert pump["Thread_Test.Gap"] == pytest.approx(0.02)  # its own unit: cm
    assert pump["Thread_Test.Motor.Power"] == 7500.0
    assert pump["Thread_Test.Curve.defining"] == [0.0, 1.0]
    assert pump["Thread_Test.Curve.defined"] == [10.0, 8.0]
    assert pump["Thread_Test.Casing"] == "Cast iron"
    assert pump["Thread_Test.Sealing"] == ["MECHANICAL"]
    assert "Thread_Test.Odd`Name" not in pump
    assert any("'Thread_Test.Odd`Name' cannot be a property name" in w for w in report.warnings)


def test_dangling_references_are_warnings_with_their_line(
    store: GraphStore, test_data: Path
) -> None:
    """tests/data/ifc/dangling.ifc: a placement, a property and a contained element that
    the exporter referenced and never wrote."""
    report = import_ifc(store, test_data / "ifc" / "dangling.ifc")
    assert sorted(report.warnings) == [
        f"{report.source}: ifcopenshell: line {line}: Instance reference #{ref} used by "
        f"instance #{by} at attribute index {index} not found at offset {offset}"
        for line, ref, by, index, offset in (
            (16, 999, 8, 5, 770),
            (18, 998, 10, 4, 927),
            (20, 997, 12, 4, 1080),
        )
    ]
    wall = elements(store, "IfcWall")[0]
    assert (wall["name"], wall["Pset_WallCommon.IsExternal"]) == ("Wall", True)
    assert (
        store.read("MATCH (:Building)-[r:CONTAINS_ELEMENT]->() RETURN count(r) AS c")[0]["c"] == 1
    )


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.ifc", "this is a text file\n", "not an IFC file"),
        ("empty.ifc", "", "not an IFC file"),
        ("cut.ifc", "truncate", "truncated IFC file"),
        ("broken.ifc", "corrupt", "not a readable IFC file"),
    ],
    ids=["text", "empty", "truncated", "syntax-error"],
)
def test_a_broken_or_non_ifc_file_is_a_clear_error_and_nothing_is_written(
    store: GraphStore, tmp_path: Path, shared_data: Path, name: str, content: str, reason: str
) -> None:
    """Damaged copies of ThatOpen/engine_web-ifc Sample_entities.ifc."""
    real = (shared_data / "ifc" / "Sample_entities.ifc").read_text()
    if content == "truncate":
        content = real[: len(real) // 2]
    elif content == "corrupt":  # one entity cut inside a string, the rest intact
        line = next(x for x in real.splitlines() if x.startswith("#14 = "))
        content = real.replace(line, line[: line.index("'Schel") + 6])
    (tmp_path / name).write_text(content)
    import_ifc(store, shared_data / "ifc" / "air-terminal-element_IFC4.ifc")
    before = counts(store)
    with pytest.raises(SourceError) as excinfo:
        import_ifc(store, tmp_path / name)
    assert name in str(excinfo.value) and reason in str(excinfo.value)
    assert counts(store) == before
