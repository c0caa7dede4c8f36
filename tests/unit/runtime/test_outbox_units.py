"""The outbox relay's decisions, without a broker or a database.

What one fault means (hold the topic, stop the relay, park the row, or published), how long a held topic
waits for its probe, and what holding and probing do to the relay's state. The probe's producer is an
in-memory stand-in (it answers ``partitions_for`` as told); nothing here reads or writes SQL.
"""

import asyncio
import json
from collections.abc import Iterator
from uuid import UUID

import aiokafka.errors
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    RecordTooLargeError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

from schemas.events import ReferralSubmitted
from signpost import outbox
from signpost.outbox import (
    HOLD_MAX_S,
    TOPIC_FAULTS,
    OutboxRelay,
    delivery_fate,
    outbox_row,
    probe_delay,
    send_fate,
)
from tests.unit.schemas.factories import ENVELOPE, referral

EVENT = ReferralSubmitted(**ENVELOPE, referral=referral())
# Named here, not taken from TOPIC_FAULTS: dropping one there must fail a test.
TOPIC_FAULT_KINDS = [
    getattr(aiokafka.errors, name)
    for name in [
        "UnknownTopicOrPartitionError",
        "TopicAuthorizationFailedError",
        "InvalidTopicError",
        "MessageSizeTooLargeError",
        "RecordTooLargeError",
        "RecordListTooLargeError",
    ]
]
BROKER_FAULTS = [
    KafkaConnectionError(),
    KafkaTimeoutError(),
    RequestTimedOutError(),
    NotLeaderForPartitionError(),
]


def test_an_outbox_row_carries_the_event_as_json_its_key_and_its_headers() -> None:
    headers = {"event-type": "referral.submitted"}
    event_id, topic, key, payload, stored = outbox_row(
        topic="referral.submitted",
        key="pk-1",
        event=EVENT,
        event_id=EVENT.event_id,
        headers=headers,
    )
    assert (event_id, topic, key) == (EVENT.event_id, "referral.submitted", b"pk-1")
    assert ReferralSubmitted.model_validate_json(payload) == EVENT
    assert json.loads(stored)["event-type"] == "referral.submitted"
    assert headers == {
        "event-type": "referral.submitted"
    }  # the caller's headers are not written into


def test_an_outbox_row_keeps_bytes_as_they_are_and_may_have_no_key() -> None:
    row = outbox_row(
        topic="signpost.deadletter", key=None, event=b"\x00raw", event_id=UUID(int=1)
    )
    assert (row[2], row[3]) == (None, b"\x00raw")
    assert isinstance(json.loads(row[4]), dict)


@pytest.mark.parametrize("fault", TOPIC_FAULT_KINDS)
def test_a_fault_of_one_topic_holds_that_topic(fault: type[Exception]) -> None:
    assert issubclass(fault, TOPIC_FAULTS)
    assert send_fate(fault()) == "hold"
    assert delivery_fate(fault()) == "hold"


@pytest.mark.parametrize(
    "fault", [*BROKER_FAULTS, ConnectionResetError(), TimeoutError()]
)
def test_a_fault_of_the_broker_when_sending_stops_the_relay(fault: Exception) -> None:
    assert send_fate(fault) == "raise"


@pytest.mark.parametrize(
    "fault", [*BROKER_FAULTS, asyncio.CancelledError(), KeyboardInterrupt()]
)
def test_a_delivery_the_broker_failed_or_that_was_cancelled_stops_the_relay(
    fault: BaseException,
) -> None:
    assert delivery_fate(fault) == "raise"


@pytest.mark.parametrize(
    "fault",
    [
        UnicodeEncodeError("utf-8", "x", 0, 1, "no"),
        TypeError("header"),
        ValueError("x"),
    ],
)
def test_a_fault_of_one_row_parks_that_row(fault: Exception) -> None:
    assert send_fate(fault) == "park"
    assert delivery_fate(fault) == "park"


def test_a_delivery_that_came_back_with_metadata_is_published() -> None:
    assert delivery_fate(object()) == "publish"
    assert delivery_fate(None) == "publish"


def test_a_held_topic_is_probed_ever_less_often_up_to_a_minute() -> None:
    assert [probe_delay(n) for n in range(1, 8)] == [
        2.0,
        4.0,
        8.0,
        16.0,
        32.0,
        60.0,
        60.0,
    ]
    assert probe_delay(1000) == HOLD_MAX_S


class Producer:
    """Answers ``partitions_for`` with each of ``answers`` in turn: an exception to raise, or partitions."""

    def __init__(self, *answers: BaseException | set[int]) -> None:
        self.answers: Iterator[BaseException | set[int]] = iter(answers)
        self.asked: list[str] = []

    async def partitions_for(self, topic: str) -> set[int]:
        self.asked.append(topic)
        answer = next(self.answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def stop(self) -> None:
        return None


def relay(producer: Producer) -> OutboxRelay:
    made = OutboxRelay(pool=None, schema="router", bootstrap="unused:0")  # type: ignore[arg-type]
    made._producer = producer  # type: ignore[assignment]
    return made


async def probed(made: OutboxRelay) -> None:
    """Wait (with a deadline) for every probe of the relay to end."""
    async with asyncio.timeout(5):
        while made._probes:
            await asyncio.gather(*made._probes)


def test_holding_a_topic_holds_it_once_and_a_probe_releases_it_when_the_broker_knows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox, "HOLD_FIRST_S", 0.001)

    async def run() -> tuple[OutboxRelay, Producer, dict[str, str], dict[str, int]]:
        producer = Producer({0, 1})
        made = relay(producer)
        made._hold("agency.x.referrals", UnknownTopicOrPartitionError())
        made._hold(
            "agency.x.referrals", RecordTooLargeError()
        )  # held already: nothing changes, no second probe
        held, faults = dict(made.held), dict(made._faults)
        assert len(made._probes) == 1
        await probed(made)
        await made.stop()
        return made, producer, held, faults

    made, producer, held, faults = asyncio.run(run())
    assert held == {"agency.x.referrals": "UnknownTopicOrPartitionError"}
    assert faults == {"agency.x.referrals": 1}
    assert producer.asked == ["agency.x.referrals"]
    assert made.held == {}
    assert made._wake.is_set()  # the relay is woken to send the released topic's rows


def test_a_probe_that_fails_keeps_the_topic_held_and_tries_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox, "HOLD_FIRST_S", 0.001)
    producer = Producer(TopicAuthorizationFailedError(), KafkaConnectionError(), {0})
    made = relay(producer)

    async def run() -> None:
        made._hold("practice.H81001.feedback", TopicAuthorizationFailedError())
        assert made.held == {
            "practice.H81001.feedback": "TopicAuthorizationFailedError"
        }
        await probed(made)
        await made.stop()

    asyncio.run(run())
    # Two failed probes (not allowed yet, then the broker away) kept it held; the third released it.
    assert producer.asked == ["practice.H81001.feedback"] * 3
    assert made.held == {}


def test_a_topic_held_again_after_a_release_counts_its_faults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox, "HOLD_FIRST_S", 0.001)

    async def run() -> dict[str, int]:
        made = relay(Producer({0}, {0}))
        made._hold("agency.x.referrals", RecordTooLargeError())
        await probed(made)
        made._hold(
            "agency.x.referrals", RecordTooLargeError()
        )  # released, then too large again
        faults = dict(made._faults)
        await probed(made)
        await made.stop()
        return faults

    # The second hold waits twice as long for its probe (see probe_delay): the topic keeps failing.
    assert asyncio.run(run()) == {"agency.x.referrals": 2}
