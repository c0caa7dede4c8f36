"""A dead letter stays under the producer's limit whatever it carries, and the dead-letter topic never jams.

Before this, a dead letter wrapped the whole refused record in base64: a record
over about 750 KB made a letter larger than the producer allows, the relay
held ``signpost.deadletter`` for good, and no later dead letter of that service
went out. Now the original is kept by the refusing consumer, by digest and size.
"""

import asyncio
import hashlib
import json
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from tests.support.running_stack import bearer, eventually
from toolbox.stack import Stack
from toolbox.topic_reader import read_all

BIG = 900_000  # base64 makes it 1.2 MB: over the producer's 1 MiB, under the broker's limit for the original itself
OUTCOMES = "agency.demo-pharmacy.outcomes"


@pytest.fixture
def stack(shared_stack: Stack) -> Stack:
    return shared_stack


def big_record(kind: str) -> bytes:
    return json.dumps(
        {"type": kind, "event_id": "not-a-uuid", "padding": "x" * BIG}
    ).encode()


async def _produce(
    bootstrap: str, topic: str, values: list[bytes]
) -> list[tuple[int, int]]:
    """Write ``values``; return where each landed (partition, offset), which is how its dead letters name it."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        return [
            ((m := await producer.send_and_wait(topic, v)).partition, m.offset)
            for v in values
        ]
    finally:
        await producer.stop()


def produce(stack: Stack, topic: str, *values: bytes) -> list[tuple[int, int]]:
    return asyncio.run(_produce(stack.kafka_bootstrap, topic, list(values)))


def letters_of(
    stack: Stack, topic: str, at: tuple[int, int]
) -> dict[str, dict[str, Any]]:
    """The notifier's dead letters of the record at ``at`` (partition, offset) on ``topic``, by consumer."""
    found = httpx.get(
        f"{stack.url('notifier')}/v1/dead-letters",
        params={"limit": 1000},
        headers=bearer("operations"),
        timeout=10,
    ).json()["items"]
    return {
        d["consumer"]: d
        for d in found
        if (d["original_topic"], d["original_partition"], d["original_offset"])
        == (topic, *at)
    }


async def _fetchval(stack: Stack, sql: str, *args: object) -> Any:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


@pytest.mark.hazard("HAZ-003")
def test_an_oversized_record_is_dead_lettered_by_digest_and_the_letters_behind_it_still_go(
    stack: Stack,
) -> None:
    big, small = (
        big_record("referral.submitted"),
        b"\xff small poison behind the big one",
    )
    big_at, small_at = produce(stack, "referral.submitted", big, small)

    wanted = {"signpost-router", "signpost-audit"}
    try:
        letters = eventually(
            lambda: (
                (f := letters_of(stack, "referral.submitted", big_at)).keys() >= wanted
                and f
            ),
            timeout=90,
            what="router's and audit's dead letters of the oversized record",
        )
    except AssertionError as missing:
        held = httpx.get(f"{stack.url('router')}/readyz", timeout=10).json()[
            "outbox_held"
        ]
        raise AssertionError(f"{missing}; the router's outbox holds {held}") from None
    behind = eventually(
        lambda: letters_of(stack, "referral.submitted", small_at).keys() >= wanted,
        timeout=90,
        what="the dead letters of the poison behind it: the topic is not jammed",
    )
    assert behind
    digest = hashlib.sha256(big).hexdigest()
    assert {
        (c, d["payload_bytes"], d["payload_sha256"], d["payload_kept_by"])
        for c, d in letters.items()
        if c in wanted
    } == {
        ("signpost-router", len(big), digest, "router"),
        ("signpost-audit", len(big), digest, "audit"),
    }
    kept = "SELECT sha256 = $2 AND size = length(body) FROM router.dead_letter_bodies WHERE dead_letter_id = $1::uuid"
    assert (
        asyncio.run(
            _fetchval(stack, kept, letters["signpost-router"]["dead_letter_id"], digest)
        )
        is True
    )
    ready = httpx.get(f"{stack.url('router')}/readyz", timeout=10).json()
    assert ready["outbox_held"] == {}, ready

    # Only the router and audit keep this record's bytes: the notifier says so instead of sending something else.
    refused = httpx.post(
        f"{stack.url('notifier')}/v1/dead-letters/{letters['signpost-router']['dead_letter_id']}/replay",
        headers=bearer("operations"),
        timeout=10,
    )
    assert refused.status_code == 409, refused.text
    assert "too large to travel" in refused.json()["detail"]
    assert "dead_letter_bodies" in refused.json()["detail"]


def test_an_oversized_record_the_notifier_refused_is_replayed_from_its_own_copy(
    stack: Stack,
) -> None:
    big = big_record("agency.outcome")
    (at,) = produce(stack, OUTCOMES, big)
    letters = eventually(
        lambda: (
            (f := letters_of(stack, OUTCOMES, at)).get("signpost-notifier-outcomes")
            and f
        ),
        timeout=90,
        what="the notifier's dead letter of the oversized report",
    )
    letter = letters["signpost-notifier-outcomes"]
    assert letter["payload_kept_by"] == "notifier"

    replayed = httpx.post(
        f"{stack.url('notifier')}/v1/dead-letters/{letter['dead_letter_id']}/replay",
        headers=bearer("operations"),
        timeout=10,
    )
    assert replayed.status_code == 200, replayed.text

    def put_back() -> list[dict[str, Any]]:
        records = asyncio.run(read_all(stack.kafka_bootstrap, OUTCOMES))
        return [
            r
            for r in records
            if r["_headers"].get("signpost-replay-of") == letter["dead_letter_id"]
        ]

    (again,) = eventually(put_back, timeout=60, what="the original back on its topic")
    body = {k: v for k, v in again.items() if not k.startswith("_")}
    assert (
        hashlib.sha256(json.dumps(body).encode()).hexdigest()
        == hashlib.sha256(big).hexdigest()
    ), "the same bytes"
