"""Brick models into Thread: the six public examples (../shared/data/brick, BrickSchema/Brick
examples/, BSD-3-Clause) import with exactly the equipment, points and locations that
rdflib counts in them with Brick's class hierarchy, and IFC-referenced entities bind to
the IFC model in the graph (../shared/data/ifc/AC20-FZK-Haus.ifc, the KIT FZK-Haus)."""

from __future__ import annotations

import pkgutil
from functools import cache
from pathlib import Path

import pytest
from rdflib import OWL, RDF, RDFS, Graph, URIRef
from support.data import NO_SHARED_DATA, SHARED_DATA

from thread.pipeline.imports import ImportOptions, import_file
from thread.stores import GraphStore

BRICK_DATA = (SHARED_DATA or Path("/nonexistent")) / "brick"
FZK_HAUS = (SHARED_DATA or Path("/nonexistent")) / "ifc" / "AC20-FZK-Haus.ifc"
pytestmark = pytest.mark.skipif(SHARED_DATA is None, reason=NO_SHARED_DATA)
FZK_BRICK = Path(__file__).resolve().parent / "data" / "rdf" / "fzk-haus-brick.ttl"

MODELS = {
    "building_meter/building_meter.ttl": (4, 6, 5),
    "chiller-system/chiller-plant.ttl": (17, 0, 0),
    "g36/g36-ahu-a9.ttl": (11, 22, 0),
    "ifc/ifc.ttl": (0, 0, 3),
    "rec-with-brick/building.ttl": (3, 3, 8),
    "solar_array/solar_array.ttl": (7, 3, 0),
}
"""(equipment, points, locations) of each example, as counted by hand from the files."""

BRICK = "https://brickschema.org/schema/Brick#"
REC = "https://w3id.org/rec#"
ROOTS = (
    {BRICK + "Equipment", REC + "Asset"},
    {BRICK + "Point"},
    {BRICK + "Location", REC + "Space", REC + "Architecture"},
)


@cache
def _brick() -> Graph:
    data = pkgutil.get_data("brickschema", "ontologies/1.4/Brick.ttl")
    assert data is not None
    return Graph().parse(data=data.decode("utf-8"), format="turtle")


def _ancestors(graph: Graph, cls: URIRef) -> set[str]:
    """`cls` and everything above it (rdfs:subClassOf, owl:equivalentClass either way)."""
    seen, todo = {cls}, [cls]
    while todo:
        current = todo.pop()
        above = [*graph.objects(current, RDFS.subClassOf), *graph.objects(current, OWL.equivalentClass),
                 *graph.subjects(OWL.equivalentClass, current)]  # fmt: skip
        for parent in above:
            if isinstance(parent, URIRef) and parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return {str(c) for c in seen}


def _independent_counts(path: Path) -> tuple[int, int, int]:
    """Equipment, points and locations in the model, by Brick's (and REC's) hierarchy."""
    model = Graph().parse(path)
    brick = _brick()
    counts = [0, 0, 0]
    for entity in set(model.subjects(RDF.type, None)):
        if not isinstance(entity, URIRef):
            continue
        above = set().union(*(_ancestors(brick, c) for c in model.objects(entity, RDF.type)))
        for i, roots in enumerate(ROOTS):
            counts[i] += bool(above & roots)
    return counts[0], counts[1], counts[2]


def _labels(store: GraphStore) -> dict[str, int]:
    rows = store.read(
        "MATCH (n:Entity) WHERE NOT n:ImportRun UNWIND labels(n) AS l WITH l WHERE l <> 'Entity' "
        "RETURN l AS label, count(*) AS c"
    )
    return {row["label"]: row["c"] for row in rows}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_brick_examples_import_with_exact_counts(embedded_store: GraphStore, model: str) -> None:
    path = BRICK_DATA / model
    equipment, points, locations = _independent_counts(path)
    assert (equipment, points, locations) == MODELS[model]
    import_file(embedded_store, "rdf", path)
    labels = _labels(embedded_store)
    assert labels.get("Unit", 0) == equipment
    assert labels.get("Sensor", 0) == labels.get("Channel", 0) == points
    places = sum(labels.get(label, 0) for label in ("Site", "Building", "Storey", "Space"))
    assert places == locations
    assert set(labels) <= {"Unit", "Sensor", "Channel", "Site", "Building", "Storey", "Space"}


def test_brick_relationships_and_unmapped_classes(embedded_store: GraphStore) -> None:
    report = import_file(
        embedded_store,
        "rdf",
        BRICK_DATA / "g36" / "g36-ahu-a9.ttl",
        ImportOptions(options={"valid_from": "2024-01-01"}),
    )
    assert report.by_type["CONTAINS"].created == 9  # the AHU's dampers, fans, coils; coils' valves
    assert report.by_type["OBSERVES"].created == 22
    assert [w.split(": ", 1)[1] for w in report.warnings] == [
        "1 brick:feeds link(s) not mapped: no Thread relationship between those entities"
    ]
    ahu = embedded_store.read(
        "MATCH (u:Unit {uid: 'unit:AHU/ahu1'})-[r:CONTAINS]->(p:Unit) "
        "RETURN u.brick_class AS cls, collect(DISTINCT r.valid_from) AS since, count(p) AS parts"
    )
    assert ahu == [{"cls": "brick:AHU", "since": ["2024-01-01"], "parts": 7}]
    channel = embedded_store.read(
        "MATCH (s:Sensor {sensor_id: 'oats1'})-[:HAS_CHANNEL]->(c:Channel), (s)-[:OBSERVES]->(u) "
        "RETURN s.brick_class AS cls, c.channel AS channel, u.uid AS unit"
    )
    assert channel == [
        {"cls": "brick:Outside_Air_Temperature_Sensor", "channel": "value", "unit": "unit:AHU/ahu1"}
    ]
    solar = import_file(embedded_store, "rdf", BRICK_DATA / "solar_array" / "solar_array.ttl")
    unmapped = sorted(w.split(": ", 1)[1].split(" not mapped")[0] for w in solar.warnings)
    assert unmapped == [
        "1 entity of class brick:EfficiencyShape",
        "1 entity of class brick:PV_Generation_System",
        "2 entities of class brick:PV_Array",
    ]
    meter = embedded_store.read(
        "MATCH (:Sensor {sensor_id: 'pv_energy'})-[:HAS_CHANNEL]->(c) RETURN c.unit_of_measure AS u"
    )
    assert meter == [{"u": "KiloW-HR"}]


def test_locations_and_their_hierarchy(embedded_store: GraphStore) -> None:
    report = import_file(
        embedded_store, "rdf", BRICK_DATA / "building_meter" / "building_meter.ttl"
    )
    rows = embedded_store.read(
        "MATCH (s:Site)-[:AGGREGATES]->(b:Building)-[:AGGREGATES]->(f:Storey) "
        "RETURN s.uid AS site, b.uid AS building, collect(f.uid) AS floors"
    )
    assert rows[0]["site"] == "site:mysite" and rows[0]["building"] == "ifc:mybldg"
    assert sorted(rows[0]["floors"]) == ["ifc:floor1", "ifc:floor2", "ifc:floor3"]
    series = embedded_store.read(
        "MATCH (:Sensor {sensor_id: 'building_power_sensor'})-[:HAS_CHANNEL]->(c) "
        "RETURN c.timeseries_id AS id, c.unit_of_measure AS unit"
    )
    assert series == [{"id": "fd64fbc8-0742-4e1e-8f88-e2cd8a3d78af", "unit": "KiloW"}]
    again = import_file(embedded_store, "rdf", BRICK_DATA / "building_meter" / "building_meter.ttl")
    assert report.changed and not again.changed


def test_ifc_referenced_entities_bind_to_the_ifc_model(embedded_store: GraphStore) -> None:
    import_file(embedded_store, "ifc", FZK_HAUS)
    spaces = _labels(embedded_store)["Space"]
    report = import_file(embedded_store, "rdf", FZK_BRICK)
    assert _labels(embedded_store)["Space"] == spaces + 1  # the store room the IFC lacks
    bedroom = embedded_store.read(
        "MATCH (s:Space {uid: 'ifc:347jFE2yX7IhCEIALmupEH'}) "
        "RETURN s.name AS name, s.brick_name AS brick_name, s.ifc_class AS ifc, s.brick_class AS brick"
    )
    assert bedroom == [
        {"name": "4", "brick_name": "Bedroom", "ifc": "IfcSpace", "brick": "brick:Room"}
    ]
    bound = embedded_store.read(
        "MATCH (e:BuildingElement)-[:REPRESENTS]->(u:Unit)-[r:LOCATED_IN]->(s:Space) "
        "RETURN e.name AS element, u.uid AS unit, s.name AS space, r.valid_from AS since"
    )
    assert bound == [
        {"element": "Innentuer-1", "unit": "unit:Equipment/door-closer-1", "space": "4",
         "since": "2024-05-01"}
    ]  # fmt: skip
    floor = embedded_store.read(
        "MATCH (f:Storey {uid: 'ifc:2eyxpyOx95m90jmsXLOuR0'})-[:AGGREGATES]->(s:Space) "
        "RETURN f.name AS floor, count(s) AS rooms"
    )
    assert floor[0]["floor"] == "Erdgeschoss" and floor[0]["rooms"] >= 3
    assert report.warnings == []


def test_an_ifc_reference_without_the_ifc_is_a_warning(embedded_store: GraphStore) -> None:
    report = import_file(embedded_store, "rdf", FZK_BRICK)
    assert [w.split(": ", 1)[1] for w in report.warnings] == [
        "REPRESENTS ifc:1Oms875aH3Wg$9l65H2ZGw -> unit:Equipment/door-closer-1 skipped: "
        "no BuildingElement ifc:1Oms875aH3Wg$9l65H2ZGw"
    ]
    assert _labels(embedded_store)["Space"] == 3  # the rooms, keyed by their GlobalIds
