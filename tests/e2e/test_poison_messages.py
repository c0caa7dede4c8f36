"""Poison messages on every topic a service consumes, and a dead letter replayed after its cause is fixed.

The stack starts with a small ``SIGNPOST_MAX_EVENT_BYTES``, so a referral with
long notes is too big for its consumers: a realistic, fixable cause. Raising
the limit (restarting the services) is the fix; the replay then goes through
exactly once, and a second, forced replay changes nothing.
"""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from signpost.stack import Stack
from signpost.topic_reader import read_all
from tests.support.infrastructure import Infrastructure
from tests.support.kafka_reader import produce
from tests.support.running_stack import bearer, eventually, running

REFERRAL = json.loads((Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json").read_text())
SMALL_LIMIT = "4096"
# Every topic some service consumes, and the consumer group that must dead-letter poison on it.
CONSUMED = {
    "referral.submitted": ("signpost-router", "signpost-audit"),
    "referral.routed": ("signpost-notifier", "signpost-intake", "signpost-audit"),
    "referral.cancelled": ("signpost-notifier-cancellations", "signpost-audit"),
    "referral.unroutable": ("signpost-intake", "signpost-audit"),
    "referral.escalated": ("signpost-intake", "signpost-audit"),
    "assignment.delivered": ("signpost-intake", "signpost-audit"),
    "assignment.outcome": ("signpost-router-reroute", "signpost-intake", "signpost-audit"),
    "agency.demo-pharmacy.outcomes": ("signpost-notifier-outcomes", "signpost-audit"),
    "signpost.access": ("signpost-audit",),
}
POISON = {"malformed bytes": b"\xff\xfe not json \x00", "schema violation": b'{"type": "referral.submitted", "event_id": "no"}'}


@pytest.fixture(scope="module")
def stack(infrastructure: Infrastructure) -> Iterator[Stack]:
    with running(infrastructure, "e2e_poison", extra_env={"SIGNPOST_MAX_EVENT_BYTES": SMALL_LIMIT}) as s:
        yield s


def dead_letters(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{stack.url('notifier')}/v1/dead-letters", params={"limit": 1000, **params},
                                            headers=bearer("operations"), timeout=10).json()["items"]  # fmt: skip
    return found


def test_poison_on_every_consumed_topic_is_dead_lettered_with_its_reason_and_nothing_stalls(stack: Stack) -> None:
    for topic in CONSUMED:
        asyncio.run(produce(stack.kafka_bootstrap, topic, list(POISON.values()), key=b"poison"))
    expected = {(topic, group) for topic, groups in CONSUMED.items() for group in groups}

    def missing() -> set[tuple[str, str]]:
        return expected - {(d["original_topic"], d["consumer"]) for d in dead_letters(stack)}

    eventually(lambda: not missing(), timeout=60, what=f"a dead letter from every consumer (missing {missing()})")
    router = dead_letters(stack, consumer="signpost-router")
    reasons = {d["reason"] for d in router if d["original_topic"] == "referral.submitted"}
    assert any("Invalid JSON" in r or "invalid" in r.lower() for r in reasons), reasons
    assert any("event_id" in r for r in reasons), "a schema violation names the field"
    # Nothing stalled behind the poison: a referral still goes all the way through.
    response = httpx.post(f"{stack.url('intake')}/v1/referrals", json=REFERRAL, headers=bearer(), timeout=10)
    referral_id = response.json()["referral_id"]
    assert eventually(
        lambda: any(a["status"] == "offered" for a in httpx.get(f"{stack.url('intake')}/v1/referrals/{referral_id}",
                                                                 headers=bearer(), timeout=10).json()["assignments"]),
        what="a referral behind the poison to be delivered",
    )  # fmt: skip


async def _count(stack: Stack, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


def count(stack: Stack, sql: str, *args: object) -> int:
    return asyncio.run(_count(stack, sql, *args))


async def _router_passed(stack: Stack, dead_letter_id: str) -> bool:
    """Whether the router's group has committed past every replay of this dead letter."""
    submitted = await read_all(stack.kafka_bootstrap, "referral.submitted")
    replays = [r for r in submitted if r["_headers"].get("signpost-replay-of") == dead_letter_id]
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets("signpost-router")
    finally:
        await admin.close()
    return bool(replays) and all(
        committed.get(TopicPartition("referral.submitted", r["_partition"])) is not None
        and committed[TopicPartition("referral.submitted", r["_partition"])].offset > r["_offset"]
        for r in replays
    )


def test_a_dead_letter_replayed_after_the_fix_is_processed_exactly_once(stack: Stack) -> None:
    body = json.loads(json.dumps(REFERRAL))
    body["notes"] = "Long history from the practice. " * 120  # ~3.8 KB: over the small limit once in an event
    response = httpx.post(f"{stack.url('intake')}/v1/referrals", json=body, headers=bearer(), timeout=10)
    assert response.status_code == 202, response.text
    referral_id = response.json()["referral_id"]
    letter = eventually(
        lambda: next((d for d in dead_letters(stack, referral_id=referral_id) if d["consumer"] == "signpost-router"), None),
        what="the router to dead-letter the oversized referral",
    )
    assert "exceeds the 4096-byte limit" in letter["reason"]
    assert count(stack, "SELECT count(*) FROM router.decisions WHERE referral_id = $1::uuid", referral_id) == 0

    # The fix: the services come back with the default limit.
    stack.extra_env.pop("SIGNPOST_MAX_EVENT_BYTES")
    stack.stop_all()
    stack.start_all()
    env = {**os.environ, "SIGNPOST_NOTIFIER_PORT": str(stack.ports["notifier"])}
    replay = subprocess.run([sys.executable, "-m", "signpost.cli", "deadletters", "replay", "--referral-id", referral_id],
                            capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    assert "replayed" in replay.stdout

    delivered = "SELECT count(*) FROM notifier.deliveries WHERE referral_id = $1::uuid"
    assert eventually(lambda: count(stack, delivered, referral_id) == 1, what="the replayed referral to be routed and delivered")
    again = httpx.post(f"{stack.url('notifier')}/v1/dead-letters/{letter['dead_letter_id']}/replay",
                       headers=bearer("operations"), timeout=10)  # fmt: skip
    assert again.status_code == 409, "a dead letter is replayed once unless forced"
    forced = httpx.post(f"{stack.url('notifier')}/v1/dead-letters/{letter['dead_letter_id']}/replay", params={"force": "true"},
                        headers=bearer("operations"), timeout=10)  # fmt: skip
    assert forced.status_code == 200
    assert forced.json()["replays"] == 2
    assert eventually(lambda: asyncio.run(_router_passed(stack, letter["dead_letter_id"])), what="the router to pass the replays")
    assert count(stack, "SELECT count(*) FROM router.decisions WHERE referral_id = $1::uuid", referral_id) == 1
    assert count(stack, delivered, referral_id) == 1
    submitted_rows = "SELECT count(*) FROM audit.audit_log WHERE referral_id = $1::uuid AND event_type = 'referral.submitted'"
    assert count(stack, submitted_rows, referral_id) == 1, "audit records the event once however often it is replayed"
    trail = httpx.get(f"{stack.url('audit')}/v1/referrals/{referral_id}/audit", headers=bearer("operations"), timeout=10).json()
    functions = [e["payload"].get("function") for e in trail["events"] if e["event_type"] == "access.recorded"]
    assert "replay dead letters of referral" in functions, "the replay is on the referral's audit trail"
