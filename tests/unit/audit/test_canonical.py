"""The canonical JSON the row hash covers is the same text, however fast it is made: rows hashed before must verify."""

import json
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.audit.domain.canonical import _number, canonical_json

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=20,
)


def reference(value: Any) -> str:
    """The encoding as first written (json.dumps for every string and literal), which existing hashes were made with."""
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                f"{json.dumps(k)}:{reference(v)}" for k, v in sorted(value.items())
            )
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(reference(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return _number(value)
    return json.dumps(value)


@given(values)
def test_the_canonical_encoding_is_the_one_existing_rows_were_hashed_with(
    value: Any,
) -> None:
    text = json.dumps(value, ensure_ascii=False)
    parsed = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    assert canonical_json(text) == reference(parsed)
