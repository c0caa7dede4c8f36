"""Dead letters: what a dead record was about, what a listing may show, and which letters a replay sends."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from services.notifier.domain.dead_letters import (
    one_per_source,
    patient_key_of,
    referral_of,
    replay_event_id,
    replayed,
    safe_fields,
)

REFERRAL = UUID("6f1c2b9e-3d4a-4c5b-8e7f-0a1b2c3d4e5f")
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_the_referral_is_read_from_json_that_names_one() -> None:
    assert (
        referral_of(
            json.dumps({"referral_id": str(REFERRAL), "event_id": "x"}).encode()
        )
        == REFERRAL
    )


def test_a_poison_record_has_no_referral_whatever_its_bytes() -> None:
    for payload in (
        b"\xff\xfe not json \x00",  # not UTF-8
        b"not json",
        b"[1, 2]",  # JSON, but not an object
        b'{"referral_id": "not-a-uuid"}',
        b'{"referral_id": 12345}',  # not even a string
        b'{"referral_id": ""}',
        b'{"event_id": "no"}',
        b"",
    ):
        assert referral_of(payload) is None, payload


def test_the_replay_key_is_the_patient_key_when_there_is_one() -> None:
    assert patient_key_of(b'{"patient_key": "pk-abc"}') == "pk-abc"
    assert patient_key_of(b'{"patient_key": null}') is None
    assert patient_key_of(b"\xff") is None


def test_each_replay_of_a_letter_has_its_own_stable_event_id() -> None:
    letter, other = uuid4(), uuid4()
    ids = [replay_event_id(letter, n) for n in range(3)]
    assert len(set(ids)) == 3, (
        "a forced replay must reach the topic, so it cannot reuse the first replay's outbox id"
    )
    assert replay_event_id(letter, 1) == ids[1], (
        "the same replay computed twice is the same event"
    )
    assert not {replay_event_id(other, n) for n in range(3)} & set(ids)
    assert letter not in ids, "never the dead letter's own id"


def test_a_listing_shows_no_payload_or_headers_and_is_json_ready() -> None:
    row = {
        "dead_letter_id": REFERRAL,
        "reason": "schema violation: event_id: bad",
        "dead_lettered_at": T0,
        "replayed_at": None,
        "replays": 0,
        "payload": b'{"notes": "free text about a patient"}',
        "headers": '{"correlation-id": "c"}',
    }
    shown = safe_fields(row)
    assert shown == {
        "dead_letter_id": str(REFERRAL),
        "reason": "schema violation: event_id: bad",
        "dead_lettered_at": "2026-11-25T09:00:00+00:00",
        "replayed_at": None,
        "replays": 0,
    }
    json.dumps(shown)


def letter(
    minutes: int, offset: int, replayed: bool = False, topic: str = "referral.submitted"
) -> dict[str, Any]:
    return {
        "dead_letter_id": uuid4(),
        "original_topic": topic,
        "original_partition": 0,
        "original_offset": offset,
        "dead_lettered_at": T0 + timedelta(minutes=minutes),
        "replayed_at": T0 if replayed else None,
    }


def test_a_record_refused_by_several_consumers_is_replayed_once_by_its_oldest_letter() -> (
    None
):
    router, audit = letter(1, offset=7), letter(0, offset=7)
    assert one_per_source([router, audit], force=False) == [audit["dead_letter_id"]]


def test_records_are_replayed_oldest_first() -> None:
    later, earlier = letter(5, offset=9), letter(2, offset=3, topic="referral.routed")
    assert one_per_source([later, earlier], force=False) == [
        earlier["dead_letter_id"],
        later["dead_letter_id"],
    ]


def test_a_record_already_replayed_through_any_of_its_letters_is_left_out_unless_forced() -> (
    None
):
    replayed, sibling, fresh = (
        letter(0, offset=7, replayed=True),
        letter(1, offset=7),
        letter(2, offset=8),
    )
    assert one_per_source([replayed, sibling, fresh], force=False) == [
        fresh["dead_letter_id"]
    ]
    assert one_per_source([replayed, sibling, fresh], force=True) == [
        replayed["dead_letter_id"],
        fresh["dead_letter_id"],
    ]


def test_the_same_offset_on_another_partition_or_topic_is_another_record() -> None:
    a = letter(0, offset=7)
    b = {**letter(1, offset=7), "original_partition": 1}
    c = letter(2, offset=7, topic="referral.routed")
    assert one_per_source([a, b, c], force=False) == [
        a["dead_letter_id"],
        b["dead_letter_id"],
        c["dead_letter_id"],
    ]
    assert one_per_source([], force=True) == []


def _letter(payload: bytes, replays: int) -> dict[str, Any]:
    return {
        "dead_letter_id": UUID(int=1),
        "payload": payload,
        "replays": replays,
        "original_topic": "referral.submitted",
        "original_partition": 4,
        "original_offset": 99,
    }


def test_a_replay_event_names_the_letter_every_letter_it_answers_and_who_asked() -> (
    None
):
    record = json.dumps(
        {"referral_id": str(REFERRAL), "patient_key": "p" * 32}
    ).encode()
    event = replayed(
        _letter(record, 0),
        [UUID(int=3), UUID(int=1)],
        by="operations",
        correlation_id="c-1",
        forced=False,
        at=T0,
    )
    assert (event.dead_letter_id, event.dead_letter_ids) == (
        UUID(int=1),
        [UUID(int=1), UUID(int=3)],
    )
    assert (event.replay, event.forced, event.replayed_by) == (1, False, "operations")
    assert (event.referral_id, event.patient_key) == (REFERRAL, "p" * 32)
    assert (event.original_topic, event.original_partition, event.original_offset) == (
        "referral.submitted",
        4,
        99,
    )


def test_each_replay_of_a_record_is_its_own_event_and_never_shares_the_replayed_records_id() -> (
    None
):
    first = replayed(
        _letter(b"not json", 0),
        [UUID(int=1)],
        by="ops",
        correlation_id="c",
        forced=False,
        at=T0,
    )
    again = replayed(
        _letter(b"not json", 1),
        [UUID(int=1)],
        by="ops",
        correlation_id="c",
        forced=True,
        at=T0,
    )
    assert (first.replay, again.replay) == (1, 2)
    assert (
        len(
            {
                first.event_id,
                again.event_id,
                replay_event_id(UUID(int=1), 0),
                replay_event_id(UUID(int=1), 1),
            }
        )
        == 4
    )
    assert (first.referral_id, first.patient_key) == (None, None), (
        "a poison record names nobody"
    )
