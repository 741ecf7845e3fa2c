"""RDF: Thread's own export read back, and Brick / RealEstateCore building models.

One file may hold both. A subject typed with a Thread class (`th:Unit`, …) is read back
exactly as `thread.rdf.export` wrote it: its `th:uid`, its `th:` literals (typed literals back to
numbers, booleans, lists; dates to their ISO strings) and its `th:` relationships with the
properties and key of their reified `rdf:Statement`. The alignment triples the export adds
(Brick types, `brick:hasPart`, PROV-O) are derived data and are ignored, so export ->
import into an empty store -> export gives an isomorphic graph.

Any other typed subject is read as a Brick or RealEstateCore entity through
`ontology/alignment.ttl` and Brick's own class hierarchy (the Brick ontology shipped in
the `brickschema` package, in the version the model imports, 1.4 by default), so a
subclass maps like its ancestor:

- locations: Site -> Site (code = the entity's name), Building -> Building, Floor/Level ->
  Storey, every other location (space, room, zone, …) -> Space; a location's key is the
  IFC GlobalId of its `ref:hasExternalReference [ref:ifcGlobalID …]` when it has one (so it
  is the IFC element of that GlobalId, already in the graph or imported later, and keeps
  its IFC name: the Brick label goes to `brick_name`), else its name;
- equipment -> Unit (part number = the Brick class's name, serial = the entity's name); an
  IFC reference binds it with an optional `REPRESENTS` from that IFC element (skipped with
  a warning when the element is not in the graph);
- points -> a Sensor (sensor_id = the entity's name) with one Channel `value` carrying
  the point's unit (`brick:hasUnit`, the QUDT unit's name) and time-series id;
- `hasPart`/`isPartOf` -> AGGREGATES between locations, CONTAINS between equipment;
  `hasLocation`/`isLocationOf` -> LOCATED_IN; `hasPoint`/`isPointOf` -> OBSERVES. CONTAINS
  and LOCATED_IN hold from the `valid_from` option, else the date the model declares
  (dcterms:modified, issued or created on its owl:Ontology), else 1970-01-01 (a warning
  says so).

Every entity records its `iri` and `brick_class`. Classes that map to nothing (systems,
collections, classes outside Brick) and links with no Thread relationship are reported as
warnings with counts. N-Triples are parsed as a stream; the other formats with rdflib.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from thread.clock import TIMESTAMP
from thread.errors import Problem, SourceError
from thread.importers.base import ImportContext, Importer
from thread.ontology import NAMESPACE, Ontology
from thread.records import NodeRecord, Notice, Origin, PropValue, Record, RelRecord, rel

if TYPE_CHECKING:
    pass

__all__ = ["RdfImporter"]

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RDFS = "http://www.w3.org/2000/01/rdf-schema#"
_OWL = "http://www.w3.org/2002/07/owl#"
_XSD = "http://www.w3.org/2001/XMLSchema#"
_BRICK = "https://brickschema.org/schema/Brick#"
_REF = "https://brickschema.org/schema/Brick/ref#"
_DCTERMS = "http://purl.org/dc/terms/"
_TYPE = _RDF + "type"
_PREFIXES = {
    _BRICK: "brick:",
    "https://w3id.org/rec#": "rec:",
    _REF: "ref:",
    NAMESPACE: "th:",
}
_FORMATS = {
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".nt": "nt",
    ".jsonld": "json-ld",
    ".json-ld": "json-ld",
    ".json": "json-ld",
    ".rdf": "xml",
    ".owl": "xml",
    ".xml": "xml",
}
_SCHEMA_NAMESPACES = (_RDF, _RDFS, _OWL, "http://www.w3.org/ns/shacl#")
_LABEL_ORDER = ("Site", "Building", "Storey", "Space", "Unit", "Sensor")
_DEFAULT_VALID_FROM = "1970-01-01"
_BRICK_VERSION = "1.4"


@dataclass
class _Index:
    """The file's triples by subject, without rdflib's full graph indexes."""

    out: dict[Any, list[tuple[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    types: dict[Any, set[str]] = field(default_factory=lambda: defaultdict(set))
    subclass: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    imports: list[str] = field(default_factory=list)

    def triple(self, s: Any, p: Any, o: Any) -> None:
        predicate = str(p)
        if predicate == _TYPE:
            self.types[s].add(str(o))
        elif predicate == _RDFS + "subClassOf":
            self.subclass[str(s)].add(str(o))
        elif predicate == _OWL + "imports":
            self.imports.append(str(o))
        self.out[s].append((predicate, o))

    def value(self, s: Any, predicate: str) -> Any:
        return next((o for p, o in self.out.get(s, ()) if p == predicate), None)

    def values(self, s: Any, predicate: str) -> list[Any]:
        return [o for p, o in self.out.get(s, ()) if p == predicate]


class _Sink:
    """rdflib's N-Triples parser calls `triple` for each line: nothing else is kept."""

    def __init__(self, index: _Index) -> None:
        self.index = index

    def triple(self, s: Any, p: Any, o: Any) -> None:
        self.index.triple(s, p, o)


def _read(path: Path, fmt: str, display: str) -> _Index:
    from rdflib import Graph
    from rdflib.plugins.parsers.ntriples import W3CNTriplesParser

    index = _Index()
    try:
        if fmt == "nt":
            with open(path, "rb") as handle:
                W3CNTriplesParser(_Sink(index)).parse(handle)  # type: ignore[arg-type]
            return index
        graph = Graph()
        with warnings.catch_warnings():
            # rdflib's own JSON-LD parser uses its deprecated ConjunctiveGraph inside
            warnings.simplefilter("ignore", DeprecationWarning)
            graph.parse(path, format=fmt)
    except FileNotFoundError:
        raise SourceError(f"{display}: file not found") from None
    except Exception as exc:  # rdflib's parsers raise many unrelated types
        raise SourceError(f"{display}: not valid {fmt} RDF: {exc}") from None
    for s, p, o in graph:
        index.triple(s, p, o)
    return index


def _python(value: Any) -> PropValue:
    """A literal as the property value the export wrote it from."""
    datatype = str(value.datatype) if value.datatype is not None else None
    if datatype == _RDF + "JSON":
        parsed: PropValue = json.loads(str(value))
        return parsed
    if datatype in (_XSD + "integer", _XSD + "int", _XSD + "long"):
        return int(str(value))
    if datatype in (_XSD + "double", _XSD + "float", _XSD + "decimal"):
        return float(str(value))
    if datatype == _XSD + "boolean":
        return str(value).strip() in ("true", "1")
    if datatype == _XSD + "dateTime":
        moment = value.toPython()
        if isinstance(moment, datetime) and moment.utcoffset() == timedelta(0):
            return moment.strftime(TIMESTAMP)  # rdflib rewrites 'Z' as '+00:00'
    return str(value)


def _local_name(iri: str) -> str:
    text = iri.rstrip("/#")
    for sep in ("#", "/", ":"):
        if sep in text:
            text = text.rsplit(sep, 1)[-1]
    return unquote(text) or iri


def _curie(iri: str) -> str:
    for namespace, prefix in _PREFIXES.items():
        if iri.startswith(namespace):
            return prefix + iri[len(namespace) :]
    return iri


@cache
def _brick_hierarchy(version: str) -> dict[str, frozenset[str]]:
    """Direct superclasses (rdfs:subClassOf and owl:equivalentClass, both ways) of every
    class of the Brick ontology the `brickschema` package ships."""
    import pkgutil

    from rdflib import OWL, RDFS, Graph, URIRef

    data = pkgutil.get_data("brickschema", f"ontologies/{version}/Brick.ttl")
    if data is None:
        raise SourceError(f"the brickschema package has no Brick {version}")
    graph = Graph()
    graph.parse(data=data.decode("utf-8"), format="turtle")
    parents: dict[str, set[str]] = defaultdict(set)
    for child, parent in graph.subject_objects(RDFS.subClassOf):
        if isinstance(parent, URIRef):
            parents[str(child)].add(str(parent))
    for a, b in graph.subject_objects(OWL.equivalentClass):
        if isinstance(b, URIRef):
            parents[str(a)].add(str(b))
            parents[str(b)].add(str(a))
    return {k: frozenset(v) for k, v in parents.items()}


def _brick_version(index: _Index) -> str:
    import pkgutil

    for iri in index.imports:
        parts = iri.rstrip("/").split("/")
        if "brickschema.org" in iri and len(parts) >= 2 and parts[-1] == "Brick":
            version = parts[-2]
            if pkgutil.get_data("brickschema", f"ontologies/{version}/Brick.ttl") is not None:
                return version
    return _BRICK_VERSION


class _Mapper:
    """Which Thread class a Brick/REC class becomes: the nearest mapped ancestor."""

    def __init__(self, hierarchy: dict[str, frozenset[str]], local: dict[str, set[str]]) -> None:
        from thread.rdf.vocabulary import alignment

        self.hierarchy = hierarchy
        self.local = local
        self.targets = alignment().import_classes
        self.cache: dict[str, tuple[int, str] | None] = {}

    def _parents(self, cls: str) -> set[str]:
        return set(self.hierarchy.get(cls, ())) | self.local.get(cls, set())

    def nearest(self, cls: str) -> tuple[int, str] | None:
        """(distance, Thread label) of the closest mapped ancestor of `cls`, or None."""
        if cls in self.cache:
            return self.cache[cls]
        seen, frontier, distance, found = {cls}, [cls], 0, None
        while frontier and found is None:
            hits = sorted(
                (_LABEL_ORDER.index(self.targets[c]), self.targets[c])
                for c in frontier
                if c in self.targets
            )
            if hits:
                found = (distance, hits[0][1])
                break
            following = []
            for c in frontier:
                for parent in self._parents(c):
                    if parent not in seen:
                        seen.add(parent)
                        following.append(parent)
            frontier, distance = following, distance + 1
        self.cache[cls] = found
        return found


def _declared_date(index: _Index) -> str | None:
    for subject, types in index.types.items():
        if _OWL + "Ontology" not in types:
            continue
        for term in ("modified", "issued", "created"):
            value = index.value(subject, _DCTERMS + term)
            if value is not None:
                return str(value)[:10]
    return None


class RdfImporter(Importer):
    kind = "rdf"
    description = (
        "RDF (Turtle, N-Triples, JSON-LD, RDF/XML): Thread's own export, and Brick / "
        "RealEstateCore building models (locations, equipment, points)."
    )
    extensions = (".ttl", ".nt", ".jsonld", ".json-ld", ".rdf", ".owl")

    def records(self, path: Path, context: ImportContext) -> Iterator[Record]:
        """Options: `format` (turtle, nt, json-ld, xml; from the extension otherwise) and
        `valid_from` (the date Brick containment and location links start)."""
        options = dict(context.options)
        unknown = sorted(set(options) - {"format", "valid_from"})
        if unknown:
            raise SourceError(
                f"{context.display}: unknown rdf option(s) {', '.join(unknown)} "
                "(known: format, valid_from)"
            )
        fmt = str(options.get("format") or _FORMATS.get(path.suffix.lower(), ""))
        if fmt not in set(_FORMATS.values()):
            raise SourceError(
                f"{context.display}: cannot tell the RDF format from {path.suffix!r}; "
                "pass --option format=turtle|nt|json-ld|xml"
            )
        if not path.is_file():
            raise SourceError(f"{context.display}: file not found")
        index = _read(path, fmt, context.display)
        origin = Origin(context.display)
        own, foreign = _partition(index, context.onto)
        brick = None
        if foreign:
            valid_from = options.get("valid_from")
            brick = _BrickReader(index, foreign, context.onto, origin, valid_from)
        if not own and (brick is None or not brick.maps_any()):
            raise SourceError(_nothing_to_read(index, fmt, context.display))
        yield from _own_records(index, own, context.onto, origin)
        if brick is not None:
            yield from brick.records()


def _nothing_to_read(index: _Index, fmt: str, display: str) -> str:
    """Why the file gives no record: no triple at all, or no subject Thread can map."""
    if not index.out:
        if fmt == "json-ld":
            return (
                f"{display}: JSON, but not JSON-LD: it gives no RDF triple (expected JSON-LD "
                "with an @context and nodes with @id and @type, as `thread export rdf "
                "--format json-ld` writes)"
            )
        return f"{display}: no RDF triples in it"
    count = sum(len(v) for v in index.out.values())
    return (
        f"{display}: no triples in Thread's or Brick's vocabulary ({count} triple(s), no "
        "named subject typed with a Thread class such as th:Unit, or with a Brick or "
        "RealEstateCore class Thread maps)"
    )


def _partition(index: _Index, onto: Ontology) -> tuple[dict[Any, str], list[Any]]:
    """Subjects typed with a Thread label (-> label) and the other typed subjects."""
    own: dict[Any, str] = {}
    foreign = []
    for subject, types in index.types.items():
        labels = {t[len(NAMESPACE) :] for t in types if t.startswith(NAMESPACE)}
        labels &= set(onto.classes)
        if labels:
            own[subject] = ",".join(sorted(labels))
        elif not all(t.startswith(_SCHEMA_NAMESPACES) for t in types):
            foreign.append(subject)
    return own, foreign


def _own_records(
    index: _Index, own: dict[Any, str], onto: Ontology, origin: Origin
) -> Iterator[Record]:
    from rdflib import Literal

    uids: dict[Any, str] = {}
    for subject, labels in own.items():
        if "," in labels:
            yield Problem(
                origin.source, f"{subject} is typed with several Thread classes: {labels}"
            )
            continue
        props: dict[str, PropValue] = {}
        for predicate, value in index.out[subject]:
            if predicate.startswith(NAMESPACE) and isinstance(value, Literal):
                props[unquote(predicate[len(NAMESPACE) :])] = _python(value)
        uid = props.pop("uid", None)
        if not isinstance(uid, str):
            yield Problem(origin.source, f"{subject} ({labels}) has no th:uid")
            continue
        uids[subject] = uid
        yield NodeRecord(labels, uid, props, origin)
    statements: dict[tuple[str, str, str], list[tuple[str, dict[str, PropValue]]]] = defaultdict(
        list
    )
    for subject, types in index.types.items():
        if _RDF + "Statement" not in types:
            continue
        s = index.value(subject, _RDF + "subject")
        p = str(index.value(subject, _RDF + "predicate"))
        o = index.value(subject, _RDF + "object")
        if s not in uids or o not in uids or not p.startswith(NAMESPACE):
            continue
        key = ""
        props = {}
        for predicate, value in index.out[subject]:
            if not predicate.startswith(NAMESPACE) or not isinstance(value, Literal):
                continue
            if predicate == NAMESPACE + "relationshipKey":
                key = str(value)
            else:
                props[unquote(predicate[len(NAMESPACE) :])] = _python(value)
        statements[(uids[s], p[len(NAMESPACE) :], uids[o])].append((key, props))
    for subject, uid in uids.items():
        for predicate, value in index.out[subject]:
            rel_type = predicate[len(NAMESPACE) :] if predicate.startswith(NAMESPACE) else ""
            if rel_type not in onto.relations or value not in uids:
                continue
            src = (own[subject], uid)
            dst = (own[value], uids[value])
            for key, props in statements.get((uid, rel_type, uids[value]), [("", {})]):
                yield rel(rel_type, src, dst, props, key=key, origin=origin)


class _BrickReader:
    """Brick and RealEstateCore entities as Thread records (see the module docstring)."""

    def __init__(
        self,
        index: _Index,
        subjects: list[Any],
        onto: Ontology,
        origin: Origin,
        valid_from: Any,
    ) -> None:
        from thread.rdf.vocabulary import alignment

        self.index = index
        self.subjects = subjects
        self.onto = onto
        self.origin = origin
        self.valid_from = None if valid_from is None else str(valid_from)[:10]
        self.predicates = alignment().import_predicates
        self.mapper = _Mapper(_brick_hierarchy(_brick_version(index)), index.subclass)
        self.nodes: dict[Any, tuple[str, str]] = {}

    def _classify(self, subject: Any) -> tuple[str | None, str]:
        """(Thread label or None, the class it came from, as a CURIE)."""
        best: tuple[int, int, str, str] | None = None
        for cls in sorted(self.index.types[subject]):
            found = self.mapper.nearest(cls)
            if found is None:
                continue
            candidate = (found[0], _LABEL_ORDER.index(found[1]), found[1], cls)
            if best is None or candidate < best:
                best = candidate
        if best is None:
            return None, _curie(sorted(self.index.types[subject])[0])
        return best[2], _curie(best[3])

    def _ifc_global_id(self, subject: Any) -> str | None:
        for reference in self.index.values(subject, _REF + "hasExternalReference"):
            value = self.index.value(reference, _REF + "ifcGlobalID")
            if value is not None:
                return str(value)
        return None

    def _unit_of_measure(self, subject: Any) -> str | None:
        unit = self.index.value(subject, _BRICK + "hasUnit")
        return None if unit is None else _local_name(str(unit))

    def _timeseries(self, subject: Any) -> str | None:
        for reference in self.index.values(subject, _BRICK + "timeseries"):
            value = self.index.value(reference, _BRICK + "hasTimeseriesId")
            if value is not None:
                return str(value)
        return None

    def _node(self, subject: Any, label: str, brick_class: str) -> Iterator[Record]:
        name = _local_name(str(subject))
        title = self.index.value(subject, _RDFS + "label")
        global_id = self._ifc_global_id(subject)
        # an IFC-referenced location is the IFC element: its IFC name stays its name
        naming = "brick_name" if global_id and label != "Unit" else "name"
        common: dict[str, PropValue] = {
            naming: str(title) if title is not None else name,
            "iri": str(subject),
            "brick_class": brick_class,
        }
        onto = self.onto
        if label == "Site":
            key: dict[str, PropValue] = {"code": name}
        elif label in ("Building", "Storey", "Space"):
            key = {"global_id": global_id or name}
        elif label == "Unit":
            key = {"part_number": brick_class.split(":", 1)[-1], "serial": name}
        else:
            key = {"sensor_id": name}
        props = {**key, **common}
        uid = onto.uid(label, *(str(props[k]) for k in onto.node_class(label).key))
        record = NodeRecord(label, uid, props, self.origin)
        self.nodes[subject] = (label, uid)
        yield record
        if label == "Unit" and global_id:
            element = ("BuildingElement", onto.uid("BuildingElement", global_id))
            yield rel("REPRESENTS", element, record, origin=self.origin, optional=True)
        if label == "Sensor":
            channel_props: dict[str, PropValue] = {
                "sensor_id": name,
                "channel": "value",
                "brick_class": brick_class,
            }
            unit = self._unit_of_measure(subject)
            if unit:
                channel_props["unit_of_measure"] = unit
            series = self._timeseries(subject)
            if series:
                channel_props["timeseries_id"] = series
            channel_uid = onto.uid("Channel", name, "value")
            channel = NodeRecord("Channel", channel_uid, channel_props, self.origin)
            yield channel
            yield rel("HAS_CHANNEL", record, channel, origin=self.origin)

    def _link(self, predicate: str, s: Any, o: Any, since: str) -> RelRecord | None:
        """The Thread relationship for one triple between two mapped entities."""
        for rel_type, reverse in self.predicates.get(predicate, ()):
            src, dst = (self.nodes[o], self.nodes[s]) if reverse else (self.nodes[s], self.nodes[o])
            if (src[0], rel_type, dst[0]) not in self.onto.allowed:
                continue
            if self.onto.relation(rel_type).temporal:
                return rel(rel_type, src, dst, {"valid_from": since}, key=since, origin=self.origin)
            return rel(rel_type, src, dst, origin=self.origin)
        return None

    def maps_any(self) -> bool:
        """Whether some subject becomes an entity (a named one of a mapped class)."""
        from rdflib import BNode

        return any(
            not isinstance(s, BNode) and self._classify(s)[0] is not None for s in self.subjects
        )

    def records(self) -> Iterator[Record]:
        """Blank nodes are the structures Brick hangs on entities (references, time
        series, values): they become properties, never entities of their own."""
        from rdflib import BNode

        unmapped: Counter[str] = Counter()
        for subject in sorted(self.subjects, key=str):
            label, brick_class = self._classify(subject)
            if isinstance(subject, BNode):
                if label is not None:
                    unmapped[f"{brick_class} (a blank node: no name to key it by)"] += 1
                continue
            if label is None:
                unmapped[brick_class] += 1
                continue
            yield from self._node(subject, label, brick_class)
        for cls, count in sorted(unmapped.items()):
            yield Notice(
                f"{count} entit{'y' if count == 1 else 'ies'} of class {cls} not mapped: "
                "no Thread class for it or its superclasses",
                self.origin,
            )
        since = self.valid_from or _declared_date(self.index)
        links: Counter[str] = Counter()
        dated = False
        for subject in self.nodes:
            for predicate, value in self.index.out[subject]:
                if predicate == _TYPE or value not in self.nodes:
                    continue
                record = self._link(predicate, subject, value, since or _DEFAULT_VALID_FROM)
                if record is None:
                    links[_curie(predicate)] += 1
                    continue
                dated = dated or "valid_from" in record.props
                yield record
        if dated and since is None:
            yield Notice(
                f"containment and location links start {_DEFAULT_VALID_FROM}: the model "
                "declares no date; pass --option valid_from=YYYY-MM-DD",
                self.origin,
            )
        for predicate, count in sorted(links.items()):
            yield Notice(
                f"{count} {predicate} link(s) not mapped: no Thread relationship between "
                "those entities",
                self.origin,
            )
