"""`thread export rdf`: the example thread round-trips through RDF; literals are typed;
bookkeeping stays out unless provenance is asked for; a neighbourhood is closed; Brick
tools can read an exported building."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import typer
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from support.data import NO_SHARED_DATA, SHARED_DATA
from typer.testing import CliRunner

from thread.cli import export_cmds
from thread.cli.main import ThreadGroup, main
from thread.errors import NotFoundError, SourceError
from thread.pipeline.imports import import_file
from thread.pipeline.write import Source, ThreadService
from thread.rdf.export import export_graph, export_rdf
from thread.rdf.vocabulary import NODE_BASE, node_iri
from thread.records import node, rel
from thread.stores import GraphStore
from thread.stores.falkordb_store import FalkorDBStore

TH = Namespace("https://w3id.org/digital-thread#")
BRICK = Namespace("https://brickschema.org/schema/Brick#")
PROV = Namespace("http://www.w3.org/ns/prov#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
BRICK_DATA = (SHARED_DATA or Path("/nonexistent")) / "brick"


def _export(store: GraphStore, fmt: str, path: Path, **options: Any) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        export_rdf(store, handle, fmt, **options)  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("nt", ".nt"), ("turtle", ".ttl"), ("json-ld", ".jsonld")]
)
def test_round_trip_of_the_example_thread_is_isomorphic(
    pump_fleet: GraphStore, embedded_store: GraphStore, tmp_path: Path, fmt: str, suffix: str
) -> None:
    exported = _export(pump_fleet, fmt, tmp_path / f"fleet{suffix}")
    report = import_file(embedded_store, "rdf", exported)
    assert report.warnings == []
    counts = "MATCH (n:Entity) WHERE NOT n:ImportRun RETURN count(n) AS c"
    assert embedded_store.read(counts)[0]["c"] == pump_fleet.read(counts)[0]["c"]
    with warnings.catch_warnings():  # rdflib's JSON-LD parser uses its deprecated ConjunctiveGraph
        warnings.simplefilter("ignore", DeprecationWarning)
        first = Graph().parse(exported, format=fmt)
    again = export_graph(embedded_store)
    assert len(first) == len(again) and isomorphic(first, again)
    assert import_file(embedded_store, "rdf", exported).changed is False  # idempotent


def _small(store: GraphStore) -> None:
    onto = store.ontology
    unit = node(onto, "Unit", {"part_number": "P-1", "serial": "SN-1", "build_date": "2024-02-01",
                               "hours": 12.5, "cycles": 40, "tags": ["a", "b"], "in_service": True})  # fmt: skip
    lot = node(onto, "Lot", {"lot_id": "L-1", "received_date": "2024-13-45"})
    site = node(onto, "Site", {"code": "S-1", "name": 'Plant "North"\nline 2'})
    building = node(onto, "Building", {"global_id": "B-1"})
    storey = node(onto, "Storey", {"global_id": "F-1"})
    sensor = node(onto, "Sensor", {"sensor_id": "S-1"})
    channel = node(
        onto, "Channel", {"sensor_id": "S-1", "channel": "t", "last": "2025-01-01T00:00:00Z"}
    )
    records = [unit, lot, site, building, storey, sensor, channel,
               rel("CONTAINS", unit, lot, {"valid_from": "2024-02-01", "quantity": 2.0}, key="2024-02-01"),
               rel("CONTAINS", unit, lot, {"valid_from": "2025-01-01"}, key="2025-01-01"),
               rel("LOCATED_IN", unit, site, {"valid_from": "2024-02-01", "valid_to": "2024-06-01"}, key="a"),
               rel("LOCATED_IN", unit, storey, {"valid_from": "2024-06-01"}, key="b"),
               rel("AGGREGATES", site, building), rel("AGGREGATES", building, storey),
               rel("OBSERVES", sensor, unit), rel("HAS_CHANNEL", sensor, channel)]  # fmt: skip
    ThreadService(store).import_records(records, Source("test", "small"))


def test_literals_types_and_relationships(embedded_store: GraphStore) -> None:
    _small(embedded_store)
    graph = export_graph(embedded_store)
    unit = URIRef(node_iri("unit:P-1/SN-1"))
    assert set(graph.objects(unit, RDF.type)) == {
        TH.Entity, TH.Unit, BRICK.Equipment, URIRef("https://w3id.org/rec#Asset"),
        URIRef("http://www.w3.org/ns/sosa/Platform"),
    }  # fmt: skip
    assert graph.value(unit, TH.uid) == Literal("unit:P-1/SN-1")  # declared xsd:string: plain
    assert graph.value(unit, TH.build_date) == Literal("2024-02-01", datatype=XSD.date)
    assert graph.value(unit, TH.cycles) == Literal(40)
    assert graph.value(unit, TH.hours) == Literal(12.5, datatype=XSD.double)
    assert graph.value(unit, TH.in_service) == Literal(True)
    assert json.loads(str(graph.value(unit, TH.tags))) == ["a", "b"]
    lot = URIRef(node_iri("lot:L-1"))
    assert graph.value(lot, TH.received_date) == Literal("2024-13-45")  # not a date: a string
    site = URIRef(node_iri("site:S-1"))
    assert str(graph.value(site, TH.name)) == 'Plant "North"\nline 2'
    # two CONTAINS to one lot: one triple, two reified statements with their keys
    assert len(list(graph.triples((unit, TH.CONTAINS, lot)))) == 1
    statements = {
        str(graph.value(s, TH.relationshipKey)): s
        for s in graph.subjects(RDF.predicate, TH.CONTAINS)
    }
    assert set(statements) == {"2024-02-01", "2025-01-01"}
    assert graph.value(statements["2024-02-01"], TH.quantity) == Literal(2.0)
    assert not any(str(p).startswith(str(TH) + "_") for p in graph.predicates())
    assert not list(graph.subjects(RDF.type, TH.ImportRun))
    # alignment: an open location only, the building tree, a channel as a point of the unit
    assert (unit, BRICK.hasLocation, URIRef(node_iri("ifc:F-1"))) in graph
    assert (unit, BRICK.hasLocation, site) not in graph
    assert (URIRef(node_iri("channel:S-1/t")), BRICK.isPointOf, unit) in graph
    floors = graph.query(
        "SELECT ?f WHERE { ?b a brick:Building ; brick:hasPart ?f . ?f a brick:Floor }",
        initNs={"brick": BRICK},
    )
    assert [str(row[0]) for row in floors] == [node_iri("ifc:F-1")]
    plain = export_graph(embedded_store, aligned=False)
    assert not any(str(o).startswith(str(BRICK)) for o in plain.objects(None, RDF.type))
    assert not list(plain.triples((None, BRICK.hasLocation, None)))


def test_json_ld_round_trip(embedded_store: GraphStore, store: GraphStore, tmp_path: Path) -> None:
    _small(embedded_store)
    exported = _export(embedded_store, "json-ld", tmp_path / "small.jsonld")
    import_file(store, "rdf", exported)
    assert isomorphic(export_graph(embedded_store), export_graph(store))


def test_provenance_export(embedded_store: GraphStore) -> None:
    _small(embedded_store)
    graph = export_graph(embedded_store, provenance=True)
    (run,) = graph.subjects(RDF.type, TH.ImportRun)
    assert (run, RDF.type, PROV.Activity) in graph
    unit = URIRef(node_iri("unit:P-1/SN-1"))
    assert graph.value(unit, PROV.wasGeneratedBy) == run
    assert graph.value(unit, PROV.generatedAtTime).datatype == XSD.dateTime


def test_a_neighbourhood_is_closed(pump_fleet: GraphStore) -> None:
    graph = export_graph(pump_fleet, twins=["unit:P-100/SN-0012"], depth=1)
    subjects = {str(s) for s in graph.subjects(RDF.type, TH.Entity)}
    assert node_iri("unit:P-100/SN-0012") in subjects
    assert node_iri("lot:LOT-B-2302") in subjects and node_iri("unit:M-200/MSN-0012") in subjects
    assert node_iri("supplier:SUP-NB") not in subjects  # two hops away
    for s, p, o in graph:
        if str(p).startswith(str(TH)) and isinstance(o, URIRef) and str(o).startswith(NODE_BASE):
            assert str(o) in subjects and (str(s) in subjects or "/rel/" in str(s))
    with pytest.raises(NotFoundError):
        export_graph(pump_fleet, twins=["unit:P-100/SN-9999"])


def test_export_command(pump_fleet: GraphStore, tmp_path: Path) -> None:
    if not isinstance(pump_fleet, FalkorDBStore):
        pytest.skip("the CLI test drives the embedded store")
    app = typer.Typer(cls=ThreadGroup, add_completion=False, pretty_exceptions_enable=False)
    app.callback()(main)
    export = typer.Typer()
    export.command()(export_cmds.rdf)
    app.add_typer(export, name="export")
    store = ["--store", f"embedded:{pump_fleet.folder}#{pump_fleet.graph_name}", "--quiet"]
    out = tmp_path / "fleet.nt"
    result = CliRunner().invoke(
        app, [*store, "export", "rdf", "--format", "nt", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["triples"] == len(Graph().parse(out, format="nt")) > 9000
    nodes = "MATCH (n:Entity) WHERE NOT n:ImportRun AND NOT n:AuditRun RETURN count(n) AS c"
    assert (report["format"], report["nodes"]) == ("nt", pump_fleet.read(nodes)[0]["c"])
    shown = CliRunner().invoke(app, [*store, "export", "rdf", "--format", "json-ld",
                                     "--twin", "twin:P-100/SN-0001", "--depth", "1"])  # fmt: skip
    assert shown.exit_code == 0
    with warnings.catch_warnings():  # rdflib's JSON-LD parser uses its deprecated ConjunctiveGraph
        warnings.simplefilter("ignore", DeprecationWarning)
        assert len(Graph().parse(data=shown.stdout, format="json-ld")) > 10
    bad = CliRunner().invoke(app, [*store, "export", "rdf", "--format", "xml"])
    assert bad.exit_code == 2


@pytest.mark.skipif(SHARED_DATA is None, reason=NO_SHARED_DATA)
def test_brick_models_survive_a_round_trip(embedded_store: GraphStore, tmp_path: Path) -> None:
    """A Brick model imported, exported and imported again gives the same thread."""
    import_file(embedded_store, "rdf", BRICK_DATA / "rec-with-brick" / "building.ttl")
    first = _export(embedded_store, "turtle", tmp_path / "b.ttl")
    text = io.StringIO()
    export_rdf(embedded_store, text, "nt")
    floors = (
        Graph()
        .parse(first)
        .query(
            "SELECT (COUNT(?z) AS ?n) WHERE { ?f a brick:Floor ; brick:hasPart ?z . ?z a brick:Space }",
            initNs={"brick": BRICK},
        )
    )
    assert [int(row[0]) for row in floors] == [2]  # the two zones of Floor1
    assert len(Graph().parse(data=text.getvalue(), format="nt")) == len(Graph().parse(first))


def _parse(path: Path, fmt: str) -> Graph:
    with warnings.catch_warnings():  # rdflib's JSON-LD parser uses its deprecated ConjunctiveGraph
        warnings.simplefilter("ignore", DeprecationWarning)
        return Graph().parse(path, format=fmt)


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("turtle", ".ttl"), ("json-ld", ".jsonld"), ("nt", ".nt")]
)
def test_every_format_parses_to_the_n_triples_export(
    pump_fleet: GraphStore, tmp_path: Path, fmt: str, suffix: str
) -> None:
    """Doubles keep every digit (114.884401515152, not Turtle's short 1.148844e+02)."""
    reference = _parse(_export(pump_fleet, "nt", tmp_path / "fleet.nt"), "nt")
    exported = _parse(_export(pump_fleet, fmt, tmp_path / f"fleet{suffix}"), fmt)
    assert len(exported) == len(reference) and isomorphic(exported, reference)
    doubles = {o for o in reference.objects() if getattr(o, "datatype", None) == XSD.double}
    precise = {o for o in doubles if len(str(o).replace("-", "").replace(".", "")) > 7}
    assert precise and precise <= set(exported.objects())


@pytest.mark.parametrize(("fmt", "suffix"), [("turtle", ".ttl"), ("json-ld", ".jsonld")])
def test_export_import_export_gives_the_same_graph(
    pump_fleet: GraphStore, embedded_store: GraphStore, tmp_path: Path, fmt: str, suffix: str
) -> None:
    reference = _parse(_export(pump_fleet, "nt", tmp_path / "fleet.nt"), "nt")
    import_file(embedded_store, "rdf", _export(pump_fleet, fmt, tmp_path / f"fleet{suffix}"))
    again = _parse(_export(embedded_store, fmt, tmp_path / f"again{suffix}"), fmt)
    assert len(again) == len(reference) and isomorphic(again, reference)
    channel = "channel:PKG-SN-0036/flow"  # its mean, 113.949775700935, has 15 digits
    assert _public(embedded_store, channel) == _public(pump_fleet, channel)
    assert len(repr(_public(embedded_store, channel)["mean"])) > 10


def _public(store: GraphStore, uid: str) -> dict[str, Any]:
    [row] = store.read("MATCH (n:Entity {uid: $uid}) RETURN properties(n) AS p", {"uid": uid})
    return {k: v for k, v in row["p"].items() if not k.startswith("_")}


def _import_cli(store: GraphStore, *args: str) -> Any:
    app = typer.Typer(cls=ThreadGroup, add_completion=False, pretty_exceptions_enable=False)
    app.callback()(main)
    from thread.cli.import_cmds import import_

    app.command("import")(import_)
    spec = f"embedded:{store.folder}#{store.graph_name}"  # type: ignore[attr-defined]
    return CliRunner().invoke(app, ["--store", spec, "--quiet", "import", *args])


def test_json_that_is_not_json_ld_is_an_error_and_writes_nothing(
    embedded_store: GraphStore, tmp_path: Path
) -> None:
    _small(embedded_store)
    before = embedded_store.read("MATCH (n) RETURN count(n) AS c")
    plain = tmp_path / "pumps.json"
    plain.write_text(json.dumps([{"serial": "SN-1", "hours": 12.5}]), encoding="utf-8")
    result = _import_cli(embedded_store, "rdf", str(plain))
    assert result.exit_code == 1
    assert "pumps.json: JSON, but not JSON-LD" in result.stderr and "@context" in result.stderr
    assert embedded_store.read("MATCH (n) RETURN count(n) AS c") == before


def test_rdf_outside_thread_and_brick_is_an_error(
    embedded_store: GraphStore, tmp_path: Path
) -> None:
    other = tmp_path / "other.ttl"
    other.write_text(
        "@prefix s: <https://schema.org/> .\n"
        "<https://example.org/p> a s:Product ; s:name 'pump' .\n"
        "[] a s:Thing ; s:name 'anonymous' .\n",
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match=r"other\.ttl: no triples in Thread's or Brick's vocab"):
        import_file(embedded_store, "rdf", other)
    empty = tmp_path / "empty.ttl"
    empty.write_text("@prefix s: <https://schema.org/> .\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"empty\.ttl: no RDF triples in it"):
        import_file(embedded_store, "rdf", empty)
    assert embedded_store.read("MATCH (n) RETURN count(n) AS c") == [{"c": 0}]
