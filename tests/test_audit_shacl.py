"""The ontology's shapes compiled to Cypher find exactly what pySHACL finds on the RDF
export of the same graph (pySHACL is the oracle)."""

from __future__ import annotations

from typing import Any

import pytest

from thread import ontology
from thread.audit.shacl import compile_shapes, run_shapes, shapes_rule
from thread.audit.validate import shacl_results
from thread.ontology.errors import OntologyError
from thread.rdf.export import export_graph
from thread.rdf.vocabulary import lexical_form
from thread.stores import GraphStore

# Written with Cypher, past the service's validation, as another tool (or a bug) could.
BROKEN = [
    # a unit without its serial, with a numeric part number, built to two revisions
    "CREATE (:Entity:Unit {uid: 'unit:P-1/SN-1', part_number: 7})",
    "CREATE (:Entity:PartRevision {uid: 'rev:P-1/A', part_number: 'P-1', revision: 'A'})",
    "CREATE (:Entity:PartRevision {uid: 'rev:P-1/B', part_number: 'P-1', revision: 'B'})",
    "MATCH (u:Unit) MATCH (r:PartRevision) CREATE (u)-[:OF_REVISION {_key: r.uid}]->(r)",
    # a good unit related twice to the same revision: one RDF value, no maxCount violation
    "CREATE (:Entity:Unit {uid: 'unit:P-1/SN-2', part_number: 'P-1', serial: 'SN-2'})",
    "MATCH (u:Unit {uid: 'unit:P-1/SN-2'}) MATCH (r:PartRevision {uid: 'rev:P-1/A'}) "
    "CREATE (u)-[:OF_REVISION {_key: 'x'}]->(r), (u)-[:OF_REVISION {_key: 'y'}]->(r)",
    # a lot supplied by a unit, contained in a revision (sh:class, sh:or)
    "CREATE (:Entity:Lot {uid: 'lot:L-1', lot_id: 'L-1'})",
    "MATCH (l:Lot) MATCH (u:Unit {uid: 'unit:P-1/SN-2'}) CREATE (l)-[:SUPPLIED_BY]->(u)",
    "MATCH (u:Unit {uid: 'unit:P-1/SN-2'}) MATCH (r:PartRevision {uid: 'rev:P-1/B'}) CREATE (u)-[:CONTAINS {valid_from: '2024-01-01'}]->(r)",
    # a part whose number is a list, a supplier whose uid breaks the pattern
    "CREATE (:Entity:Part {uid: 'part:P-1', part_number: ['P', '1']})",
    "CREATE (:Entity:Supplier {uid: 'Supplier S-1', supplier_id: 'S-1'})",
    # an import run in an unknown state without its source, an alert on two units
    "CREATE (:Entity:ImportRun {uid: 'run:1', run_id: '1', status: 'paused'})",
    "CREATE (:Entity:Alert {uid: 'alert:A-1', alert_id: 'A-1'})",
    "MATCH (a:Alert) MATCH (u:Unit) CREATE (a)-[:RAISED_ON]->(u)",
    # a sensor observing a lot and a channel (sh:or over six classes)
    "CREATE (:Entity:Sensor {uid: 'sensor:S', sensor_id: 'S'})-[:HAS_CHANNEL]->"
    "(:Entity:Channel {uid: 'channel:S/x', sensor_id: 'S', channel: 'x'})",
    "MATCH (s:Sensor) MATCH (x) WHERE x:Lot OR x:Channel CREATE (s)-[:OBSERVES]->(x)",
]


def _key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    value = row["value"]
    shown = "" if value is None else value if isinstance(value, str) else lexical_form(value)
    return (row["uid"], row["path"], row["constraint"], shown)


def _compiled(store: GraphStore) -> list[tuple[str, str, str, str]]:
    rows, _ = run_shapes(store, shapes_rule().shapes)
    return sorted(_key(r) for r in rows)


def _oracle(store: GraphStore) -> list[tuple[str, str, str, str]]:
    graph = export_graph(store, provenance=True)
    return sorted(_key(r) for r in shacl_results(graph, ontology.shapes_graph()))


def test_compiled_shapes_find_what_pyshacl_finds(embedded_store: GraphStore) -> None:
    for query in BROKEN:
        embedded_store.write(query)
    compiled = _compiled(embedded_store)
    assert compiled == _oracle(embedded_store)
    assert compiled == sorted(
        {
            ("unit:P-1/SN-1", "serial", "MinCountConstraintComponent", ""),
            ("unit:P-1/SN-1", "part_number", "DatatypeConstraintComponent", "7"),
            ("unit:P-1/SN-1", "OF_REVISION", "MaxCountConstraintComponent", ""),
            ("lot:L-1", "SUPPLIED_BY", "ClassConstraintComponent", "unit:P-1/SN-2"),
            ("unit:P-1/SN-2", "CONTAINS", "OrConstraintComponent", "rev:P-1/B"),
            ("part:P-1", "part_number", "DatatypeConstraintComponent", '["P","1"]'),
            ("Supplier S-1", "uid", "PatternConstraintComponent", "Supplier S-1"),
            ("run:1", "status", "InConstraintComponent", "paused"),
            ("run:1", "source_id", "MinCountConstraintComponent", ""),
            ("alert:A-1", "RAISED_ON", "MaxCountConstraintComponent", ""),
            ("sensor:S", "OBSERVES", "OrConstraintComponent", "lot:L-1"),
            ("sensor:S", "OBSERVES", "OrConstraintComponent", "channel:S/x"),
        }
    )  # and no maxCount on SN-2: its two OF_REVISION point to one revision


def test_the_example_thread_satisfies_the_shapes_both_ways(pump_fleet: GraphStore) -> None:
    assert _compiled(pump_fleet) == _oracle(pump_fleet) == []
    _, targets = run_shapes(pump_fleet, shapes_rule().shapes)
    nodes = pump_fleet.read("MATCH (n:Entity) RETURN count(n) AS c")[0]["c"]
    assert targets > nodes  # every node is an Entity target, and a target of its own class


def _shapes(text: str) -> Any:
    from rdflib import Graph

    prefixes = (
        "@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix th: <https://w3id.org/digital-thread#> .\n"
        "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n"
    )
    return Graph().parse(data=prefixes + text, format="turtle")


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("th:S a sh:NodeShape ; sh:targetNode th:x .", "only one sh:targetClass"),
        ("th:S a sh:NodeShape ; sh:targetClass th:Unit ; sh:property [ sh:path th:serial ; sh:minLength 3 ] .", "sh:minLength is not compiled"),
        ("th:S a sh:NodeShape ; sh:targetClass th:Unit ; sh:property [ sh:path th:build_date ; sh:datatype xsd:date ] .", "sh:datatype is compiled only as xsd:string"),
        ("th:S a sh:NodeShape ; sh:targetClass th:Unit ; sh:property [ sh:path ( th:a th:b ) ] .", "only predicate paths"),
        ("th:S a sh:NodeShape ; sh:targetClass th:Nope .", "not a node label"),
        ("th:S a sh:NodeShape ; sh:targetClass th:Unit ; sh:property [ sh:path th:serial ; sh:class th:Part ] .", "sh:class applies to relationships only"),
    ],
    ids=["target-node", "min-length", "datatype-date", "sequence-path", "unknown-class", "class-on-literal"],
)  # fmt: skip
def test_shapes_outside_the_compiled_subset_are_refused(shape: str, message: str) -> None:
    with pytest.raises(OntologyError, match=message):
        compile_shapes(_shapes(shape), ontology.load(), ontology.ontology_graph())
