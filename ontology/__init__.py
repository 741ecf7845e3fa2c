"""The Thread ontology: the single source of node labels, relationship types and keys.

`thread.ttl` (OWL) and `shapes.ttl` (SHACL) are parsed once with rdflib and turned into
plain Python facts that the stores, the service and the importers use. Nothing else in
Thread names a label or a relationship type that this module has not approved, which is
what makes it safe to place them in Cypher text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from thread.ontology.errors import (
    InvalidTripleError,
    OntologyError,
    UnknownLabelError,
    UnknownRelationshipError,
)

if TYPE_CHECKING:
    from rdflib import Graph
    from rdflib.term import Node

__all__ = [
    "ENTITY_LABEL",
    "NAMESPACE",
    "ClassInfo",
    "Ontology",
    "RelationInfo",
    "load",
    "ontology_graph",
    "shapes_graph",
]

NAMESPACE = "https://w3id.org/digital-thread#"
ENTITY_LABEL = "Entity"
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ClassInfo:
    """One node label: its uid prefix, natural key and required properties."""

    label: str
    uid_prefix: str
    key: tuple[str, ...]
    required: tuple[str, ...]
    comment: str
    key_separator: str = "/"


@dataclass(frozen=True)
class RelationInfo:
    """One relationship type with the labels it may connect."""

    type: str
    domain: frozenset[str]
    range: frozenset[str]
    temporal: bool
    comment: str


class Ontology:
    """Labels, relationship types, allowed triples, keys and indexes derived from the OWL."""

    def __init__(
        self,
        classes: dict[str, ClassInfo],
        relations: dict[str, RelationInfo],
        allowed: frozenset[tuple[str, str, str]],
        indexes: tuple[tuple[str, str], ...],
    ) -> None:
        self.classes = classes
        self.relations = relations
        self.allowed = allowed
        self.indexes = indexes

    @property
    def labels(self) -> list[str]:
        """Node labels, sorted (the shared `Entity` label is not among them)."""
        return sorted(self.classes)

    @property
    def relationship_types(self) -> list[str]:
        return sorted(self.relations)

    def node_class(self, label: str) -> ClassInfo:
        """The class of `label`, or UnknownLabelError naming it."""
        try:
            return self.classes[label]
        except KeyError:
            raise UnknownLabelError(label, sorted(self.classes)) from None

    def relation(self, rel_type: str) -> RelationInfo:
        """The relationship type `rel_type`, or UnknownRelationshipError naming it."""
        try:
            return self.relations[rel_type]
        except KeyError:
            raise UnknownRelationshipError(rel_type, sorted(self.relations)) from None

    def check_triple(self, src_label: str, rel_type: str, dst_label: str) -> None:
        """Raise unless (src_label)-[rel_type]->(dst_label) is allowed by the ontology."""
        self.node_class(src_label)
        self.node_class(dst_label)
        relation = self.relation(rel_type)
        if (src_label, rel_type, dst_label) not in self.allowed:
            raise InvalidTripleError(src_label, rel_type, dst_label, relation)

    def uid(self, label: str, *key_values: str) -> str:
        """The uid of a `label` node with this natural key: `<prefix>:<k1>/<k2>…`."""
        info = self.classes.get(label) or self.node_class(label)
        if len(key_values) != len(info.key):
            raise OntologyError(
                f"{label} is keyed by {', '.join(info.key)}; got {len(key_values)} value(s)"
            )
        values = [v if type(v) is str else str(v) for v in key_values]
        if not all(values):
            raise OntologyError(f"{label} key {', '.join(info.key)} has an empty value")
        return f"{info.uid_prefix}:{info.key_separator.join(values)}"

    def key_from_uid(self, label: str, uid: str) -> dict[str, str]:
        """Split a uid back into its key properties (used for placeholder nodes)."""
        info = self.node_class(label)
        prefix, sep, rest = uid.partition(":")
        if not sep or prefix != info.uid_prefix or not rest:
            raise OntologyError(f"uid {uid!r} is not a {label} uid ('{info.uid_prefix}:…')")
        parts = rest.split(info.key_separator, len(info.key) - 1)
        if len(parts) != len(info.key):
            raise OntologyError(
                f"uid {uid!r} does not hold the {len(info.key)} key values of {label}"
            )
        return dict(zip(info.key, parts, strict=True))

    def labels_for_prefix(self, prefix: str) -> list[str]:
        return sorted(c.label for c in self.classes.values() if c.uid_prefix == prefix)


def _read_ttl(name: str) -> Graph:
    from rdflib import Graph

    graph = Graph()
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    graph.parse(data=text, format="turtle")
    return graph


@cache
def ontology_graph() -> Graph:
    """The OWL ontology as an rdflib Graph (parsed once per process)."""
    return _read_ttl("thread.ttl")


@cache
def shapes_graph() -> Graph:
    """The SHACL shapes as an rdflib Graph (parsed once per process)."""
    return _read_ttl("shapes.ttl")


@cache
def load() -> Ontology:
    """Parse the ontology and shapes once and derive the facts the code needs."""
    from rdflib import OWL, RDF, RDFS, Literal, Namespace, URIRef
    from rdflib.collection import Collection

    th = Namespace(NAMESPACE)
    sh = Namespace("http://www.w3.org/ns/shacl#")
    graph = ontology_graph()
    shapes = shapes_graph()

    def local(node: object) -> str:
        text = str(node)
        if not text.startswith(NAMESPACE):
            raise OntologyError(f"{text} is outside the Thread namespace")
        name = text[len(NAMESPACE) :]
        if not _IDENTIFIER.match(name):
            raise OntologyError(f"{name!r} cannot be a label, type or property name")
        return name

    def members(node: Node) -> set[str]:
        """A class or an owl:unionOf list of classes, as local names."""
        if isinstance(node, URIRef):
            return {local(node)}
        union = graph.value(node, OWL.unionOf)
        if union is None:
            raise OntologyError(f"unsupported class expression {node}")
        return {local(item) for item in Collection(graph, union)}

    def comment(node: URIRef) -> str:
        return str(graph.value(node, RDFS.comment) or "")

    required_by_class: dict[str, set[str]] = {}
    for shape in shapes.subjects(RDF.type, sh.NodeShape):
        target = shapes.value(shape, sh.targetClass)
        if target is None:
            continue
        for prop in shapes.objects(shape, sh.property):
            min_count = shapes.value(prop, sh.minCount)
            if min_count is not None and int(str(min_count)) >= 1:  # a literal's lexical form
                path = shapes.value(prop, sh.path)
                required_by_class.setdefault(local(target), set()).add(local(path))

    classes: dict[str, ClassInfo] = {}
    for cls in graph.subjects(RDF.type, OWL.Class):
        prefix = graph.value(cls, th.uidPrefix)
        if not isinstance(cls, URIRef) or prefix is None:
            continue
        label = local(cls)
        key_list = graph.value(cls, OWL.hasKey)
        if key_list is None:
            raise OntologyError(f"class {label} has a uid prefix but no owl:hasKey")
        key = tuple(local(p) for p in Collection(graph, key_list))
        required = tuple(sorted(required_by_class.get(label, set()) | set(key)))
        separator = str(graph.value(cls, th.keySeparator) or "/")
        classes[label] = ClassInfo(label, str(prefix), key, required, comment(cls), separator)

    narrowing: dict[tuple[str, str], set[str]] = {}
    for class_name in classes:
        for parent in graph.objects(th[class_name], RDFS.subClassOf):
            if (parent, RDF.type, OWL.Restriction) not in graph:
                continue
            on = graph.value(parent, OWL.onProperty)
            values = graph.value(parent, OWL.allValuesFrom)
            if on is not None and values is not None:
                narrowing[(class_name, local(on))] = members(values)

    relations: dict[str, RelationInfo] = {}
    allowed: set[tuple[str, str, str]] = set()
    for prop in graph.subjects(RDF.type, OWL.ObjectProperty):
        if not isinstance(prop, URIRef) or not str(prop).startswith(NAMESPACE):
            continue
        rel_type = local(prop)
        domain_node = graph.value(prop, RDFS.domain)
        range_node = graph.value(prop, RDFS.range)
        if domain_node is None or range_node is None:
            raise OntologyError(f"relationship {rel_type} needs rdfs:domain and rdfs:range")
        domain, range_ = members(domain_node), members(range_node)
        unknown = (domain | range_) - set(classes)
        if unknown:
            raise OntologyError(f"relationship {rel_type} names unknown classes {sorted(unknown)}")
        temporal = graph.value(prop, th.temporal) == Literal(True)
        relations[rel_type] = RelationInfo(
            rel_type, frozenset(domain), frozenset(range_), temporal, comment(prop)
        )
        for src in domain:
            for dst in narrowing.get((src, rel_type), range_) & range_:
                allowed.add((src, rel_type, dst))

    indexes: set[tuple[str, str]] = set()
    for prop in graph.subjects(th.indexed, Literal(True)):
        domain_node = graph.value(prop, RDFS.domain)
        if domain_node is None:
            raise OntologyError(f"indexed property {local(prop)} needs an rdfs:domain")
        for label in members(domain_node):
            if label in classes:
                indexes.add((label, local(prop)))
    for info in classes.values():
        indexes.update((info.label, k) for k in info.key)

    return Ontology(classes, relations, frozenset(allowed), tuple(sorted(indexes)))
