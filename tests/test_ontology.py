"""The ontology loader: labels, types, triples, keys and the SHACL shapes."""

from __future__ import annotations

import pytest
from rdflib import RDF, Graph, Literal, Namespace, URIRef

from thread import ontology
from thread.ontology.errors import (
    InvalidTripleError,
    OntologyError,
    UnknownLabelError,
    UnknownRelationshipError,
)

TH = Namespace(ontology.NAMESPACE)
SH = Namespace("http://www.w3.org/ns/shacl#")

LABELS_OTHER_ISSUES_RELY_ON = {
    "Part", "PartRevision", "ChangeOrder", "Supplier", "Lot", "Unit", "AggregateTwin",
    "InstanceTwin", "Sensor", "Channel", "MaintenanceEvent", "Scene", "Prim", "Site",
    "Building", "Storey", "Space", "BuildingElement", "SimulationRun", "ImportRun",
}  # fmt: skip


@pytest.fixture(scope="module")
def onto() -> ontology.Ontology:
    return ontology.load()


def test_labels_the_other_issues_rely_on_exist(onto: ontology.Ontology) -> None:
    assert set(onto.labels) >= LABELS_OTHER_ISSUES_RELY_ON
    assert ontology.ENTITY_LABEL not in onto.labels


def test_load_is_parsed_once() -> None:
    assert ontology.load() is ontology.load()


def test_every_class_has_a_key_and_prefix(onto: ontology.Ontology) -> None:
    for info in onto.classes.values():
        assert info.key, info.label
        assert info.uid_prefix.isalpha(), info.label
        assert set(info.key) <= set(info.required), info.label


def test_keys_and_uids(onto: ontology.Ontology) -> None:
    assert onto.uid("Part", "P-100") == "part:P-100"
    assert onto.uid("PartRevision", "P-100", "B") == "rev:P-100/B"
    assert onto.uid("Unit", "P-100", "SN-0042") == "unit:P-100/SN-0042"
    assert onto.uid("BuildingElement", "2O2Fr$t4X7Zf8NOew3FNr2") == "ifc:2O2Fr$t4X7Zf8NOew3FNr2"
    assert (
        onto.uid("Prim", "plant.usda", "/World/Line1/Pump_03")
        == "prim:plant.usda:/World/Line1/Pump_03"
    )
    assert onto.key_from_uid("Prim", "prim:plant.usda:/World/A") == {
        "scene": "plant.usda",
        "prim_path": "/World/A",
    }
    assert onto.key_from_uid("Unit", "unit:P-100/SN-0042") == {
        "part_number": "P-100",
        "serial": "SN-0042",
    }
    with pytest.raises(OntologyError, match="keyed by part_number, revision"):
        onto.uid("PartRevision", "P-100")
    with pytest.raises(OntologyError, match="not a Unit uid"):
        onto.key_from_uid("Unit", "part:P-100")


def test_triples_follow_domain_range_and_restrictions(onto: ontology.Ontology) -> None:
    assert ("PartRevision", "HAS_COMPONENT", "Part") in onto.allowed
    assert ("Unit", "CONTAINS", "Lot") in onto.allowed
    assert ("Unit", "CONTAINS", "Unit") in onto.allowed
    assert ("InstanceTwin", "TWIN_OF", "Unit") in onto.allowed
    # owl:allValuesFrom narrows the union range of TWIN_OF per twin class
    assert ("InstanceTwin", "TWIN_OF", "PartRevision") not in onto.allowed
    assert ("AggregateTwin", "TWIN_OF", "Unit") not in onto.allowed
    assert onto.relation("CONTAINS").temporal
    assert onto.relation("LOCATED_IN").temporal
    assert not onto.relation("HAS_COMPONENT").temporal


def test_unknown_names_are_errors_naming_them(onto: ontology.Ontology) -> None:
    with pytest.raises(UnknownLabelError, match=r"'Prat'.*did you mean Part"):
        onto.node_class("Prat")
    with pytest.raises(UnknownRelationshipError, match="'CONTAIN'"):
        onto.relation("CONTAIN")
    with pytest.raises(InvalidTripleError, match=r"\(Part\)-\[:CONTAINS\]->\(Lot\) is not allowed"):
        onto.check_triple("Part", "CONTAINS", "Lot")


def test_indexes_cover_keys_and_indexed_properties(onto: ontology.Ontology) -> None:
    assert ("Unit", "serial") in onto.indexes
    assert ("BuildingElement", "ifc_class") in onto.indexes
    assert ("PartRevision", "revision") in onto.indexes


def test_shapes_cover_every_class_key_and_relationship(onto: ontology.Ontology) -> None:
    shapes = ontology.shapes_graph()
    targets = {str(t)[len(ontology.NAMESPACE) :] for t in shapes.objects(None, SH.targetClass)}
    assert set(onto.labels) <= targets
    paths = {str(p)[len(ontology.NAMESPACE) :] for p in shapes.objects(None, SH.path)}
    assert set(onto.relationship_types) <= paths


def _data(triples: list[tuple[URIRef, URIRef, object]]) -> Graph:
    graph = Graph()
    for s, p, o in triples:
        graph.add((s, p, o if isinstance(o, URIRef) else Literal(o)))
    return graph


def test_shapes_accept_a_good_graph_and_reject_a_bad_one() -> None:
    from pyshacl import validate

    ex = Namespace("urn:test:")
    good = _data([
        (ex.p, RDF.type, TH.Part), (ex.p, TH.uid, "part:P-1"), (ex.p, TH.part_number, "P-1"),
        (ex.r, RDF.type, TH.PartRevision), (ex.r, TH.uid, "rev:P-1/A"),
        (ex.r, TH.part_number, "P-1"), (ex.r, TH.revision, "A"),
        (ex.p, TH.HAS_REVISION, ex.r),
    ])  # fmt: skip
    conforms, _, _ = validate(
        good,
        shacl_graph=ontology.shapes_graph(),
        ont_graph=ontology.ontology_graph(),
        inference="none",
    )
    assert conforms

    bad = _data([
        (ex.u, RDF.type, TH.Unit), (ex.u, TH.uid, "unit:P-1/1"), (ex.u, TH.part_number, "P-1"),
        (ex.d, RDF.type, TH.Document), (ex.d, TH.uid, "doc:D-1"), (ex.d, TH.doc_number, "D-1"),
        (ex.u, TH.OF_REVISION, ex.d),
    ])  # fmt: skip
    conforms, _, text = validate(
        bad,
        shacl_graph=ontology.shapes_graph(),
        ont_graph=ontology.ontology_graph(),
        inference="none",
    )
    assert not conforms
    assert "serial" in text  # the missing key
    assert "OF_REVISION" in text  # the wrong endpoint
