"""The ontology's errors: something asks for a label, relationship or triple the ontology
does not define, or the ontology itself is broken."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from thread.errors import ThreadError

if TYPE_CHECKING:
    from thread.ontology import RelationInfo

__all__ = ["InvalidTripleError", "OntologyError", "UnknownLabelError", "UnknownRelationshipError"]


class OntologyError(ThreadError):
    """The ontology is broken, or something asks for what it does not define."""


def _closest(word: str, choices: Iterable[str]) -> str:
    near = difflib.get_close_matches(word, list(choices), n=3)
    return f" (did you mean {', '.join(near)}?)" if near else ""


class UnknownLabelError(OntologyError):
    def __init__(self, label: str, known: Sequence[str]) -> None:
        self.label = label
        super().__init__(
            f"unknown node label {label!r}: not in the ontology{_closest(label, known)}"
        )


class UnknownRelationshipError(OntologyError):
    def __init__(self, rel_type: str, known: Sequence[str]) -> None:
        self.rel_type = rel_type
        super().__init__(
            f"unknown relationship type {rel_type!r}: not in the ontology"
            f"{_closest(rel_type, known)}"
        )


class InvalidTripleError(OntologyError):
    def __init__(self, src: str, rel_type: str, dst: str, relation: RelationInfo) -> None:
        self.triple = (src, rel_type, dst)
        super().__init__(
            f"({src})-[:{rel_type}]->({dst}) is not allowed: {rel_type} goes from "
            f"{'|'.join(sorted(relation.domain))} to {'|'.join(sorted(relation.range))}"
        )
