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
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from tests.support.infrastructure import Infrastructure
from tests.support.kafka_reader import produce
from tests.support.running_stack import bearer, eventually, running
from toolbox.stack import Stack
from toolbox.topic_reader import read_all

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
SMALL_LIMIT = "4096"
# Every topic some service consumes, and the consumer group that must dead-letter poison on it.
CONSUMED = {
    "referral.submitted": ("signpost-router", "signpost-audit"),
    "referral.routed": ("signpost-notifier", "signpost-intake", "signpost-audit"),
    "referral.cancelled": (
        "signpost-router-cancellations",
        "signpost-notifier-cancellations",
        "signpost-audit",
    ),
    "referral.unroutable": ("signpost-intake", "signpost-audit"),
    "referral.escalated": ("signpost-intake", "signpost-audit"),
    "assignment.delivered": ("signpost-intake", "signpost-audit"),
    "assignment.outcome": (
        "signpost-router-reroute",
        "signpost-intake",
        "signpost-audit",
    ),
    "agency.demo-pharmacy.outcomes": ("signpost-notifier-outcomes", "signpost-audit"),
    "signpost.access": ("signpost-audit",),
    "signpost.replays": ("signpost-audit",),
}
POISON = {
    "malformed bytes": b"\xff\xfe not json \x00",
    "schema violation": b'{"type": "referral.submitted", "event_id": "no"}',
}


@pytest.fixture(scope="module")
def stack(infrastructure: Infrastructure) -> Iterator[Stack]:
    with running(
        infrastructure,
        "e2e_poison",
        extra_env={"SIGNPOST_MAX_EVENT_BYTES": SMALL_LIMIT},
    ) as s:
        yield s


def dead_letters(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(
        f"{stack.url('notifier')}/v1/dead-letters",
        params={"limit": 1000, **params},
        headers=bearer("operations"),
        timeout=10,
    ).json()["items"]
    return found


def submit(stack: Stack, body: dict[str, Any] | None = None) -> str:
    response = httpx.post(
        f"{stack.url('intake')}/v1/referrals",
        json=body or REFERRAL,
        headers=bearer(),
        timeout=10,
    )
    assert response.status_code == 202, response.text
    referral_id: str = response.json()["referral_id"]
    return referral_id


def offered(stack: Stack, referral_id: str) -> str | None:
    """The referral's assignment id once an agency has been offered it (router, notifier and intake have all run)."""
    view = httpx.get(
        f"{stack.url('intake')}/v1/referrals/{referral_id}",
        headers=bearer(),
        timeout=10,
    ).json()
    return next(
        (
            str(a["assignment_id"])
            for a in view.get("assignments", [])
            if a["status"] == "offered"
        ),
        None,
    )


def patient_key(stack: Stack, referral_id: str) -> str:
    submitted = asyncio.run(read_all(stack.kafka_bootstrap, "referral.submitted"))
    return str(
        next(r["patient_key"] for r in submitted if r.get("referral_id") == referral_id)
    )


@pytest.mark.hazard("HAZ-003")
def test_poison_on_every_consumed_topic_is_dead_lettered_with_its_reason_and_nothing_stalls(
    stack: Stack,
) -> None:
    # Poison keyed like this patient's events lands on the partitions their next referral will use, right in its way.
    first = submit(stack)
    eventually(lambda: offered(stack, first), what="a first referral to be delivered")
    key = patient_key(stack, first).encode()
    for topic in CONSUMED:
        asyncio.run(
            produce(stack.kafka_bootstrap, topic, list(POISON.values()), key=key)
        )
    expected = {
        (topic, group) for topic, groups in CONSUMED.items() for group in groups
    }

    def missing() -> set[tuple[str, str]]:
        return expected - {
            (d["original_topic"], d["consumer"]) for d in dead_letters(stack)
        }

    eventually(
        lambda: not missing(),
        timeout=60,
        what=f"a dead letter from every consumer (missing {missing()})",
    )
    router = dead_letters(stack, consumer="signpost-router")
    reasons = {
        d["reason"] for d in router if d["original_topic"] == "referral.submitted"
    }
    assert any(
        r.startswith("schema violation: (root): Invalid JSON") for r in reasons
    ), reasons
    assert any(r.startswith("schema violation") and "event_id" in r for r in reasons), (
        "a schema violation names the field"
    )
    assert all(d["referral_id"] is None for d in router), "poison names no referral"
    assert not {"payload", "payload_base64", "headers"} & set(router[0]), (
        "a listing never shows the record"
    )

    # Nothing stalled behind the poison: the same patient's next referral, on the same partitions, goes all the way through.
    second = submit(stack)
    assignment_id = eventually(
        lambda: offered(stack, second),
        what="a referral behind the poison to be delivered",
    )
    # And the agency's outcome behind the poison on its (single-partition) topic reaches the notifier and audit.
    accepted = {
        "event_id": str(uuid.uuid4()),
        "assignment_id": assignment_id,
        "outcome": "accepted",
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    asyncio.run(
        produce(
            stack.kafka_bootstrap,
            "agency.demo-pharmacy.outcomes",
            [json.dumps(accepted).encode()],
            key=key,
        )
    )
    state = f"{stack.url('notifier')}/v1/assignments/{assignment_id}"
    assert eventually(
        lambda: (
            httpx.get(state, headers=bearer("operations"), timeout=10).json()["state"]
            == "accepted"
        ),
        what="the outcome behind the poison to be applied",
    )
    # Audit keeps an agency's record under an id of its own; the id the agency chose stays in the payload.
    recorded = (
        "SELECT count(*) FROM audit.audit_log WHERE topic = 'agency.demo-pharmacy.outcomes'"
        " AND payload->>'event_id' = $1"
    )
    assert eventually(
        lambda: count(stack, recorded, accepted["event_id"]) == 1,
        what="audit to record the outcome",
    )
    trail = "SELECT count(*) FROM audit.audit_log WHERE referral_id = $1::uuid AND event_type = ANY($2::text[])"
    kinds = ["referral.submitted", "referral.routed", "assignment.delivered"]
    assert eventually(
        lambda: count(stack, trail, second, kinds) == 3,
        what="audit to record the referral behind the poison",
    )


async def _count(stack: Stack, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


def count(stack: Stack, sql: str, *args: object) -> int:
    return asyncio.run(_count(stack, sql, *args))


async def _router_passed(stack: Stack, letter_ids: set[str]) -> bool:
    """Whether the router's group has committed past every replay of these dead letters."""
    submitted = await read_all(stack.kafka_bootstrap, "referral.submitted")
    replays = [
        r for r in submitted if r["_headers"].get("signpost-replay-of") in letter_ids
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets("signpost-router")
    finally:
        await admin.close()
    return bool(replays) and all(
        committed.get(TopicPartition("referral.submitted", r["_partition"])) is not None
        and committed[TopicPartition("referral.submitted", r["_partition"])].offset
        > r["_offset"]
        for r in replays
    )


def test_a_dead_letter_replayed_after_the_fix_is_processed_exactly_once(
    stack: Stack,
) -> None:
    body = json.loads(json.dumps(REFERRAL))
    body["notes"] = (
        "Long history from the practice. " * 120
    )  # ~3.8 KB: over the small limit once in an event
    referral_id = submit(stack, body)

    def refused_by_router_and_audit() -> list[dict[str, Any]]:
        found = dead_letters(stack, referral_id=referral_id)
        return (
            found
            if {d["consumer"] for d in found} >= {"signpost-router", "signpost-audit"}
            else []
        )

    letters = eventually(
        refused_by_router_and_audit,
        what="the router and audit to dead-letter the oversized referral",
    )
    assert all("exceeds the 4096-byte limit" in d["reason"] for d in letters), letters
    letter = next(d for d in letters if d["consumer"] == "signpost-router")
    decisions = "SELECT count(*) FROM router.decisions WHERE referral_id = $1::uuid"
    assert count(stack, decisions, referral_id) == 0

    # The fix: the services come back with the default limit.
    stack.extra_env.pop("SIGNPOST_MAX_EVENT_BYTES")
    stack.stop_all()
    stack.start_all()
    env = {**os.environ, "SIGNPOST_NOTIFIER_PORT": str(stack.ports["notifier"])}
    replay = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolbox.cli",
            "deadletters",
            "replay",
            "--referral-id",
            referral_id,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    assert "replayed 1 dead records" in replay.stdout, (
        "router and audit refused one record: it goes back once, to both"
    )
    ids = {d["dead_letter_id"] for d in letters}
    assert all(
        d["replays"] == 1 and d["replayed_by"] == "operations"
        for d in dead_letters(stack, referral_id=referral_id)
    )

    delivered = "SELECT count(*) FROM notifier.deliveries WHERE referral_id = $1::uuid"
    assert eventually(
        lambda: count(stack, delivered, referral_id) == 1,
        what="the replayed referral to be routed and delivered",
    )
    replay_url = (
        f"{stack.url('notifier')}/v1/dead-letters/{letter['dead_letter_id']}/replay"
    )
    again = httpx.post(replay_url, headers=bearer("operations"), timeout=10)
    assert again.status_code == 409, "a dead letter is replayed once unless forced"
    assert "already replayed" in again.json()["detail"]
    by_referral = httpx.post(
        f"{stack.url('notifier')}/v1/dead-letters/replay",
        params={"referral_id": referral_id},
        headers=bearer("operations"),
        timeout=10,
    )
    assert by_referral.json()["replayed"] == [], (
        "nothing of the referral is left to replay"
    )
    forced = httpx.post(
        replay_url, params={"force": "true"}, headers=bearer("operations"), timeout=10
    )
    assert forced.status_code == 200
    assert forced.json()["replays"] == 2
    assert eventually(
        lambda: asyncio.run(_router_passed(stack, ids)),
        what="the router to pass the replays",
    )
    replayed = [
        r
        for r in asyncio.run(read_all(stack.kafka_bootstrap, "referral.submitted"))
        if r["_headers"].get("signpost-replay-of") in ids
    ]
    assert len(replayed) == 2, "once by referral, once forced"
    assert count(stack, decisions, referral_id) == 1
    assert count(stack, delivered, referral_id) == 1
    submitted_rows = "SELECT count(*) FROM audit.audit_log WHERE referral_id = $1::uuid AND event_type = 'referral.submitted'"
    # Audit records from Kafka, each fetch gathered for up to a second, topic by topic: wait for what it will record.
    eventually(
        lambda: count(stack, submitted_rows, referral_id) >= 1,
        what="audit to record the replayed referral",
    )

    def trail_with_both_replays() -> dict[str, Any] | None:
        # Audit records from Kafka, a fetch gathered for up to a second: the forced replay's event comes when it comes.
        trail: dict[str, Any] = httpx.get(
            f"{stack.url('audit')}/v1/referrals/{referral_id}/audit",
            headers=bearer("operations"),
            timeout=10,
        ).json()
        replays = [
            e for e in trail["events"] if e["event_type"] == "dead_letter.replayed"
        ]
        return trail if len(replays) >= 2 else None

    trail = eventually(trail_with_both_replays, what="audit to record both replays")
    assert count(stack, submitted_rows, referral_id) == 1, (
        "audit records the event once however often it is replayed"
    )
    functions = [
        e["payload"].get("function")
        for e in trail["events"]
        if e["event_type"] == "access.recorded"
    ]
    assert "replay dead letters of referral" in functions, (
        "the replay is on the referral's audit trail"
    )
    assert "list dead letters" in functions, "so is every look at its dead letters"
    replay_events = [
        e["payload"]
        for e in trail["events"]
        if e["event_type"] == "dead_letter.replayed"
    ]
    assert [(e["replay"], e["forced"], e["replayed_by"]) for e in replay_events] == [
        (1, False, "operations"),
        (2, True, "operations"),
    ]
    assert all(set(e["dead_letter_ids"]) == ids for e in replay_events), (
        "each replay answers the router's and audit's letter"
    )


def test_only_operations_staff_list_or_replay_and_every_attempt_is_audited(
    stack: Stack,
) -> None:
    notifier = stack.url("notifier")
    tried: dict[str, Callable[[dict[str, str]], httpx.Response]] = {
        "list dead letters": lambda h: httpx.get(
            f"{notifier}/v1/dead-letters", headers=h, timeout=10
        ),
        "replay dead letter": lambda h: httpx.post(
            f"{notifier}/v1/dead-letters/{uuid.uuid4()}/replay", headers=h, timeout=10
        ),
        "replay dead letters of referral": lambda h: httpx.post(
            f"{notifier}/v1/dead-letters/replay",
            params={"referral_id": str(uuid.uuid4())},
            headers=h,
            timeout=10,
        ),
    }
    correlation = f"dead-letter-access-{uuid.uuid4()}"
    for client in ("gp-h81001", "agency-demo-pharmacy"):
        for function, call in tried.items():
            response = call({**bearer(client), "X-Correlation-Id": correlation})
            assert response.status_code == 403, (client, function, response.text)
    unknown = httpx.post(
        f"{notifier}/v1/dead-letters/{uuid.uuid4()}/replay",
        headers={**bearer("operations"), "X-Correlation-Id": correlation},
        timeout=10,
    )
    assert unknown.status_code == 404
    assert httpx.get(f"{notifier}/v1/dead-letters", timeout=10).status_code == 401

    def recorded() -> set[tuple[str, str, str]]:
        search = httpx.post(
            f"{stack.url('audit')}/v1/audit/search",
            json={"event_types": ["access.recorded"], "limit": 1000},
            headers=bearer("operations"),
            timeout=10,
        )
        return {
            (
                e["payload"]["client_id"],
                e["payload"]["function"],
                e["payload"]["outcome"],
            )
            for e in search.json()["events"]
            if e["correlation_id"] == correlation
        }

    wanted = {
        (client, function, "refused")
        for client in ("gp-h81001", "agency-demo-pharmacy")
        for function in tried
    }
    wanted.add(("operations", "replay dead letter", "granted"))
    assert eventually(
        lambda: recorded() == wanted,
        what=f"every attempt as an access record (saw {recorded()})",
    )
