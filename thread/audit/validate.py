"""`thread validate`: pySHACL over the RDF export, for shapes users bring themselves.

The ontology's own shapes run faster as the compiled `ontology-shapes` audit rule; this is
for any other SHACL (a customer's, Brick's, a project's), and reports in the same forms as
audits: one result per node shape, with a row per validation result.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from thread.audit.model import AuditUsageError, Severity
from thread.audit.runner import AuditReport, Outcome, RuleResult
from thread.clock import utc_now
from thread.rdf.export import export_graph
from thread.rdf.vocabulary import NODE_BASE
from thread.stores.base import GraphStore

if TYPE_CHECKING:
    from rdflib import Graph

__all__ = ["shacl_results", "validate_store"]

_SH = "http://www.w3.org/ns/shacl#"
_RDF_JSON = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"
_SEVERITY: dict[str, Severity] = {
    _SH + "Violation": "error",
    _SH + "Warning": "warning",
    _SH + "Info": "info",
}


def _term(value: Any) -> Any:
    """A result's focus node or value as the graph knows it: a uid, a value, an IRI."""
    from rdflib import Literal, URIRef

    if isinstance(value, URIRef) and str(value).startswith(NODE_BASE):
        return unquote(str(value)[len(NODE_BASE) :])
    if isinstance(value, Literal):
        if value.datatype is None:
            return str(value)
        if str(value.datatype) == _RDF_JSON:
            return json.loads(str(value))
        native = value.toPython()
        return str(value) if isinstance(native, Literal) else native
    return None if value is None else str(value)


def shacl_results(data: Graph, shapes: Graph) -> list[dict[str, Any]]:
    """pySHACL's validation results as rows: uid (focus node), shape (the node shape),
    path and constraint (local names), value, severity, message."""
    import pyshacl
    from rdflib import RDF, Namespace

    sh = Namespace(_SH)
    _, results, _ = pyshacl.validate(
        data, shacl_graph=shapes, inference="none", advanced=False, allow_warnings=True
    )
    owner = {ps: ns for ns, ps in shapes.subject_objects(sh.property)}
    rows = []
    for result in results.subjects(RDF.type, sh.ValidationResult):
        source = results.value(result, sh.sourceShape)
        node_shape = owner.get(source, source)
        path = results.value(result, sh.resultPath)
        component = str(results.value(result, sh.sourceConstraintComponent))
        rows.append(
            {
                "uid": _term(results.value(result, sh.focusNode)),
                "shape": str(node_shape).rsplit("#", 1)[-1].rsplit("/", 1)[-1],
                "path": None if path is None else str(path).rsplit("#", 1)[-1],
                "constraint": component.removeprefix(_SH),
                "value": _term(results.value(result, sh.value)),
                "severity": _SEVERITY.get(str(results.value(result, sh.resultSeverity)), "error"),
                "message": str(results.value(result, sh.resultMessage) or ""),
            }
        )
    rows.sort(key=lambda r: (str(r["uid"]), str(r["path"]), r["constraint"], str(r["value"])))
    return rows


def validate_store(
    store: GraphStore,
    shapes_path: Path | None = None,
    *,
    twin: str | None = None,
    depth: int = 2,
) -> AuditReport:
    """Export the graph (or a twin's neighbourhood) and validate it with pySHACL against
    `shapes_path` (the ontology's shapes when None); one result per node shape.

    Raises:
        AuditUsageError: the shapes file cannot be read or parsed.
    """
    from rdflib import RDF, Graph, Namespace

    from thread import ontology

    sh = Namespace(_SH)
    if shapes_path is None:
        shapes = ontology.shapes_graph()
        source = "ontology/shapes.ttl"
    else:
        shapes = Graph()
        try:
            shapes.parse(shapes_path)
        except FileNotFoundError:
            raise AuditUsageError(f"{shapes_path}: shapes file not found") from None
        except Exception as exc:  # rdflib raises many parser-specific types
            raise AuditUsageError(f"{shapes_path}: not an RDF shapes file: {exc}") from None
        source = str(shapes_path)
    started = utc_now()
    start = time.perf_counter()
    data = export_graph(store, twins=[twin] if twin else [], depth=depth, provenance=True)
    rows = shacl_results(data, shapes)
    seconds = time.perf_counter() - start
    by_shape: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_shape.setdefault(row["shape"], []).append(row)
    results = []
    for shape in sorted(set(shapes.subjects(RDF.type, sh.NodeShape)), key=str):
        name = str(shape).rsplit("#", 1)[-1].rsplit("/", 1)[-1]
        found = by_shape.get(name, [])
        targets = None
        target = shapes.value(shape, sh.targetClass)
        if target is not None:
            targets = sum(1 for _ in data.subjects(RDF.type, target))
        worst: Severity = "info"
        for row in found:
            if row["severity"] == "error" or (row["severity"] == "warning" and worst == "info"):
                worst = row["severity"]
        outcome: Outcome
        level: Severity | None
        if targets == 0:
            outcome, level, note = "vacuous", None, "checked nothing"
        elif found:
            outcome, level, note = "fail", worst, None
        else:
            outcome, level, note = "pass", None, None
        results.append(
            RuleResult(name, worst if found else "error", f"SHACL node shape {name}", source,
                       outcome, level, targets, len(found), len(found), seconds / max(1, len(by_shape)),
                       {}, found, note)
        )  # fmt: skip
    return AuditReport(
        run_id=f"{started.replace('-', '').replace(':', '')}-{secrets.token_hex(3)}",
        started=started,
        finished=utc_now(),
        as_of=started[:10],
        twin=twin,
        units=None,
        fail_on="error",
        baseline=None,
        results=results,
    )
