"""Thread's RDF vocabulary: the IRIs of nodes and properties, literals and their datatypes,
and the alignment with Brick, RealEstateCore, PROV-O and SOSA (`ontology/alignment.ttl`).

The export writes with it and the RDF importer reads with it, so that export, import into
an empty store and export again give isomorphic graphs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from thread import ontology
from thread.clock import TIMESTAMP
from thread.ontology import NAMESPACE
from thread.ontology.errors import OntologyError

if TYPE_CHECKING:
    from rdflib import Graph

__all__ = [
    "NODE_BASE",
    "OWL",
    "PROV",
    "RDF",
    "RDFS",
    "RDF_TYPE",
    "RELATIONSHIP_KEY",
    "XSD",
    "Alignment",
    "alignment",
    "date_type",
    "lexical_form",
    "literal",
    "node_iri",
    "property_iri",
    "string_properties",
]

NODE_BASE = "https://w3id.org/digital-thread/id/"

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XSD = "http://www.w3.org/2001/XMLSchema#"
PROV = "http://www.w3.org/ns/prov#"
OWL = "http://www.w3.org/2002/07/owl#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
RDF_TYPE = RDF + "type"
_JSON = RDF + "JSON"
RELATIONSHIP_KEY = NAMESPACE + "relationshipKey"
_SAFE = "!$&'()*+,;=:@/-._~"
_UNSAFE = re.compile(r"[^A-Za-z0-9!$&'()*+,;=:@/\-._~]")


def node_iri(uid: str) -> str:
    """The IRI of the node `uid` (stable: the uid is)."""
    if _UNSAFE.search(uid) is None:
        return NODE_BASE + uid  # the common case, without quote()'s cost
    return NODE_BASE + quote(uid, safe=_SAFE)


@cache
def property_iri(name: str) -> str:
    return NAMESPACE + quote(name, safe=_SAFE)


def lexical_form(value: Any) -> str:
    """A property value as the lexical form of its RDF literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def date_type(text: str) -> str | None:
    """xsd:date or xsd:dateTime when `text` is a valid one in Thread's forms."""
    if len(text) == 10:
        try:
            date.fromisoformat(text)
        except ValueError:
            return None
        return XSD + "date"
    if len(text) == 20 and text.endswith("Z") and text[10] == "T":
        try:
            datetime.strptime(text, TIMESTAMP)
        except ValueError:
            return None
        return XSD + "dateTime"
    return None


def literal(name: str, value: Any, strings: frozenset[str]) -> tuple[str, str | None]:
    """(lexical form, datatype IRI or None for a plain string) of a property value."""
    if isinstance(value, bool):
        return lexical_form(value), XSD + "boolean"
    if isinstance(value, int):
        return lexical_form(value), XSD + "integer"
    if isinstance(value, float):
        return lexical_form(value), XSD + "double"
    if isinstance(value, list):
        return lexical_form(value), _JSON
    text = str(value)
    return text, None if name in strings else date_type(text)


@dataclass(frozen=True)
class Alignment:
    """What `ontology/alignment.ttl` says, as plain IRIs."""

    class_types: dict[str, tuple[str, ...]]
    predicates: dict[str, tuple[str, ...]]
    chains: tuple[tuple[str, str, str], ...]
    """(predicate, inverse-of relationship A, relationship B): x P z for (y)-[:A]->(x), (y)-[:B]->(z)."""
    import_classes: dict[str, str]
    import_predicates: dict[str, tuple[tuple[str, bool], ...]]
    """predicate IRI -> ((relationship type, reversed), …): the candidates, of which the
    importer takes the one the ontology allows between the two entities' classes."""
    strings: frozenset[str] = field(default_factory=frozenset)


def _local(iri: Any) -> str | None:
    text = str(iri)
    return text[len(NAMESPACE) :] if text.startswith(NAMESPACE) else None


@cache
def alignment() -> Alignment:
    """Parse `ontology/alignment.ttl` once (with the ontology's xsd:string properties)."""
    from rdflib import RDFS as S
    from rdflib import Graph, Namespace, URIRef
    from rdflib.collection import Collection

    th = Namespace(NAMESPACE)
    graph = Graph()
    text = resources.files("thread.ontology").joinpath("alignment.ttl").read_text(encoding="utf-8")
    graph.parse(data=text, format="turtle")
    class_types: dict[str, list[str]] = {}
    for cls, parent in graph.subject_objects(S.subClassOf):
        label = _local(cls)
        if label and _local(parent) is None:
            class_types.setdefault(label, []).append(str(parent))
    predicates: dict[str, list[str]] = {}
    for rel, parent in graph.subject_objects(S.subPropertyOf):
        rel_type = _local(rel)
        if rel_type and _local(parent) is None:
            predicates.setdefault(rel_type, []).append(str(parent))
    chains = []
    for prop, chain in graph.subject_objects(URIRef(OWL + "propertyChainAxiom")):
        first, second = list(Collection(graph, chain))
        inverse = graph.value(first, URIRef(OWL + "inverseOf"))
        a, b = _local(inverse), _local(second)
        if a is None or b is None:
            raise OntologyError(f"alignment.ttl: unsupported property chain for {prop}")
        chains.append((str(prop), a, b))
    import_classes = {}
    import_predicates: dict[str, list[tuple[str, bool]]] = {}
    for ext, target in graph.subject_objects(th.importAs):
        local = _local(target)
        if local in ontology.load().classes:
            import_classes[str(ext)] = local
    for prop, reverse in ((th.importAs, False), (th.importAsInverse, True)):
        for ext, target in graph.subject_objects(prop):
            local = _local(target)
            if local in ontology.load().relations:
                import_predicates.setdefault(str(ext), []).append((local, reverse))
    return Alignment(
        {k: tuple(sorted(v)) for k, v in class_types.items()},
        {k: tuple(sorted(v)) for k, v in predicates.items()},
        tuple(sorted(chains)),
        import_classes,
        {k: tuple(sorted(v)) for k, v in import_predicates.items()},
        string_properties(ontology.ontology_graph()),
    )


def string_properties(onto_graph: Graph) -> frozenset[str]:
    """The datatype properties the ontology declares as xsd:string: exported as plain
    literals whatever their values look like."""
    from rdflib import RDF as R
    from rdflib import RDFS as S
    from rdflib import URIRef

    found = set()
    for prop in onto_graph.subjects(S.range, URIRef(XSD + "string")):
        local = _local(prop)
        if local and (prop, R.type, URIRef(OWL + "DatatypeProperty")) in onto_graph:
            found.add(local)
    return frozenset(found)
