"""The first step of an import: every record collected and checked before the store is
asked about any of them.

An import is all-or-nothing because FalkorDB has no multi-statement transactions, so every
problem a record can have on its own (an unknown label or relationship, a uid of the wrong
shape, a missing required property, a value over a size limit, an interval end on a
relationship that has none) is found here, from the records and the ontology alone, and
raised together as one ValidationError. What needs the graph to decide (whether a
reference exists, whether a uid is already another label) is the plan's to check
(`thread.pipeline.plan`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from thread.errors import Problem, ThreadError, ValidationError
from thread.ontology import Ontology
from thread.ontology.errors import OntologyError
from thread.records import (
    MAX_INDEXED_BYTES,
    IntervalEnd,
    NodeRecord,
    Notice,
    Origin,
    Record,
    RelRecord,
    Samples,
    check_props,
    text_too_long,
    uid_problem,
)

__all__ = ["Collected", "collect", "problem_at", "raise_problems", "validate"]


@dataclass
class Collected:
    """The records of one import, merged: a node by uid and a relationship by (type, src,
    dst, key), so that later records of the same thing add to the earlier ones."""

    nodes: dict[str, NodeRecord] = field(default_factory=dict)
    rels: dict[tuple[str, str, str, str], RelRecord] = field(default_factory=dict)
    ends: list[IntervalEnd] = field(default_factory=list)
    samples: list[Samples] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    truncated: bool = False


def collect(records: Iterable[Record], error_limit: int) -> Collected:
    """Read every record an importer yields, merging repeated ones.

    Raises:
        ValidationError: the importer yielded problems (reading stops at `error_limit`).
        TypeError: something that is not a record was yielded.
    """
    out = Collected()
    for record in records:
        if isinstance(record, NodeRecord):
            _add_node(out, record)
        elif isinstance(record, RelRecord):
            _add_rel(out, record)
        elif isinstance(record, IntervalEnd):
            out.ends.append(record)
        elif isinstance(record, Samples):
            out.samples.append(record)
        elif isinstance(record, Problem):
            out.problems.append(record)
        elif isinstance(record, Notice):
            out.notices.append(record)
        else:
            raise TypeError(f"importers yield records, not {type(record).__name__}")
        if len(out.problems) >= error_limit:
            out.truncated = True
            break
    if out.problems:
        raise ValidationError(out.problems, out.truncated)
    return out


def _add_node(out: Collected, record: NodeRecord) -> None:
    previous = out.nodes.get(record.uid)
    if previous is None:
        out.nodes[record.uid] = record
    elif previous.label != record.label:
        out.problems.append(
            problem_at(
                record.origin,
                f"uid {record.uid} is a {previous.label} above, not a {record.label}",
            )
        )
    else:
        merged = {**previous.props, **record.props}
        out.nodes[record.uid] = NodeRecord(record.label, record.uid, merged, previous.origin)


def _add_rel(out: Collected, record: RelRecord) -> None:
    key = (record.type, record.src, record.dst, record.key)
    previous = out.rels.get(key)
    out.rels[key] = (
        record if previous is None else replace(record, props={**previous.props, **record.props})
    )


def validate(collected: Collected, ontology: Ontology, error_limit: int) -> None:
    """Check the collected records against the ontology and the store's limits.

    Raises:
        ValidationError: with every problem found (up to `error_limit`).
    """
    problems = _node_problems(collected, ontology)
    problems += _relationship_problems(collected, ontology, error_limit - len(problems))
    problems += _end_problems(collected, ontology)
    raise_problems(problems, error_limit)


def _node_problems(collected: Collected, onto: Ontology) -> list[Problem]:
    problems: list[Problem] = []
    by_label: dict[str, list[NodeRecord]] = defaultdict(list)
    for record in collected.nodes.values():
        by_label[record.label].append(record)
    for label, records in by_label.items():
        try:
            info = onto.node_class(label)
        except ThreadError as exc:
            problems.append(problem_at(records[0].origin, str(exc)))
            continue
        indexed = [prop for index_label, prop in onto.indexes if index_label == label]
        for record in records:
            wrong = uid_problem(record.uid)
            if wrong:
                problems.append(problem_at(record.origin, f"uid {_shown(record.uid)} {wrong}"))
                continue
            for prop in indexed:
                value = record.props.get(prop)
                size = text_too_long(value, MAX_INDEXED_BYTES) if type(value) is str else None
                if size:
                    problems.append(
                        problem_at(
                            record.origin,
                            f"{label} {prop} is {size} bytes long; an indexed property may "
                            f"hold at most {MAX_INDEXED_BYTES} bytes",
                        )
                    )
            if not record.uid.startswith(info.uid_prefix + ":"):
                problems.append(
                    problem_at(
                        record.origin,
                        f"uid {record.uid!r} of a {label} must start with '{info.uid_prefix}:'",
                    )
                )
            missing = [p for p in info.required if record.props.get(p) in (None, "")]
            if missing:
                problems.append(
                    problem_at(record.origin, f"{label} {record.uid} lacks {', '.join(missing)}")
                )
            bad = check_props(record.props)
            if bad:
                problems.append(problem_at(record.origin, f"{label} {record.uid}: {bad}"))
    return problems


def _relationship_problems(collected: Collected, onto: Ontology, budget: int) -> list[Problem]:
    """Problems of the relationships, checked one (source, type, target) triple at a time
    until `budget` problems are found."""
    problems: list[Problem] = []
    by_triple: dict[tuple[str, str, str], list[RelRecord]] = defaultdict(list)
    for rec in collected.rels.values():
        by_triple[(rec.src_label, rec.type, rec.dst_label)].append(rec)
    nodes = collected.nodes
    for (src_label, rel_type, dst_label), records in by_triple.items():
        try:
            onto.check_triple(src_label, rel_type, dst_label)
        except ThreadError as exc:
            problems.append(problem_at(records[0].origin, str(exc)))
            continue
        temporal = onto.relation(rel_type).temporal
        for rec in records:
            for uid in (rec.src, rec.dst):
                wrong = uid_problem(uid)
                if wrong:
                    problems.append(
                        problem_at(rec.origin, f"{rel_type} names uid {_shown(uid)}, which {wrong}")
                    )
            for uid, label in ((rec.src, src_label), (rec.dst, dst_label)):
                known = nodes.get(uid)
                if known is not None and known.label != label:
                    problems.append(
                        problem_at(
                            rec.origin,
                            f"{rel_type} expects {uid} to be a {label}, it is a {known.label}",
                        )
                    )
            if temporal and not rec.props.get("valid_from"):
                problems.append(
                    problem_at(rec.origin, f"{rel_type} {rec.src} -> {rec.dst} needs valid_from")
                )
            bad = check_props(rec.props) if rec.props else None
            if bad:
                problems.append(problem_at(rec.origin, f"{rel_type} {rec.src} -> {rec.dst}: {bad}"))
        if len(problems) >= budget:
            break
    return problems


def _end_problems(collected: Collected, onto: Ontology) -> list[Problem]:
    problems: list[Problem] = []
    for end in collected.ends:
        try:
            onto.check_triple(end.src_label, end.type, end.dst_label)
            if not onto.relation(end.type).temporal:
                raise OntologyError(f"{end.type} has no interval to end")
        except ThreadError as exc:
            problems.append(problem_at(end.origin, str(exc)))
        bad = check_props(end.props)
        if bad:
            problems.append(problem_at(end.origin, f"{end.type} {end.src} -> {end.dst}: {bad}"))
    return problems


def raise_problems(problems: Sequence[Problem], error_limit: int) -> None:
    """Raise the problems, if any, as one ValidationError of at most `error_limit`.

    Raises:
        ValidationError: there was at least one problem.
    """
    if problems:
        raise ValidationError(problems[:error_limit], len(problems) > error_limit)


def problem_at(origin: Origin | None, message: str) -> Problem:
    """A problem at the record's origin (file and line), or of the records as a whole."""
    return origin.problem(message) if origin else Problem("<records>", message)


def _shown(uid: str) -> str:
    """A uid as a message shows it: quoted, and cut after 60 characters."""
    return repr(uid) if len(uid) <= 60 else f"{uid[:60]!r}…"
