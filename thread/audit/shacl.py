"""The ontology's SHACL shapes compiled to Cypher, so the ontology check runs in the store.

pySHACL needs the graph as RDF first (export, parse, validate); on a large thread that is
minutes. The shapes in `ontology/shapes.ttl` use a small part of SHACL, and each of those
constraints has a direct reading on the property graph, given how `thread.rdf.export` exports it
(every node typed with its labels and nothing else, a property as one literal, a list as
one rdf:JSON literal, a relationship as one triple per distinct target):

- `sh:targetClass th:C`: the nodes with label C;
- `sh:path th:p`: the property p, or the targets of relationships of type p;
- `sh:minCount` / `sh:maxCount`: the property present or not (one value at most), the
  number of distinct targets;
- `sh:datatype xsd:string` on a property the ontology declares as xsd:string: the value
  is a string (the export writes those as plain literals);
- `sh:class C` and `sh:or` of `sh:class`: each target carries one of the labels;
- `sh:in`: the value is one of the listed literals;
- `sh:pattern` (with `sh:flags`): evaluated on the values the store returns, because
  FalkorDB has no regular expressions; the selection still happens in the store.

A shape using anything else is refused at compile time (OntologyError naming it), so
the compiled check never silently checks less than the shapes say. The tests hold the
compiled checks to pySHACL's results on the exported graph.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from thread import ontology
from thread.audit.model import Rule
from thread.ontology import ENTITY_LABEL, NAMESPACE, Ontology
from thread.ontology.errors import OntologyError
from thread.rdf.vocabulary import lexical_form, string_properties

if TYPE_CHECKING:
    from rdflib import Graph

    from thread.stores.base import GraphStore

__all__ = [
    "CompiledShape",
    "PropertyCheck",
    "ShapesRule",
    "compile_shapes",
    "run_shapes",
    "shapes_rule",
]

_SH = "http://www.w3.org/ns/shacl#"
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_SUPPORTED = {
    "path",
    "minCount",
    "maxCount",
    "datatype",
    "class",
    "or",
    "in",
    "pattern",
    "flags",
    "message",
    "name",
    "description",
}
_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


@dataclass(frozen=True)
class PropertyCheck:
    """The constraints of one property shape, on a property or a relationship type."""

    shape: str
    label: str
    path: str
    relationship: bool
    min_count: int | None = None
    max_count: int | None = None
    string: bool = False
    classes: tuple[str, ...] = ()
    allowed: tuple[Any, ...] | None = None
    pattern: str | None = None
    flags: int = 0
    message: str | None = None

    def relationship_queries(self) -> list[tuple[str, str]]:
        """(constraint component, Cypher returning focus and value) for each constraint on
        a relationship type."""
        label, path = f"`{self.label}`", f"`{self.path}`"
        out: list[tuple[str, str]] = []
        if self.min_count:
            out.append(
                (
                    "MinCountConstraintComponent",
                    f"MATCH (n:{label}) OPTIONAL MATCH (n)-[:{path}]->(m) "
                    f"WITH n, count(DISTINCT m) AS c WHERE c < {int(self.min_count)} "
                    "RETURN n.uid AS focus, null AS value",
                )
            )
        if self.max_count == 1:  # two distinct targets: several times cheaper than grouping
            out.append(
                (
                    "MaxCountConstraintComponent",
                    f"MATCH (n:{label})-[:{path}]->(a), (n)-[:{path}]->(b) WITH n, a, b "
                    "WHERE a <> b RETURN DISTINCT n.uid AS focus, null AS value",
                )
            )
        elif self.max_count is not None:
            out.append(
                (
                    "MaxCountConstraintComponent",
                    f"MATCH (n:{label})-[:{path}]->(m) WITH n, count(DISTINCT m) AS c "
                    f"WHERE c > {int(self.max_count)} RETURN n.uid AS focus, null AS value",
                )
            )
        if self.classes:
            # the label test after WITH: in WHERE, FalkorDB plans a scan of every node first
            test = " OR ".join(f"m:`{c}`" for c in self.classes)
            single = len(self.classes) == 1
            out.append(
                (
                    "ClassConstraintComponent" if single else "OrConstraintComponent",
                    f"MATCH (n:{label})-[:{path}]->(m) WITH n, m WHERE NOT ({test}) "
                    "RETURN DISTINCT n.uid AS focus, m.uid AS value",
                )
            )
        return out

    def suspect(self) -> str | None:
        """A Cypher condition on `n`, true for every node that may violate this property
        check (None when nothing is checked in the store)."""
        value = f"n.`{self.path}`"
        conditions = []
        if self.min_count:
            conditions.append(f"{value} IS NULL")
        if self.string:
            conditions.append(
                f"({value} IS NOT NULL AND NOT coalesce(toStringOrNull({value}) = {value}, false))"
            )
        if self.allowed is not None:
            conditions.append(f"({value} IS NOT NULL AND NOT {value} IN $allowed_{self.path})")
        if self.pattern is not None:
            conditions.append(f"{value} IS NOT NULL")  # a pattern is tested in Python
        return " OR ".join(conditions) or None

    def violations(self, value: Any) -> list[str]:
        """The constraint components `value` (None: absent) violates, decided exactly as
        the store's condition and the export's literal typing decide them."""
        if value is None:
            return ["MinCountConstraintComponent"] if self.min_count else []
        found = []
        if self.string and not isinstance(value, str):
            found.append("DatatypeConstraintComponent")
        if self.allowed is not None and not any(
            type(value) is type(a) and value == a for a in self.allowed
        ):
            found.append("InConstraintComponent")
        if self.pattern is not None and not re.search(
            self.pattern, lexical_form(value), self.flags
        ):
            found.append("PatternConstraintComponent")
        return found


@dataclass(frozen=True)
class CompiledShape:
    """One node shape: its target label and its property checks."""

    name: str
    label: str
    checks: tuple[PropertyCheck, ...] = field(default_factory=tuple)


def _local(iri: object, what: str) -> str:
    text = str(iri)
    if not text.startswith(NAMESPACE):
        raise OntologyError(f"{what} {text} is outside the Thread namespace")
    return text[len(NAMESPACE) :]


def compile_shapes(shapes: Graph, onto: Ontology, onto_graph: Graph) -> list[CompiledShape]:
    """Compile every node shape of `shapes` against the ontology.

    Raises:
        OntologyError: a shape uses a SHACL feature, target or path this compiler does
            not translate (named in the message).
    """
    from rdflib import RDF, BNode, Literal, Namespace, URIRef
    from rdflib.collection import Collection

    sh = Namespace(_SH)
    strings = string_properties(onto_graph)
    labels = {ENTITY_LABEL, *onto.classes}
    compiled = []
    for shape in sorted(shapes.subjects(RDF.type, sh.NodeShape), key=str):
        name = str(shape).rsplit("#", 1)[-1]
        targets = list(shapes.objects(shape, sh.targetClass))
        others = {
            str(p).removeprefix(_SH)
            for p in shapes.predicates(shape)
            if str(p).startswith(_SH) and p not in (sh.targetClass, sh.property)
        }
        if len(targets) != 1 or others:
            raise OntologyError(
                f"shape {name}: only one sh:targetClass and sh:property are compiled "
                f"(found {len(targets)} targets, {sorted(others)})"
            )
        label = _local(targets[0], f"shape {name} target")
        if label not in labels:
            raise OntologyError(f"shape {name} targets {label}, which is not a node label")
        checks = []
        for prop in shapes.objects(shape, sh.property):
            used = {
                str(p).removeprefix(_SH) for p in shapes.predicates(prop) if str(p).startswith(_SH)
            }
            unsupported = used - _SUPPORTED
            if unsupported:
                raise OntologyError(
                    f"shape {name}: sh:{', sh:'.join(sorted(unsupported))} is not compiled"
                )
            path_node = shapes.value(prop, sh.path)
            if not isinstance(path_node, URIRef):
                raise OntologyError(f"shape {name}: only predicate paths are compiled")
            path = _local(path_node, f"shape {name} path")
            relationship = path in onto.relations
            where = f"shape {name} path {path}"

            def number(term: Any) -> int | None:
                return None if term is None else int(term.toPython())

            datatype = shapes.value(prop, sh.datatype)
            if datatype is not None and (
                relationship or str(datatype) != _XSD_STRING or path not in strings
            ):
                raise OntologyError(
                    f"{where}: sh:datatype is compiled only as xsd:string on a property the "
                    "ontology declares as xsd:string"
                )
            classes: list[str] = []
            single = shapes.value(prop, sh["class"])
            if single is not None:
                classes.append(_local(single, where))
            alternatives = shapes.value(prop, sh["or"])
            if alternatives is not None:
                if single is not None:
                    raise OntologyError(f"{where}: sh:class and sh:or together are not compiled")
                for member in Collection(shapes, alternatives):
                    member_used = set(shapes.predicates(member))
                    if not isinstance(member, BNode) or member_used != {sh["class"]}:
                        raise OntologyError(f"{where}: sh:or is compiled only over sh:class")
                    classes.append(_local(shapes.value(member, sh["class"]), where))
            if classes and not relationship:
                raise OntologyError(f"{where}: sh:class applies to relationships only")
            unknown = sorted(set(classes) - labels)
            if unknown:
                raise OntologyError(f"{where}: unknown classes {unknown}")
            listed = shapes.value(prop, sh["in"])
            allowed = None
            if listed is not None:
                members = list(Collection(shapes, listed))
                literals = [m for m in members if isinstance(m, Literal)]
                if relationship or len(literals) < len(members):
                    raise OntologyError(f"{where}: sh:in is compiled on literal properties only")
                allowed = tuple(m.toPython() for m in literals)
            pattern = shapes.value(prop, sh.pattern)
            if pattern is not None and relationship:
                raise OntologyError(f"{where}: sh:pattern applies to properties only")
            flags = 0
            for char in str(shapes.value(prop, sh.flags) or ""):
                flags |= _FLAGS.get(char, 0)
            message = shapes.value(prop, sh.message)
            checks.append(
                PropertyCheck(
                    shape=name,
                    label=label,
                    path=path,
                    relationship=relationship,
                    min_count=number(shapes.value(prop, sh.minCount)),
                    max_count=number(shapes.value(prop, sh.maxCount)),
                    string=datatype is not None,
                    classes=tuple(classes),
                    allowed=allowed,
                    pattern=None if pattern is None else str(pattern),
                    flags=flags,
                    message=None if message is None else str(message),
                )
            )
        checks.sort(key=lambda c: c.path)
        compiled.append(CompiledShape(name, label, tuple(checks)))
    return compiled


@cache
def _ontology_shapes() -> tuple[CompiledShape, ...]:
    return tuple(
        compile_shapes(ontology.shapes_graph(), ontology.load(), ontology.ontology_graph())
    )


_WHAT = {
    "MinCountConstraintComponent": "is missing",
    "MaxCountConstraintComponent": "has too many values",
    "DatatypeConstraintComponent": "is not a string",
    "ClassConstraintComponent": "points to a node of the wrong class",
    "OrConstraintComponent": "points to a node of the wrong class",
    "InConstraintComponent": "has a value outside the allowed ones",
    "PatternConstraintComponent": "does not match the pattern",
}


def _row(check: PropertyCheck, component: str, focus: str, value: Any) -> dict[str, Any]:
    what = _WHAT[component]
    if component in ("ClassConstraintComponent", "OrConstraintComponent"):
        what += f" ({value}; expected {' or '.join(check.classes)})"
    elif component == "MaxCountConstraintComponent":
        what += f" (at most {check.max_count})"
    elif component == "PatternConstraintComponent":
        what += f" {check.pattern}"
    elif component == "InConstraintComponent" and check.allowed is not None:
        what += f" ({', '.join(str(a) for a in check.allowed)})"
    message = f"{check.label} {focus}: {check.path} {what}"
    if check.message:
        message += f": {check.message}"
    return {
        "uid": focus,
        "message": message,
        "shape": check.shape,
        "path": check.path,
        "constraint": component,
        "value": value,
    }


def _property_rows(
    store: GraphStore, label: str, checks: list[PropertyCheck]
) -> list[dict[str, Any]]:
    """Violations of the property checks of one label, in one scan: the store narrows
    to the suspect nodes and returns their values as parallel lists (which the client
    reads several times faster than rows); Python decides each constraint."""
    suspects = [c.suspect() for c in checks]
    if not any(suspects):
        return []
    # a pattern is tested on every value: then every node comes back, and a uid is read
    # once (EntityShape's pattern on uid reads nothing else)
    where = ""
    if not any(c.pattern for c in checks):
        where = "WHERE " + " OR ".join(f"({c})" for c in suspects if c)
    values = "".join(
        f", collect([n.`{c.path}`]) AS v{i}" for i, c in enumerate(checks) if c.path != "uid"
    )
    params = {f"allowed_{c.path}": list(c.allowed) for c in checks if c.allowed is not None}
    (found,) = store.read(
        f"MATCH (n:`{label}`) {where} RETURN collect(n.uid) AS focus{values}", params
    )
    rows = []
    for i, focus in enumerate(found["focus"]):
        for k, check in enumerate(checks):
            value = focus if check.path == "uid" else found[f"v{k}"][i][0]
            for component in check.violations(value):
                rows.append(_row(check, component, focus, value))
    return rows


def run_shapes(
    store: GraphStore, shapes: tuple[CompiledShape, ...]
) -> tuple[list[dict[str, Any]], int]:
    """Every violation of the compiled shapes (one row per focus node and constraint, and
    per value where SHACL reports values), and the number of focus nodes checked.

    Labels without nodes and relationship types absent from the graph are skipped: they
    cannot hold a violation."""
    counts = {
        row["label"]: row["c"]
        for row in store.read(
            "MATCH (n:Entity) UNWIND labels(n) AS label RETURN label, count(*) AS c"
        )
    }
    types = {
        row["t"]
        for row in store.read("CALL db.relationshipTypes() YIELD relationshipType AS t RETURN t")
    }
    rows: list[dict[str, Any]] = []
    targets = 0
    for shape in shapes:
        if not counts.get(shape.label):
            continue
        targets += counts[shape.label]
        rows.extend(
            _property_rows(store, shape.label, [c for c in shape.checks if not c.relationship])
        )
        for check in shape.checks:
            if not check.relationship or check.path not in types:
                continue
            for component, query in check.relationship_queries():
                for hit in store.read(query):
                    rows.append(_row(check, component, hit["focus"], hit["value"]))
    rows.sort(key=lambda r: (r["uid"], r["path"], r["constraint"], str(r["value"])))
    return rows, targets


@dataclass(frozen=True)
class ShapesRule(Rule):
    """The ontology's SHACL shapes as one audit rule, compiled to Cypher."""

    shapes: tuple[CompiledShape, ...] = ()

    def evaluate(
        self, store: GraphStore, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], int | None]:
        return run_shapes(store, self.shapes)


def shapes_rule() -> ShapesRule:
    """The `ontology-shapes` rule over `ontology/shapes.ttl`."""
    return ShapesRule(
        id="ontology-shapes",
        severity="error",
        description="Every node satisfies the ontology's SHACL shapes (keys, uid form, relationship targets), checked in the store.",
        shapes=_ontology_shapes(),
    )
