"""The contract every store fulfils, run against each available backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thread.errors import QueryError, QueryTimeoutError, ReadOnlyError
from thread.ontology.errors import InvalidTripleError, UnknownLabelError
from thread.stores import GraphStore
from thread.stores.base import GraphStore as BaseStore


def _part(uid: str, **props: object) -> dict[str, object]:
    return {"uid": uid, "props": {"part_number": uid.split(":", 1)[1], **props}}


def _count(store: GraphStore, query: str, **params: object) -> int:
    return int(store.read(query, params)[0]["c"])


def test_an_incomplete_backend_fails_at_construction() -> None:
    class Half(BaseStore):
        kind = "half"

        def read(self, query, params=None, *, timeout_ms=None):  # type: ignore[no-untyped-def]
            return []

    with pytest.raises(TypeError, match="abstract"):
        Half()  # type: ignore[abstract]


def test_node_upsert_is_idempotent_and_merges_properties(store: GraphStore) -> None:
    assert store.upsert_nodes("Part", [_part("part:A", name="first")]) == 1
    store.upsert_nodes("Part", [_part("part:A", name="second", mass=1.5)])
    rows = store.read("MATCH (n:Part) RETURN n")
    assert len(rows) == 1
    node = rows[0]["n"]
    assert node["name"] == "second" and node["mass"] == 1.5
    assert node["_labels"] == ["Entity", "Part"]


def test_relationship_upsert_is_idempotent_and_keyed(store: GraphStore) -> None:
    store.upsert_nodes(
        "PartRevision", [{"uid": "rev:A/1", "props": {"part_number": "A", "revision": "1"}}]
    )
    store.upsert_nodes("Part", [_part("part:B")])
    line = {"src": "rev:A/1", "dst": "part:B", "key": "10", "props": {"quantity": 2}}
    for _ in range(2):
        assert store.upsert_relationships("HAS_COMPONENT", "PartRevision", "Part", [line]) == 1
    assert _count(store, "MATCH ()-[r:HAS_COMPONENT]->() RETURN count(r) AS c") == 1
    # another find number is another BOM line between the same two nodes
    store.upsert_relationships("HAS_COMPONENT", "PartRevision", "Part", [{**line, "key": "20"}])
    rows = store.read("MATCH ()-[r:HAS_COMPONENT]->() RETURN r ORDER BY r._key")
    assert [r["r"]["_key"] for r in rows] == ["10", "20"]
    assert rows[0]["r"]["_type"] == "HAS_COMPONENT" and rows[0]["r"]["quantity"] == 2


def test_writes_larger_than_a_batch_are_all_written(store: GraphStore) -> None:
    count = 2 * store.batch_size + 7
    parts = [_part(f"part:B{i}", name=f"n{i}") for i in range(count)]
    assert store.upsert_nodes("Part", parts) == count
    revisions = [
        {"uid": f"rev:B{i}/A", "props": {"part_number": f"B{i}", "revision": "A"}}
        for i in range(count)
    ]
    store.upsert_nodes("PartRevision", revisions)
    rels = [
        {"src": f"part:B{i}", "dst": f"rev:B{i}/A", "key": "", "props": {}} for i in range(count)
    ]
    assert store.upsert_relationships("HAS_REVISION", "Part", "PartRevision", rels) == count
    assert (
        _count(store, "MATCH (:Part)-[r:HAS_REVISION]->(:PartRevision) RETURN count(r) AS c")
        == count
    )
    last = store.read(
        "MATCH (n:Part {uid: $uid}) RETURN n.name AS v", {"uid": f"part:B{count - 1}"}
    )
    assert last == [{"v": f"n{count - 1}"}]


def test_relationship_to_a_missing_node_is_not_written(store: GraphStore) -> None:
    store.upsert_nodes("Part", [_part("part:B")])
    row = {"src": "rev:nope/1", "dst": "part:B", "key": "", "props": {}}
    assert store.upsert_relationships("HAS_COMPONENT", "PartRevision", "Part", [row]) == 0


def test_uid_is_unique_across_labels(store: GraphStore) -> None:
    store.upsert_nodes("Part", [_part("part:A")])
    with pytest.raises(QueryError):
        store.write("CREATE (n:Entity:Supplier {uid: $uid})", {"uid": "part:A"})
    assert _count(store, "MATCH (n:Entity {uid: 'part:A'}) RETURN count(n) AS c") == 1


NASTY = [
    "quote \" and ' and `backtick`",
    "back\\slash \\n not a newline, \\\\ two",
    "unicode: Überprüfung 日本語 🚀 \u00a0nbsp",
    "}) MATCH (n) DETACH DELETE n //",
    "$rows ${x} {{ }} /* comment */",
    "line\nbreak\ttab\rreturn",
]


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_values_are_stored_verbatim(store: GraphStore, text: str) -> None:
    store.upsert_nodes("Part", [_part("part:N", name=text, tags=[text, "x"])])
    node = store.read("MATCH (n:Part {uid: $uid}) RETURN n", {"uid": "part:N"})[0]["n"]
    assert node["name"] == text
    assert node["tags"] == [text, "x"]
    assert _count(store, "MATCH (n:Entity) RETURN count(n) AS c") == 1


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60
    )
)
def test_any_text_round_trips(store: GraphStore, text: str) -> None:
    store.upsert_nodes("Part", [_part("part:H", name=text)])
    assert store.read("MATCH (n:Part {uid: 'part:H'}) RETURN n.name AS v")[0]["v"] == text
    assert (
        store.read("MATCH (n:Part) WHERE n.name = $v RETURN count(n) AS c", {"v": text})[0]["c"]
        == 1
    )


def test_reads_refuse_writes(store: GraphStore) -> None:
    with pytest.raises(ReadOnlyError):
        store.read("CREATE (n:Entity:Part {uid: 'part:W'})")
    with pytest.raises(ReadOnlyError):
        store.read("MERGE (n:Entity:Part {uid: 'part:W'}) RETURN n")
    assert _count(store, "MATCH (n) RETURN count(n) AS c") == 0


def test_labels_and_types_outside_the_ontology_are_refused(store: GraphStore) -> None:
    with pytest.raises(UnknownLabelError, match="Widget"):
        store.upsert_nodes("Widget", [{"uid": "w:1", "props": {}}])
    with pytest.raises(UnknownLabelError):
        store.upsert_nodes("Part`) DETACH DELETE (n", [{"uid": "w:1", "props": {}}])
    with pytest.raises(InvalidTripleError):
        store.upsert_relationships("CONTAINS", "Part", "Lot", [])
    assert _count(store, "MATCH (n) RETURN count(n) AS c") == 0


def test_schema_is_ensured_idempotently(store: GraphStore) -> None:
    store.ensure_schema()
    store.ensure_schema()
    store.upsert_nodes("Part", [_part("part:S")])
    assert store.read("MATCH (n:Entity {uid: 'part:S'}) RETURN n.part_number AS p")[0]["p"] == "S"


def test_results_are_plain_values(store: GraphStore) -> None:
    store.upsert_nodes("Part", [_part("part:A"), _part("part:B")])
    store.upsert_nodes(
        "PartRevision", [{"uid": "rev:A/1", "props": {"part_number": "A", "revision": "1"}}]
    )
    store.upsert_relationships(
        "HAS_REVISION",
        "Part",
        "PartRevision",
        [{"src": "part:A", "dst": "rev:A/1", "key": "", "props": {"x": 1}}],
    )
    row = store.read(
        "MATCH p = (a:Part)-[r]->(b) RETURN p, r, b, [a.uid, b.uid] AS pair, {k: a.uid} AS m"
    )[0]
    assert row["pair"] == ["part:A", "rev:A/1"]
    assert row["m"] == {"k": "part:A"}
    assert row["r"]["_type"] == "HAS_REVISION"
    assert row["b"]["uid"] == "rev:A/1"
    assert [n["uid"] for n in row["p"]["nodes"]] == ["part:A", "rev:A/1"]
    assert [r["_type"] for r in row["p"]["relationships"]] == ["HAS_REVISION"]


@pytest.mark.cypher_unchecked
def test_a_bad_query_is_a_query_error_with_the_stores_message(store: GraphStore) -> None:
    with pytest.raises(QueryError) as excinfo:
        store.read("MATCH (n RETURN n")
    assert str(excinfo.value)


def test_a_read_past_its_time_limit_is_stopped(store: GraphStore) -> None:
    with pytest.raises(QueryTimeoutError, match="longer than 20 ms"):
        store.read(
            "UNWIND range(1, 4000) AS a UNWIND range(1, 4000) AS b "
            "WITH a, b WHERE (a * b) % 7 = 0 RETURN count(*) AS c",
            timeout_ms=20,
        )
    assert store.read("RETURN 1 AS one") == [{"one": 1}]


@pytest.mark.parametrize(
    "uid", ["part:X ", " part:X", "part:X\t"], ids=["trailing", "leading", "tab"]
)
def test_a_uid_with_outer_whitespace_is_refused(store: GraphStore, uid: str) -> None:
    with pytest.raises(QueryError, match="leading or trailing whitespace"):
        store.upsert_nodes("Part", [{"uid": uid, "props": {"part_number": "X"}}])
    assert store.read("MATCH (n) RETURN count(n) AS c") == [{"c": 0}]


def test_the_statement_log_holds_each_statement_once_without_values(
    embedded_store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "cypher.jsonl"
    monkeypatch.setenv("THREAD_CYPHER_LOG", str(log))
    for serial in ("SN-1", "SN-2"):
        embedded_store.read("MATCH (u:Unit {serial: $s}) RETURN u.uid AS uid", {"s": serial})
    embedded_store.upsert_nodes("Part", [{"uid": "part:SECRET-1", "props": {"name": "x"}}])
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0] == {
        "statement": "MATCH (u:Unit {serial: $s}) RETURN u.uid AS uid",
        "parameters": ["s"],
    }
    assert lines[1]["statement"].startswith("UNWIND $rows AS row MERGE (n:`Entity`:`Part`")
    assert lines[1]["parameters"] == ["common", "rows"]
    assert len(lines) == 2
    assert "SN-1" not in log.read_text() and "SECRET" not in log.read_text()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n": 2**63}, r"parameter \$n: 9223372036854775808 is beyond 64-bit integers"),
        ({"n": float("nan")}, r"parameter \$n: nan is not a finite number"),
        ({"n": [1.0, float("inf")]}, r"parameter \$n: inf is not a finite number"),
        ({"n": {"k": "a\x00b"}}, r"parameter \$n: holds a NUL character"),
        ({"n": "\udc80"}, r"parameter \$n: holds a NUL character or a lone surrogate"),
    ],
    ids=["int65", "nan", "inf-in-list", "nul-in-map", "surrogate"],
)
def test_parameters_a_store_would_mangle_are_refused(
    store: GraphStore, params: dict[str, object], message: str
) -> None:
    """FalkorDB used to clamp the integer to 2**63-1 and answer NaN with parser text."""
    with pytest.raises(QueryError, match=message):
        store.read("RETURN $n AS n", params)
    with pytest.raises(QueryError, match=message):
        store.write("CREATE (x:Entity:Part {uid: 'part:M', n: $n})", params)
    assert _count(store, "MATCH (n) RETURN count(n) AS c") == 0


def test_a_nul_in_a_query_is_refused_not_cut_short(store: GraphStore) -> None:
    """FalkorDB ended the query at the NUL and ran what came before it."""
    with pytest.raises(QueryError, match="NUL character"):
        store.write(
            "CREATE (x:Entity:Part {uid: 'part:N'})\x00 WITH 1 AS one MATCH (n) DETACH DELETE n"
        )
    assert _count(store, "MATCH (n) RETURN count(n) AS c") == 0


def test_a_query_that_is_not_utf8_is_refused(store: GraphStore) -> None:
    """Undecodable bytes on a command line arrive as lone surrogates: a traceback before."""
    with pytest.raises(QueryError, match="not UTF-8"):
        store.read("RETURN '\udcff' AS a")


def test_scoped_subqueries_run_on_every_store(store: GraphStore) -> None:
    """Neo4j 5's `CALL (x) { … }` (its `CALL { WITH x … }` is deprecated) is what Thread
    writes; FalkorDB gets it in the form it parses, literals untouched."""
    store.upsert_nodes("Part", [{"uid": "part:S-1", "props": {"name": "CALL (x) {"}}])
    rows = store.read(
        "MATCH (n:Part) CALL (n) { RETURN n.name + ' }' AS text } "
        "CALL () { RETURN 'CALL () {' AS other } RETURN text, other"
    )
    assert rows == [{"text": "CALL (x) { }", "other": "CALL () {"}]
