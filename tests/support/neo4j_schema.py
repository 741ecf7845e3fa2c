"""Thread's schema as Neo4j's scripted Bolt server plays it (support/boltstub.py): what
opening an empty database sends, and the listing of a database whose schema is complete."""

from __future__ import annotations

from typing import Any

from support.boltstub import tx
from thread import ontology
from thread.stores.neo4j_store import SHOW_INDEXES, schema_statements

__all__ = ["ONTO", "creating_schema", "index_rows", "show_indexes"]

ONTO = ontology.load()


def index_rows(onto: ontology.Ontology) -> list[list[Any]]:
    """SHOW INDEXES of a database where Thread's schema is complete."""
    rows: list[list[Any]] = [
        ["thread_entity_uid", "RANGE", ["Entity"], ["uid"], "thread_entity_uid"],
        ["index_lookup", "LOOKUP", None, None, None],
    ]
    for statement in schema_statements(onto)[2:]:
        label = statement.split("FOR (n:`")[1].split("`")[0]
        prop = statement.split("ON (n.`")[1].split("`")[0]
        rows.append([f"thread_{label}_{prop}", "RANGE", [label], [prop], None])
    return rows


def show_indexes(rows: list[list[Any]], bookmark: str = "bm:schema") -> str:
    """The SHOW INDEXES transaction answering `rows`."""
    return tx(
        SHOW_INDEXES,
        mode="r",
        fields=["name", "type", "labelsOrTypes", "properties", "owningConstraint"],
        records=rows,
        commit_bookmark=bookmark,
    )


def creating_schema() -> list[str]:
    """What opening an empty database sends: the listing, then each statement in its own
    write transaction, each carrying the bookmark of the one before."""
    body = [show_indexes([], bookmark="bm:0")]
    for number, statement in enumerate(schema_statements(ONTO)[1:]):
        body.append(tx(statement, bookmarks=[f"bm:{number}"], commit_bookmark=f"bm:{number + 1}"))
    return body
