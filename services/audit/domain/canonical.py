"""One spelling for each value the row hash covers, whoever wrote it down.

The recorder hashes the payload text it built with ``json.dumps``; the
verifier reads the same payload back from a ``jsonb`` column, which reorders
keys, changes spacing and unescapes strings. Timestamps come back from
``timestamptz`` in UTC whatever offset they were written with. Hashing the
canonical form of a value, not the text in hand, lets both sides agree
without a second copy of the payload, and still changes the hash whenever
the content changes.
"""

import json
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _string
from typing import Any


def canonical_json(text: str | bytes) -> str:
    """The canonical encoding of a JSON document; ``ValueError`` when it is not valid JSON.

    Object keys sorted, no whitespace, strings ASCII-escaped, and numbers as
    exact decimals (``1``, ``1.0`` and ``1e0`` agree; nothing is rounded, so
    two different numbers never do).
    """
    try:
        return _encode(
            json.loads(
                text,
                parse_float=Decimal,
                parse_int=Decimal,
                parse_constant=_refuse_constant,
            )
        )
    except RecursionError as error:
        raise ValueError("JSON nested too deeply") from error


def canonical_time(value: str | datetime) -> str:
    """An instant as UTC ISO 8601 with microseconds; ``ValueError`` for text that is not one, or has no offset."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {value!s} has no UTC offset")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them.
    raise ValueError(f"{name} is not a JSON number")


def _encode(value: Any) -> str:
    # What json.loads gives, most frequent first; strings through json's own C escaper, not json.dumps, which
    # costs several times as much per call (this runs for every key and string of every row audit records).
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                f"{_string(key)}:{_encode(item)}" for key, item in sorted(value.items())
            )
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    raise ValueError(f"not a JSON value: {type(value).__name__}")


def _number(value: Decimal) -> str:
    """Exact digits and exponent, trailing zeros folded into the exponent: no rounding, no expansion."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(
        exponent, int
    )  # finite: NaN and Infinity were refused while parsing
    text = "".join(map(str, digits)).lstrip("0")
    if not text:
        return "0"
    stripped = text.rstrip("0")
    exponent += len(text) - len(stripped)
    return f"{'-' if sign else ''}{stripped}e{exponent}"
