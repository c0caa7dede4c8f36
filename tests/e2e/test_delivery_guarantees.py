"""Effectively once on the real broker: duplicates, poison messages, redelivery."""

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from schemas.events import ReferralSubmitted
from schemas.referral import Referral
from tests.support.kafka_reader import produce, read_all
from tests.support.running_stack import audit_trail, bearer, eventually
from toolbox.stack import Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)


def submitted_event() -> ReferralSubmitted:
    return ReferralSubmitted(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        correlation_id=f"dup-{uuid.uuid4()}",
        journey_id=uuid.uuid4(),
        producer="test",
        patient_key="f" * 64,
        referral_id=uuid.uuid4(),
        referral=Referral.model_validate(REFERRAL),
    )


async def count(stack: Stack, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


@pytest.mark.hazard("HAZ-002")
def test_the_same_submitted_event_twice_is_routed_and_delivered_once(
    shared_stack: Stack,
) -> None:
    event = submitted_event()
    raw = event.model_dump_json().encode()
    asyncio.run(
        produce(
            shared_stack.kafka_bootstrap,
            "referral.submitted",
            [raw, raw],
            key=event.patient_key.encode(),
        )
    )
    rid = str(event.referral_id)
    eventually(
        lambda: (
            "assignment.delivered"
            in [e["event_type"] for e in audit_trail(shared_stack, rid)]
        ),
        what="delivery",
    )
    # Redeliver once more after the first copy was handled, as a restart would.
    asyncio.run(
        produce(
            shared_stack.kafka_bootstrap,
            "referral.submitted",
            [raw],
            key=event.patient_key.encode(),
        )
    )
    marker = submitted_event()
    asyncio.run(
        produce(
            shared_stack.kafka_bootstrap,
            "referral.submitted",
            [marker.model_dump_json().encode()],
            key=event.patient_key.encode(),
        )
    )
    # The marker shares the patient key (so the same partition); once it is delivered the duplicate was handled.
    eventually(
        lambda: (
            "assignment.delivered"
            in [
                e["event_type"]
                for e in audit_trail(shared_stack, str(marker.referral_id))
            ]
        ),
        what="marker delivery",
    )
    assert (
        asyncio.run(
            count(
                shared_stack,
                "SELECT count(*) FROM router.assignments WHERE referral_id = $1",
                event.referral_id,
            )
        )
        == 1
    )
    assert (
        asyncio.run(
            count(
                shared_stack,
                "SELECT count(*) FROM notifier.deliveries WHERE referral_id = $1",
                event.referral_id,
            )
        )
        == 1
    )
    agency = asyncio.run(
        read_all(shared_stack.kafka_bootstrap, "agency.demo-pharmacy.referrals")
    )
    assert sum(1 for m in agency if m.get("referral_id") == rid) == 1
    types = [e["event_type"] for e in audit_trail(shared_stack, rid)]
    assert types.count("referral.routed") == 1
    assert types.count("assignment.delivered") == 1


def test_poison_messages_are_dead_lettered_and_the_consumer_carries_on(
    shared_stack: Stack,
) -> None:
    garbage = b"\x00\xffnot json at all"
    wrong_shape = json.dumps(
        {
            "type": "referral.submitted",
            "event_id": str(uuid.uuid4()),
            "referral": {"needs": []},
        }
    ).encode()
    asyncio.run(
        produce(
            shared_stack.kafka_bootstrap,
            "referral.submitted",
            [garbage, wrong_shape],
            key=b"poison",
        )
    )
    after = submitted_event()
    asyncio.run(
        produce(
            shared_stack.kafka_bootstrap,
            "referral.submitted",
            [after.model_dump_json().encode()],
            key=b"poison",
        )
    )

    eventually(
        lambda: (
            "assignment.delivered"
            in [
                e["event_type"]
                for e in audit_trail(shared_stack, str(after.referral_id))
            ]
        ),
        what="the referral behind the poison messages to be delivered",
    )
    letters = eventually(
        lambda: [
            m
            for m in asyncio.run(
                read_all(shared_stack.kafka_bootstrap, "signpost.deadletter")
            )
            if m.get("consumer") == "signpost-router"
        ],
        what="dead letters from the router",
    )
    reasons = [m["reason"] for m in letters]
    assert any("Invalid JSON" in r or "json_invalid" in r for r in reasons), reasons
    assert any("schema violation" in r and "referral" in r for r in reasons), reasons
    assert all(m["original_topic"] == "referral.submitted" for m in letters)


@pytest.mark.hazard("HAZ-002")
def test_intake_answers_a_request_id_replay_with_the_original_answer(
    shared_stack: Stack,
) -> None:
    url = f"{shared_stack.url('intake')}/v1/referrals"
    request_id = str(uuid.uuid4())
    first = httpx.post(
        url, json=REFERRAL, headers={"X-Request-Id": request_id, **bearer()}, timeout=10
    )
    again = httpx.post(
        url, json=REFERRAL, headers={"X-Request-Id": request_id, **bearer()}, timeout=10
    )
    assert first.status_code == again.status_code == 202
    assert first.json()["referral_id"] == again.json()["referral_id"]
    changed = dict(REFERRAL, notes="a different body")
    conflict = httpx.post(
        url, json=changed, headers={"X-Request-Id": request_id, **bearer()}, timeout=10
    )
    assert conflict.status_code == 409
    assert conflict.headers["content-type"].startswith("application/problem+json")
