"""The thread as RDF: the whole graph or one entity's neighbourhood, in the ontology's terms.

What a graph becomes (and what `thread.rdf.importing` reads back, so that export, import into
an empty store and export again give isomorphic graphs):

- a node: the IRI `https://w3id.org/digital-thread/id/<uid>` (percent-encoded), typed with
  each of its labels (`th:Entity`, `th:Unit`, …) and, with the alignment, with the Brick,
  RealEstateCore, PROV-O and SOSA classes `ontology/alignment.ttl` aligns them with;
- a property: one `th:<name>` literal. Booleans, integers and floats become
  `xsd:boolean`, `xsd:integer`, `xsd:double`; a list becomes one `rdf:JSON` literal (order
  and types kept); a string stays a plain literal (`xsd:string`), except that a string
  holding a valid date (YYYY-MM-DD) or UTC timestamp (YYYY-MM-DDTHH:MM:SSZ) in a property
  the ontology does not declare as `xsd:string` becomes `xsd:date` or `xsd:dateTime`;
- a relationship: the triple `<src> th:<TYPE> <dst>`, and when it has properties (or a
  key telling it apart from others between the same nodes) an `rdf:Statement` that
  reifies it with those properties and `th:relationshipKey`;
- with the alignment, the predicates aligned with each relationship type (`brick:hasPart`
  for AGGREGATES, `brick:hasLocation` for an open LOCATED_IN, …) and `brick:isPointOf` from
  a channel to what its sensor observes.

Thread's bookkeeping (`_run`, `_updated`, `_src`, `_key`, …) is not exported, and neither
are ImportRun and AuditRun nodes: the export is the thread, not the history of the store.
With `provenance=True` they are: ImportRun and AuditRun nodes are exported like any node
(they are prov:Activity), and each node gets `prov:wasGeneratedBy` its last run and
`prov:generatedAtTime` its `_updated` time.

N-Triples is written as the store is read, page by page, so memory stays flat on large
graphs; Turtle and JSON-LD are built in an rdflib Graph first. Every format keeps each
literal's lexical form (a double as `repr` writes it), so all three parse to the same graph.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TextIO, get_args

from thread.entities import require_entity
from thread.ontology import ENTITY_LABEL, NAMESPACE
from thread.pipeline.write import ProgressCallback
from thread.rdf.vocabulary import (
    NODE_BASE,
    PROV,
    RDF,
    RDF_TYPE,
    RELATIONSHIP_KEY,
    XSD,
    alignment,
    date_type,
    literal,
    node_iri,
    property_iri,
)
from thread.stores.base import GraphStore

if TYPE_CHECKING:
    from rdflib import Graph

__all__ = [
    "FORMATS",
    "PROVENANCE_LABELS",
    "ExportReport",
    "RdfFormat",
    "export_graph",
    "export_rdf",
]

RdfFormat = Literal["turtle", "json-ld", "nt"]
FORMATS: tuple[RdfFormat, ...] = get_args(RdfFormat)
PROVENANCE_LABELS = ("ImportRun", "AuditRun")
"""Nodes that record the store's history; exported only with provenance."""
_PAGE = 100_000


# ----------------------------------------------------------------------------- reading the store

Obj = tuple[str, str, str | None]
"""('iri', iri, None) or ('lit', lexical, datatype IRI or None)."""
Triple = tuple[str, str, Obj]


@dataclass
class ExportReport:
    """What an export wrote."""

    format: str
    nodes: int = 0
    relationships: int = 0
    triples: int = 0
    seconds: float = 0.0

    @property
    def triples_per_second(self) -> float:
        return self.triples / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "nodes": self.nodes,
            "relationships": self.relationships,
            "triples": self.triples,
            "seconds": round(self.seconds, 3),
            "triples_per_second": round(self.triples_per_second),
        }


def _pages(store: GraphStore, query: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Rows of `query` (which ends in ORDER BY … SKIP $skip LIMIT $limit) page by page.

    The ORDER BY is what makes the pages add up: without it a database may return the
    rows of two reads in different orders (Neo4j does), and a page skips or repeats some."""
    skip = 0
    while True:
        rows = store.read(query, {**params, "skip": skip, "limit": _PAGE})
        yield from rows
        if len(rows) < _PAGE:
            return
        skip += _PAGE


def _neighbourhood(
    store: GraphStore, uids: Sequence[str], depth: int, skip_labels: Sequence[str]
) -> set[str]:
    """The uids within `depth` hops of `uids`, either direction, leaving out `skip_labels`."""
    for uid in uids:
        require_entity(store, uid)
    seen, frontier = set(uids), list(dict.fromkeys(uids))
    for _ in range(depth):
        if not frontier:
            break
        # matched from the indexed uid: a label on m would make FalkorDB scan every node
        rows = store.read(
            "UNWIND $uids AS u MATCH (n:Entity {uid: u}) MATCH (n)-[]-(m) WITH m "
            "WHERE none(l IN labels(m) WHERE l IN $skip) RETURN DISTINCT m.uid AS uid",
            {"uids": frontier, "skip": list(skip_labels)},
        )
        frontier = [r["uid"] for r in rows if r["uid"] not in seen]
        seen.update(frontier)
    return seen


class _Exporter:
    """Turns the store's nodes and relationships into triples, in a fixed order."""

    def __init__(
        self,
        store: GraphStore,
        *,
        subset: set[str] | None,
        provenance: bool,
        aligned: bool,
        report: ExportReport,
        progress: ProgressCallback | None,
    ) -> None:
        self.store = store
        self.subset = subset
        self.provenance = provenance
        self.align = alignment()
        self.aligned = aligned
        self.report = report
        self.progress = progress
        self.skip_labels = () if provenance else PROVENANCE_LABELS

    def _labels(self) -> list[str]:
        return [label for label in self.store.ontology.labels if label not in self.skip_labels]

    def _advance(self, phase: str, count: int) -> None:
        if self.progress:
            self.progress(phase, count, None)

    def _subset_nodes(self) -> dict[str, list[dict[str, Any]]]:
        """The subset's nodes by label, looked up by their indexed uid in one query."""
        by_label: dict[str, list[dict[str, Any]]] = {}
        for row in self.store.read(
            "UNWIND $uids AS u MATCH (n:Entity {uid: u}) "
            "RETURN n.uid AS uid, labels(n) AS labels, properties(n) AS p",
            {"uids": sorted(self.subset or ())},
        ):
            label = next((lb for lb in row["labels"] if lb != ENTITY_LABEL), ENTITY_LABEL)
            by_label.setdefault(label, []).append(row)
        return by_label

    def node_triples(self) -> Iterator[Triple]:
        entity = NAMESPACE + ENTITY_LABEL
        strings = self.align.strings
        subset_nodes = self._subset_nodes() if self.subset is not None else {}
        for label in self._labels():
            types = [NAMESPACE + label]
            if self.aligned:
                types += self.align.class_types.get(label, ())
            if self.subset is None:
                rows = _pages(
                    self.store,
                    f"MATCH (n:`{label}`) RETURN n.uid AS uid, properties(n) AS p "
                    "ORDER BY uid SKIP $skip LIMIT $limit",
                    {},
                )
            else:
                rows = iter(subset_nodes.get(label, []))
            for row in rows:
                iri = node_iri(row["uid"])
                yield iri, RDF_TYPE, ("iri", entity, None)
                for cls in types:
                    yield iri, RDF_TYPE, ("iri", cls, None)
                props: dict[str, Any] = row["p"]
                for name in sorted(props):
                    value = props[name]
                    if name.startswith("_") or value is None:
                        continue
                    lexical, datatype = literal(name, value, strings)
                    yield iri, property_iri(name), ("lit", lexical, datatype)
                if self.provenance:
                    if props.get("_run"):
                        yield iri, PROV + "wasGeneratedBy", ("iri", node_iri(props["_run"]), None)
                    updated = props.get("_updated")
                    if updated and date_type(str(updated)) == XSD + "dateTime":
                        yield iri, PROV + "generatedAtTime", ("lit", str(updated), XSD + "dateTime")
                self.report.nodes += 1
                if self.report.nodes % _PAGE == 0:
                    self._advance("nodes", self.report.nodes)

    def _rel_rows(self, rel_type: str) -> Iterator[dict[str, Any]]:
        """Relationships of one type (ImportRun and AuditRun nodes have none)."""
        if self.subset is None:
            return _pages(
                self.store,
                f"MATCH (a)-[r:`{rel_type}`]->(b) "
                "RETURN a.uid AS src, b.uid AS dst, properties(r) AS p "
                "ORDER BY src, dst, p._key SKIP $skip LIMIT $limit",
                {},
            )
        subset = self.subset
        rows = self.store.read(
            f"UNWIND $uids AS u MATCH (a:Entity {{uid: u}}) MATCH (a)-[r:`{rel_type}`]->(b) "
            "RETURN a.uid AS src, b.uid AS dst, properties(r) AS p",
            {"uids": sorted(subset)},
        )
        return (row for row in rows if row["dst"] in subset)

    def relationship_triples(self) -> Iterator[Triple]:
        strings = self.align.strings
        temporal = {r for r, info in self.store.ontology.relations.items() if info.temporal}
        for rel_type in self.store.ontology.relationship_types:
            predicate = NAMESPACE + rel_type
            aligned = self.align.predicates.get(rel_type, ()) if self.aligned else ()
            for row in self._rel_rows(rel_type):
                src, dst = node_iri(row["src"]), node_iri(row["dst"])
                yield src, predicate, ("iri", dst, None)
                props: dict[str, Any] = row["p"]
                key = str(props.get("_key") or "")
                public = {k: v for k, v in props.items() if not k.startswith("_") and v is not None}
                if public or key:
                    digest = hashlib.sha1(
                        "\x1f".join((row["src"], rel_type, row["dst"], key)).encode()
                    ).hexdigest()[:20]
                    statement = f"{NODE_BASE}rel/{digest}"
                    yield statement, RDF_TYPE, ("iri", RDF + "Statement", None)
                    yield statement, RDF + "subject", ("iri", src, None)
                    yield statement, RDF + "predicate", ("iri", predicate, None)
                    yield statement, RDF + "object", ("iri", dst, None)
                    if key:
                        yield statement, RELATIONSHIP_KEY, ("lit", key, None)
                    for name in sorted(public):
                        lexical, datatype = literal(name, public[name], strings)
                        yield statement, property_iri(name), ("lit", lexical, datatype)
                if aligned and (rel_type not in temporal or props.get("valid_to") is None):
                    for other in aligned:
                        yield src, other, ("iri", dst, None)
                self.report.relationships += 1
                if self.report.relationships % _PAGE == 0:
                    self._advance("relationships", self.report.relationships)

    def chain_triples(self) -> Iterator[Triple]:
        if not self.aligned:
            return
        for predicate, inverse, forward in self.align.chains:
            rows = self.store.read(
                f"MATCH (y)-[:`{inverse}`]->(x) MATCH (y)-[:`{forward}`]->(z) "
                "RETURN DISTINCT x.uid AS x, z.uid AS z ORDER BY x, z"
            )
            for row in rows:
                if self.subset is None or (row["x"] in self.subset and row["z"] in self.subset):
                    yield node_iri(row["x"]), predicate, ("iri", node_iri(row["z"]), None)

    def triples(self) -> Iterator[Triple]:
        yield from self.node_triples()
        yield from self.relationship_triples()
        yield from self.chain_triples()


# ----------------------------------------------------------------------------- writing


def _nt_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")


def _write_nt(triples: Iterator[Triple], out: TextIO, report: ExportReport) -> None:
    lines: list[str] = []
    count = 0
    for s, p, (kind, value, datatype) in triples:
        if kind == "iri":
            obj = f"<{value}>"
        elif datatype is None:
            obj = f'"{_nt_escape(value)}"'
        else:
            obj = f'"{_nt_escape(value)}"^^<{datatype}>'
        lines.append(f"<{s}> <{p}> {obj} .\n")
        if len(lines) >= 10000:
            out.write("".join(lines))
            count += len(lines)
            lines.clear()
    out.write("".join(lines))
    report.triples = count + len(lines)


def _to_graph(triples: Iterator[Triple], report: ExportReport) -> Graph:
    from rdflib import Graph, Literal, URIRef

    graph = Graph()
    graph.bind("th", NAMESPACE)
    graph.bind("thid", NODE_BASE)
    graph.bind("brick", "https://brickschema.org/schema/Brick#")
    graph.bind("rec", "https://w3id.org/rec#")
    graph.bind("prov", PROV)
    graph.bind("sosa", "http://www.w3.org/ns/sosa/")
    add = graph.add
    for s, p, (kind, value, datatype) in triples:
        if kind == "iri":
            obj: Any = URIRef(value)
        else:
            obj = Literal(value, datatype=URIRef(datatype) if datatype else None)
        add((URIRef(s), URIRef(p), obj))
    report.triples = len(graph)
    return graph


def _serialize(graph: Graph, fmt: str) -> str:
    """The graph as Turtle or JSON-LD, each literal in its exact lexical form.

    rdflib writes an xsd:double in Turtle's short numeric form with six decimals
    (`f"{value:e}"`), so 114.884401515152 would come back as 114.8844; here a double is
    written quoted and typed, as N-Triples writes it, and reads back as the same literal."""
    if fmt != "turtle":
        return graph.serialize(format=fmt)
    from io import BytesIO

    from rdflib import XSD, Literal
    from rdflib.plugins.serializers.turtle import TurtleSerializer
    from rdflib.term import Node

    class ExactTurtle(TurtleSerializer):
        def label(self, node: Node, position: int) -> str:
            if isinstance(node, Literal) and node.datatype == XSD.double:
                return node._literal_n3(qname_callback=lambda dt: self.get_pname(dt, False))
            return super().label(node, position)

    buffer = BytesIO()
    ExactTurtle(graph).serialize(buffer, encoding="utf-8")
    return buffer.getvalue().decode("utf-8")


def _exporter(
    store: GraphStore,
    fmt: str,
    twins: Sequence[str],
    depth: int,
    provenance: bool,
    aligned: bool,
    progress: ProgressCallback | None,
) -> _Exporter:
    report = ExportReport(fmt)
    skip = () if provenance else PROVENANCE_LABELS
    subset = _neighbourhood(store, twins, depth, skip) if twins else None
    return _Exporter(
        store,
        subset=subset,
        provenance=provenance,
        aligned=aligned,
        report=report,
        progress=progress,
    )


def export_graph(
    store: GraphStore,
    *,
    twins: Sequence[str] = (),
    depth: int = 2,
    provenance: bool = False,
    aligned: bool = True,
) -> Graph:
    """The export as an rdflib Graph (for validation and tests; see export_rdf).

    Raises:
        NotFoundError: one of `twins` is not a uid in the graph.
    """
    exporter = _exporter(store, "graph", twins, depth, provenance, aligned, None)
    return _to_graph(exporter.triples(), exporter.report)


def export_rdf(
    store: GraphStore,
    out: TextIO,
    fmt: RdfFormat = "turtle",
    *,
    twins: Sequence[str] = (),
    depth: int = 2,
    provenance: bool = False,
    aligned: bool = True,
    progress: ProgressCallback | None = None,
) -> ExportReport:
    """Write the graph, or the neighbourhood of `twins` within `depth` hops, as RDF.

    A neighbourhood is closed: the nodes within `depth` hops (either direction) of the
    given uids, and the relationships between them.

    Args:
        out: a text stream (a file opened with encoding utf-8, or stdout).
        fmt: turtle, json-ld or nt (N-Triples, written as it is read: use it for large
            graphs).
        provenance: also export ImportRun/AuditRun nodes and each node's last run.
        aligned: add the Brick/REC/PROV/SOSA types and predicates of alignment.ttl.

    Raises:
        NotFoundError: one of `twins` is not a uid in the graph.
    """
    start = time.perf_counter()
    exporter = _exporter(store, fmt, twins, depth, provenance, aligned, progress)
    report = exporter.report
    if fmt == "nt":
        _write_nt(exporter.triples(), out, report)
    else:
        graph = _to_graph(exporter.triples(), report)
        out.write(_serialize(graph, fmt))
    report.seconds = time.perf_counter() - start
    return report
