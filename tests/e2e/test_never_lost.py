"""A referral answered 202 is never lost: not with the broker down, not when a service is SIGKILLed."""

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from deploy.kafka import local as kafka_local
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import audit_trail, bearer, eventually, running
from toolbox.stack import Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
# Ports of its own beside the suite's (SIGNPOST_TEST_*), so that suites side by side on one machine never meet here.
_BASE = int(os.environ.get("SIGNPOST_TEST_PORT_BASE", "18000")) + 10
PORTS = {
    "intake": _BASE + 1,
    "router": _BASE + 2,
    "notifier": _BASE + 3,
    "audit": _BASE + 4,
}
BROKER_PORT = int(os.environ.get("SIGNPOST_TEST_KAFKA_PORT", "19092")) + 10


@pytest.fixture(scope="module")
def own_broker(infrastructure: Infrastructure) -> Iterator[kafka_local.KafkaNode]:
    """A broker this module may stop and kill without disturbing other tests."""
    node = kafka_local.KafkaNode(
        infrastructure.state_dir / "kafka-never-lost",
        port=BROKER_PORT,
        controller_port=BROKER_PORT + 1,
    )
    kafka_local.start(node)
    try:
        yield node
    finally:
        kafka_local.stop(node)


@pytest.fixture(scope="module")
def stack(
    infrastructure: Infrastructure, own_broker: kafka_local.KafkaNode
) -> Iterator[Stack]:
    from dataclasses import replace

    infra = replace(infrastructure, kafka_bootstrap=own_broker.bootstrap)
    with running(infra, "e2e_never_lost", ports=PORTS) as s:
        yield s


def submit(stack: Stack, n: int) -> list[str]:
    ids = []
    with httpx.Client(timeout=10, headers=bearer()) as client:
        for _ in range(n):
            response = client.post(f"{stack.url('intake')}/v1/referrals", json=REFERRAL)
            assert response.status_code == 202, response.text
            ids.append(response.json()["referral_id"])
    return ids


async def scalar(url: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


def delivered(stack: Stack, referral_ids: list[str]) -> bool:
    done = asyncio.run(
        scalar(
            stack.database_url,
            "SELECT count(DISTINCT referral_id) FROM audit.audit_log WHERE event_type = 'assignment.delivered'"
            " AND referral_id = ANY($1::uuid[])",
            referral_ids,
        )
    )
    return done == len(referral_ids)


def assert_exactly_once(stack: Stack, referral_ids: list[str]) -> None:
    url = stack.database_url
    for table, column in (
        ("router.assignments", "referral_id"),
        ("notifier.deliveries", "referral_id"),
    ):
        rows = asyncio.run(
            scalar(
                url,
                f"SELECT count(*) FROM {table} WHERE {column} = ANY($1::uuid[])",
                referral_ids,
            )
        )
        assert rows == len(referral_ids), (
            f"{table}: {rows} rows for {len(referral_ids)} referrals"
        )
    per_type = asyncio.run(
        scalar(
            url,
            "SELECT count(*) FROM (SELECT referral_id, event_type FROM audit.audit_log WHERE referral_id = ANY($1::uuid[])"
            " GROUP BY 1, 2 HAVING count(*) > 1) d",
            referral_ids,
        )
    )
    assert per_type == 0, "some referral has an event type audited twice"


@pytest.mark.hazard("HAZ-001")
def test_intake_accepts_while_kafka_is_down_and_everything_flows_once_it_returns(
    stack: Stack, own_broker: kafka_local.KafkaNode
) -> None:
    kafka_local.stop(own_broker)
    ready = httpx.get(f"{stack.url('intake')}/readyz", timeout=5).json()
    assert ready["ready"] is True
    assert ready["checks"]["kafka"] == "down"

    ids = submit(stack, 5)
    waiting = asyncio.run(
        scalar(
            stack.database_url,
            "SELECT count(*) FROM intake.outbox WHERE published_at IS NULL",
        )
    )
    assert waiting >= 5, "accepted referrals must wait durably in the outbox"

    kafka_local.start(own_broker)
    eventually(
        lambda: delivered(stack, ids),
        timeout=90,
        what="all five referrals delivered after Kafka returned",
    )
    assert_exactly_once(stack, ids)
    for rid in ids:
        types = [e["event_type"] for e in audit_trail(stack, rid)]
        assert types.count("referral.submitted") == 1


@pytest.mark.hazard("HAZ-001")
def test_sigkilled_router_and_notifier_lose_and_duplicate_nothing(stack: Stack) -> None:
    first = submit(stack, 40)
    stack.stop_service("router", sig=signal.SIGKILL)
    middle = submit(stack, 40)
    stack.stop_service("notifier", sig=signal.SIGKILL)
    stack.start_service("router")
    last = submit(stack, 40)
    stack.start_service("notifier")
    stack.wait_ready("router")
    stack.wait_ready("notifier")
    ids = first + middle + last
    eventually(
        lambda: delivered(stack, ids),
        timeout=90,
        what="all 120 referrals delivered after the kills",
    )
    assert_exactly_once(stack, ids)
