"""The consumer's pure parts: reading a record or saying why it is refused, and the dead letter it then becomes.

No broker and no database: records are built in memory, and where ``dead_letter_bodies.carry`` is asked
about an original that travels inside its letter, it is given a connection that fails if it is ever used.
"""

import asyncio
import json
from typing import Any, cast
from uuid import UUID

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY

from schemas.events import DeadLettered, ReferralSubmitted
from schemas.topics import DEAD_LETTER
from signpost import consumer, dead_letter_bodies
from signpost.consumer import (
    TRANSIENT,
    Incoming,
    NotReady,
    _read,
    _reason,
    dead_letter_id,
    dead_letter_key,
    dead_letter_payload,
)
from signpost.outbox import outbox_row
from tests.unit.schemas.factories import ENVELOPE, referral

PRODUCER_MAX_BYTES = 1_048_576
SUBMITTED = ReferralSubmitted(**ENVELOPE, referral=referral())
NHS_NUMBER = "9434765919"


def record(
    value: bytes | None,
    *,
    topic: str = "referral.submitted",
    offset: int = 41,
    key: bytes | None = b"pk",
    headers: tuple[tuple[str, bytes], ...] = (("correlation-id", b"corr-1"),),
) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic,
        2,
        offset,
        0,
        0,
        key,
        value,
        None,
        len(key or b""),
        len(value or b""),
        headers,
    )


class NoDatabase:
    """A connection that must not be used: an original that travels needs no row."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(
            f"the database was used ({name}) for an original that travels"
        )


def test_a_valid_record_is_read_with_where_it_came_from_and_its_headers() -> None:
    read = _read(
        record(SUBMITTED.model_dump_json().encode(), headers=(("h", b"\xffok"),)),
        ReferralSubmitted.model_validate_json,
    )
    assert isinstance(read, Incoming)
    assert (read.event, read.topic, read.partition, read.offset) == (
        SUBMITTED,
        "referral.submitted",
        2,
        41,
    )
    # A header that is not UTF-8 is read with a replacement character, never refused.
    assert read.headers == {"h": "\ufffdok"}


@pytest.mark.parametrize("value", [b"not json", b"\xff\xfe\x00", b"{}", b"", None])
def test_an_unreadable_record_is_refused_with_a_reason(value: bytes | None) -> None:
    reason = _read(record(value), ReferralSubmitted.model_validate_json)
    assert isinstance(reason, str)
    assert reason.startswith("schema violation: ")


def test_a_schema_violation_names_fields_and_never_the_values() -> None:
    bad = SUBMITTED.model_dump(mode="json")
    bad["referral"]["patient"]["nhs_number"] = NHS_NUMBER + "x"
    bad["patient_key"] = "short"
    reason = _read(
        record(json.dumps(bad).encode()), ReferralSubmitted.model_validate_json
    )
    assert isinstance(reason, str)
    assert "patient_key" in reason
    assert "referral.patient.nhs_number" in reason
    assert NHS_NUMBER not in reason
    assert "short" not in reason


def test_a_reason_lists_at_most_ten_errors_and_other_errors_are_cut_short() -> None:
    many = _read(
        record(json.dumps({f"extra_{i}": i for i in range(30)}).encode()),
        ReferralSubmitted.model_validate_json,
    )
    assert isinstance(many, str)
    assert many.count("; ") == 9  # ten errors of the forty shown
    assert _reason(RuntimeError("x" * 5000)) == "RuntimeError: " + "x" * 500


def test_an_error_that_is_not_about_the_record_is_left_to_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(_: bytes) -> ReferralSubmitted:
        raise RuntimeError("the handler's own bug")

    # Not a parse error: it is not dead-lettered here; the batch retries one by one and isolates it.
    with pytest.raises(RuntimeError):
        _read(record(b"{}"), broken)


def test_an_oversized_record_is_refused_before_it_is_parsed() -> None:
    parsed: list[bytes] = []

    def parse(value: bytes) -> ReferralSubmitted:
        parsed.append(value)
        return SUBMITTED

    assert (
        _read(record(b"x" * 1025), parse, 1024)
        == "event of 1025 bytes exceeds the 1024-byte limit"
    )
    assert parsed == []
    assert isinstance(_read(record(b"x" * 1024), parse, 1024), Incoming)
    # A dead letter may be larger than the limit it enforces: it carries a whole refused record.
    assert isinstance(
        _read(record(b"x" * 5000, topic=DEAD_LETTER), parse, 1024), Incoming
    )


def test_a_dead_letter_id_is_stable_per_consumer_and_source_record() -> None:
    original = record(b"x")
    assert dead_letter_id(original, "signpost-router") == dead_letter_id(
        record(b"other bytes"), "signpost-router"
    )
    ids = {
        dead_letter_id(original, "signpost-router"),
        dead_letter_id(original, "signpost-audit"),
        dead_letter_id(record(b"x", offset=42), "signpost-router"),
        dead_letter_id(record(b"x", topic="referral.routed"), "signpost-router"),
    }
    assert len(ids) == 4


def test_a_dead_letter_says_where_the_record_came_from_and_caps_the_reason() -> None:
    original = record(b"{}")
    payload = dead_letter_payload(
        original, "signpost-router", "r" * 5000, {"payload_base64": "e30="}
    )
    letter = DeadLettered.model_validate({**payload, "headers": {}})
    assert letter.event_id == dead_letter_id(original, "signpost-router")
    assert (
        letter.original_topic,
        letter.original_partition,
        letter.original_offset,
    ) == ("referral.submitted", 2, 41)
    assert letter.reason == "r" * 2000
    assert payload["type"] == "event.dead_lettered"


def test_a_dead_letter_key_is_text_and_short_whatever_the_original_key() -> None:
    assert (
        dead_letter_key(record(b"", key=b"\xff" + b"k" * 500)) == "\ufffd" + "k" * 127
    )
    assert dead_letter_key(record(b"", key=None)) is None
    assert dead_letter_key(record(b"", key=b"")) is None


def test_the_largest_letter_that_carries_its_original_stays_under_the_producer_limit() -> (
    None
):
    body = b"\xff" * dead_letter_bodies.INLINE_MAX_BYTES
    headers = {"h": "v" * (dead_letter_bodies.HEADERS_MAX_BYTES - 16)}
    original = record(
        body,
        key=b"k" * 10_000,
        headers=tuple((k, v.encode()) for k, v in headers.items()),
    )
    assert dead_letter_bodies.travels(body, headers)
    carried = asyncio.run(
        dead_letter_bodies.carry(
            NoDatabase(),  # type: ignore[arg-type]
            UUID(int=1),
            topic=original.topic,
            partition=2,
            offset=41,
            body=body,
            headers=headers,
        )
    )
    payload = dead_letter_payload(original, "signpost-router", "r" * 10_000, carried)
    row = outbox_row(
        topic=DEAD_LETTER,
        key=dead_letter_key(original),
        event=json.dumps(payload).encode(),
        event_id=UUID(int=1),
    )
    assert len(row[3]) + len(row[2] or b"") + len(row[4]) < PRODUCER_MAX_BYTES
    assert DeadLettered.model_validate(payload).payload_base64 is not None


def test_an_original_just_too_large_does_not_travel() -> None:
    assert not dead_letter_bodies.travels(
        b"x" * (dead_letter_bodies.INLINE_MAX_BYTES + 1), {}
    )
    assert not dead_letter_bodies.travels(
        b"x", {"h": "v" * dead_letter_bodies.HEADERS_MAX_BYTES}
    )


def test_a_missing_reference_or_a_broken_database_is_retried_never_dead_lettered() -> (
    None
):
    assert issubclass(NotReady, TRANSIENT)
    assert issubclass(ConnectionResetError, TRANSIENT)
    assert not issubclass(ValueError, TRANSIENT)


def test_a_batch_commits_the_offset_after_its_last_record_on_each_of_its_own_partitions() -> (
    None
):
    from aiokafka import TopicPartition

    batch = [
        record(b"{}", topic="a", offset=9),
        record(b"{}", topic="a", offset=7),
        record(b"{}", topic="b", offset=3),
    ]

    assert consumer.batch_offsets(batch) == {
        TopicPartition("a", 2): 10,
        TopicPartition("b", 2): 4,
    }


def test_a_batchs_records_are_counted_by_topic() -> None:
    def consumed(topic: str) -> float:
        return (
            REGISTRY.get_sample_value(
                "signpost_messages_consumed_total", {"topic": topic}
            )
            or 0.0
        )

    before = consumed("counted.a"), consumed("counted.b")
    consumer._count_consumed(
        [
            record(b"{}", topic="counted.a", offset=1),
            record(b"{}", topic="counted.b", offset=1),
            record(b"{}", topic="counted.a", offset=2),
        ]
    )
    assert (consumed("counted.a"), consumed("counted.b")) == (
        before[0] + 2,
        before[1] + 1,
    )


def _fetch_settings(**subscribe: Any) -> dict[str, Any]:
    """What the subscriber's aiokafka consumer will be built with (FastStream keeps it on the subscriber)."""
    broker = KafkaBroker(
        "127.0.0.1:1", consumer_only=True
    )  # never started: nothing connects
    unused = cast(Any, None)
    consumer.subscribe(
        broker,
        "t",
        group_id="g",
        pool=unused,
        parse=unused,
        handle=unused,
        event_id=unused,
        **subscribe,
    )
    args: dict[str, Any] = next(iter(broker.subscribers))._connection_args  # type: ignore[attr-defined]
    return {
        k: args[k]
        for k in ("fetch_min_bytes", "fetch_max_wait_ms", "consumer_timeout_ms")
    }


def test_a_consumer_that_does_not_gather_is_answered_at_its_first_record_and_one_that_gathers_waits_for_more() -> (
    None
):
    # The broker answers a fetch once it holds fetch_min_bytes, or after fetch_max_wait_ms.
    at_once = _fetch_settings()
    assert at_once["fetch_min_bytes"] == 1
    assert at_once["fetch_max_wait_ms"] == consumer.FETCH_MAX_WAIT_MS
    gathering = _fetch_settings(gather_ms=750)
    assert gathering["fetch_max_wait_ms"] == 750
    assert gathering["fetch_min_bytes"] > 100 * 1024, (
        "a batch of a hundred referral events, not one"
    )


def test_a_gathering_consumer_walks_its_partitions_once_a_gather_not_five_times_a_second() -> (
    None
):
    assert _fetch_settings()["consumer_timeout_ms"] == 200, (
        "aiokafka's wake-up, as FastStream sets it"
    )
    assert _fetch_settings(gather_ms=750)["consumer_timeout_ms"] == 750
