"""Every event parses back from JSON into its own class, and the catalogue lists each one once."""

import base64
import typing
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from pydantic import BaseModel, ValidationError

from schemas.clock import judged_on
from schemas.events import (
    AnyEvent,
    DeadLettered,
    ReferralCancelled,
    ReferralRouted,
    ReferralSubmitted,
    any_event,
)
from schemas.version import EVENTS
from signpost import consumer
from tests.unit.schemas.factories import (
    ENVELOPE,
    assignment,
    mutated,
    referral,
    sample_events,
)

SAMPLES = sample_events()


def union_members() -> set[type[BaseModel]]:
    union = typing.get_args(AnyEvent)[0]
    return set(typing.get_args(union))


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_an_event_round_trips_through_any_event(event: BaseModel) -> None:
    parsed = any_event.validate_json(event.model_dump_json())
    assert type(parsed) is type(event)
    assert parsed == event


def test_the_samples_the_union_and_the_catalogue_agree() -> None:
    assert (
        {type(e) for e in SAMPLES}
        == union_members()
        == {c.model for c in EVENTS.values()}
    )
    assert len(EVENTS) == len(union_members())


# Contract 2.0.0 minimised what agencies receive, which old agency readers would refuse: agency.referral v2.
VERSIONS = {"agency.referral": 2}


def test_every_event_names_its_own_type_and_version() -> None:
    for event_type, contract in EVENTS.items():
        assert contract.model.model_fields["type"].default == event_type
        assert contract.version == VERSIONS.get(event_type, 1)


def test_an_unknown_event_type_is_refused_by_name() -> None:
    with pytest.raises(
        ValidationError, match="does not match any of the expected tags"
    ):
        any_event.validate_python({"type": "referral.teleported"})


def test_new_assignment_fields_are_optional_so_existing_producers_still_work() -> None:
    bare = assignment(network_id=None, needs=())
    assert (bare.network_id, bare.needs, bare.replaces_assignment_id) == (
        None,
        (),
        None,
    )


def test_notes_to_the_referrer_are_single_lines() -> None:
    with pytest.raises(ValidationError, match="control characters"):
        ReferralRouted(
            **ENVELOPE,
            rule_set_version="r",
            assignments=(assignment(),),
            referral=referral(),
            notes_to_referrer=("a\nb",),
        )


def test_a_cancel_reason_may_span_lines_as_intake_accepts_it() -> None:
    assert (
        ReferralCancelled(
            **ENVELOPE, reason="patient phoned:\n\tno longer needed", cancelled_by="gp"
        ).reason.count("\n")
        == 1
    )


def submitted(body: dict[str, Any], occurred_at: str) -> dict[str, Any]:
    envelope = {
        k: v.isoformat() if isinstance(v, datetime) else str(v)
        for k, v in ENVELOPE.items()
    }
    return {
        **envelope,
        "type": "referral.submitted",
        "occurred_at": occurred_at,
        "referral": body,
    }


UTI_THE_DAY_BEFORE_65 = {
    "patient.sex": "female",
    "patient.birth_date": "1961-01-16",
    "needs": ["uti"],
}


def test_a_referral_inside_an_event_is_judged_on_the_event_date_not_the_day_it_is_read() -> (
    None
):
    """Accepted the day before she turns 65, the referral still parses when the router reads it, or a replay years later."""
    event = submitted(mutated(UTI_THE_DAY_BEFORE_65), "2026-01-15T23:30:00Z")
    for read_on in (date(2026, 1, 16), date(2031, 6, 1)):
        with judged_on(read_on):
            assert isinstance(any_event.validate_python(event), ReferralSubmitted)
    with pytest.raises(ValidationError, match="the patient is 65"):
        any_event.validate_python({**event, "occurred_at": "2026-01-16T00:30:00Z"})


def test_the_event_date_is_the_calendar_date_in_england() -> None:
    body = mutated({**UTI_THE_DAY_BEFORE_65, "patient.birth_date": "1961-07-16"})
    assert isinstance(
        any_event.validate_python(submitted(body, "2026-07-15T22:59:00Z")),
        ReferralSubmitted,
    )
    # 23:30 UTC on 15 July is 00:30 on 16 July in England (BST): her 65th birthday.
    with pytest.raises(ValidationError, match="the patient is 65"):
        any_event.validate_python(submitted(body, "2026-07-15T23:30:00Z"))


def test_a_patient_born_after_the_event_is_refused() -> None:
    body = mutated({"patient.birth_date": "2026-01-16", "needs": ["minor_illness"]})
    with pytest.raises(ValidationError, match="birth date cannot be in the future"):
        any_event.validate_python(submitted(body, "2026-01-15T12:00:00Z"))


async def test_dead_letters_parse_exactly_as_the_consumer_writes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written: list[dict[str, Any]] = []

    async def enqueue(conn: object, **kwargs: Any) -> None:
        written.append(kwargs)

    monkeypatch.setattr(consumer, "enqueue", enqueue)
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic="referral.submitted",
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=b"k" * 32,
        value=b'{"not": "a referral"}',
        checksum=None,
        serialized_key_size=32,
        serialized_value_size=21,
        headers=[("correlation-id", b"corr-1"), ("odd", b"\xff")],
    )
    await consumer.dead_letter(
        None,  # type: ignore[arg-type]
        record,
        "signpost-router",
        "schema violation: referral: field required",
    )
    (sent,) = written
    event = any_event.validate_json(sent["event"])
    assert isinstance(event, DeadLettered)
    assert (
        event.event_id
        == sent["event_id"]
        == consumer.dead_letter_id(record, "signpost-router")
    )
    assert consumer.dead_letter_id(record, "signpost-audit") != event.event_id, (
        "each consumer's refusal is its own dead letter"
    )
    assert (event.original_topic, event.original_partition, event.original_offset) == (
        "referral.submitted",
        2,
        41,
    )
    assert event.payload_base64 is not None
    assert base64.b64decode(event.payload_base64) == record.value
    assert event.headers == {"correlation-id": "corr-1", "odd": "\ufffd"}
    assert sent["headers"] == {"event-type": event.type}
    assert datetime.now(UTC) - event.occurred_at < timedelta(minutes=1)
