"""FalkorDB's parameter header, written by Thread: the same text as the falkordb client's."""

from __future__ import annotations

import pytest
from falkordb.helpers import stringify_param_value
from hypothesis import given
from hypothesis import strategies as st

from thread.errors import QueryError
from thread.stores.falkordb_params import literal, with_params

_names = st.text(st.characters(blacklist_characters="`", blacklist_categories=("Cs",)), min_size=1)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",)))
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_names, inner, max_size=5),
    max_leaves=30,
)


@given(_values)
def test_literals_are_the_clients_own(value: object) -> None:
    assert literal(value) == stringify_param_value(value)


def test_the_header_precedes_the_query() -> None:
    text = with_params("RETURN $a", {"a": 'say "hi" \\ bye', "rows": [{"uid": "x"}]})
    assert text == 'CYPHER `a`="say \\"hi\\" \\\\ bye" `rows`=[{`uid`:"x"}] RETURN $a'
    assert with_params("RETURN 1", None) == "RETURN 1"


@pytest.mark.parametrize("key", ["", "a`b"])
def test_map_keys_the_server_cannot_parse_are_refused(key: str) -> None:
    with pytest.raises(QueryError, match="backtick"):
        literal({key: 1})
