"""Background loops on a real database: one bad row is parked, the loop goes on, and a dead loop is not ready.

Before this, the SLA timer loop caught only OS and database errors: one timer
whose escalation raised a validation error ended the loop for good (no later
timer fired) and ``/readyz`` stayed green. The outbox relay died the same way
on a row it could not send, and the same row came first again after a restart.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from services.notifier.loops import timers
from services.notifier.loops import webhooks as webhook_sender
from services.notifier.store import timers as timer_rows
from signpost import database, loops
from signpost.outbox import OutboxRelay, enqueue
from signpost.service import Runtime, build_app
from signpost.settings import Settings
from signpost.topics import ensure_topics
from tests.support.infrastructure import Infrastructure
from tests.support.schemas import NOTIFIER_MIGRATIONS, fresh_schema
from tests.support.waiting import until

NO_SERVICE_MIGRATIONS = Path(__file__).parent / "no-such-folder"


@pytest.fixture
async def notifier_db(infrastructure: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    async with fresh_schema(
        infrastructure.database_url, "notifier", NOTIFIER_MIGRATIONS
    ) as pool:
        yield pool


def loop_errors(loop: str) -> float:
    return (
        REGISTRY.get_sample_value("signpost_loop_errors_total", {"loop": loop}) or 0.0
    )


async def parked_reason(pool: asyncpg.Pool, query: str, key: UUID) -> str:
    """The row's parked reason, once the query (done column, parked_at, parked_reason) shows it parked and not done."""
    row = await pool.fetchrow(query, key)
    assert row is not None
    done, parked_at, reason = row
    assert done is None, "a parked row is not done"
    assert parked_at is not None
    return str(reason)


async def add_delivery(
    pool: asyncpg.Pool, *, patient_key: str, due_at: datetime
) -> UUID:
    assignment_id = uuid4()
    await pool.execute(
        "INSERT INTO deliveries (assignment_id, referral_id, agency_id, service_type, channel, status, patient_key,"
        " correlation_id, referrer_ods, journey_id) VALUES ($1, $2, 'pharmacy-fa001', 'community_pharmacy', 'kafka',"
        " 'delivered', $3, 'corr-1', 'H81001', $4)",
        assignment_id,
        uuid4(),
        patient_key,
        uuid4(),
    )
    await timer_rows.start_timers(
        pool,  # type: ignore[arg-type]
        [(assignment_id, "first_contact", due_at, "escalate")],
    )
    return assignment_id


@pytest.mark.hazard("HAZ-007")
async def test_a_timer_that_raises_is_parked_and_later_timers_still_fire(
    notifier_db: asyncpg.Pool,
) -> None:
    pool = notifier_db
    now = datetime.now(UTC)
    # A patient key too short for the contract: building this timer's escalation raises a ValidationError.
    bad = await add_delivery(
        pool, patient_key="short", due_at=now - timedelta(minutes=10)
    )
    good = await add_delivery(
        pool, patient_key="p" * 32, due_at=now - timedelta(minutes=5)
    )
    errors_before = loop_errors("sla-timers")
    task = timers.start(pool, 0.05)
    try:
        fired = "SELECT fired_at FROM sla_timers WHERE assignment_id = $1"
        await until(lambda: pool.fetchval(fired, good), "the later, good timer to fire")
        timer_row = "SELECT fired_at, parked_at, parked_reason FROM sla_timers WHERE assignment_id = $1"
        reason = await parked_reason(pool, timer_row, bad)
        assert reason.startswith("ValidationError: patient_key"), reason
        assert "short" not in reason, "the reason never quotes the row's values"
        assert not task.done(), "the loop goes on"
        assert loop_errors("sla-timers") == errors_before + 1
        # Parked, it is not tried again: the count stays where it is over further rounds.
        await asyncio.sleep(0.3)  # several 0.05 s rounds; nothing to wait for but time
        assert loop_errors("sla-timers") == errors_before + 1
        assert await loops.parked_counts(pool) == {"sla-timers": 1}
    finally:
        await timers.stop(task)


@pytest.mark.hazard("HAZ-001")
async def test_an_outbox_row_the_relay_cannot_send_is_parked_and_the_rows_behind_it_go(
    infrastructure: Infrastructure,
) -> None:
    schema = f"outbox_{uuid4().hex[:10]}"
    pool = await database.connect(infrastructure.database_url, schema)
    await database.migrate(pool, schema, NO_SERVICE_MIGRATIONS)
    topic = f"test.loops-{uuid4().hex[:8]}"
    await ensure_topics(infrastructure.kafka_bootstrap, {topic: 1})
    first, second = uuid4(), uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, topic=topic, key="k", event=b"{}", event_id=first)
        await enqueue(conn, topic=topic, key="k", event=b"{}", event_id=second)
        # A header value that is not text: sending it raises (AttributeError), not a Kafka error.
        await conn.execute(
            "UPDATE outbox SET headers = '{\"n\": 1}'::jsonb WHERE event_id = $1", first
        )
    relay = OutboxRelay(
        pool, schema, infrastructure.kafka_bootstrap, request_timeout_ms=3_000
    )
    relay.start()
    try:
        published = "SELECT published_at FROM outbox WHERE event_id = $1"
        await until(
            lambda: pool.fetchval(published, second),
            "the row behind the bad one to go out",
        )
        reason = await parked_reason(
            pool,
            "SELECT published_at, parked_at, parked_reason FROM outbox WHERE event_id = $1",
            first,
        )
        assert reason == "AttributeError"
        assert loops.states()["outbox-relay"] == "running"
        assert await loops.parked_counts(pool) == {"outbox-relay": 1}
    finally:
        await relay.stop()
        await pool.close()


@pytest.mark.hazard("HAZ-007")
async def test_readyz_names_a_loop_that_is_not_running(
    infrastructure: Infrastructure,
) -> None:
    schema = f"ready_{uuid4().hex[:10]}"
    pool = await database.connect(infrastructure.database_url, schema)
    await database.migrate(pool, schema, NO_SERVICE_MIGRATIONS)
    settings = Settings(
        database_url=infrastructure.database_url,
        kafka_bootstrap=infrastructure.kafka_bootstrap,
    )
    app = build_app(
        "ready",
        NO_SERVICE_MIGRATIONS,
        settings=settings,
        kafka_required_for_ready=False,
    )
    relay = OutboxRelay(pool, schema, infrastructure.kafka_bootstrap)
    relay.start()

    async def crashes() -> None:
        raise SystemError("a loop that ended: a bug outside any row, or cancelled")

    task = loops.watch("crashing-loop", asyncio.create_task(crashes()))
    app.state.runtime = Runtime("ready", settings, pool, None, relay)  # type: ignore[arg-type]
    try:
        await until(lambda: asyncio.sleep(0, task.done()), "the loop to end")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ready"
        ) as client:
            response = await client.get("/readyz")
        body = response.json()
        assert response.status_code == 503, body
        assert body["loops"]["crashing-loop"].startswith("stopped"), body
        assert body["loops"]["outbox-relay"] == "running", body
    finally:
        loops.forget("crashing-loop")
        await relay.stop()
        await pool.close()


@pytest.mark.hazard("HAZ-003")
async def test_a_webhook_delivery_that_raises_is_parked_and_the_loop_goes_on(
    notifier_db: asyncpg.Pool,
) -> None:
    pool = notifier_db
    # A stored retry policy the sender cannot build (a zero initial delay): loading the delivery raises ValueError.
    await pool.execute(
        "INSERT INTO webhooks (agency_id, url, secret, initial_delay_s, max_delay_s, give_up_after_s, updated_by)"
        " VALUES ('broken-agency', 'http://127.0.0.1:9/hook', 's', 0, 60, 3600, 'test')"
    )
    copy_id = uuid4()
    await pool.execute(
        "INSERT INTO webhook_deliveries (copy_id, agency_id, assignment_id, body, delivered_event, patient_key)"
        " VALUES ($1, 'broken-agency', $2, '{}', '{}', $3)",
        copy_id,
        uuid4(),
        "p" * 32,
    )
    errors_before = loop_errors("webhooks")
    sender, task = webhook_sender.start(pool, 0.05, allow_private=True)
    try:
        status = "SELECT status FROM webhook_deliveries WHERE copy_id = $1"
        await until(
            lambda: _is(pool.fetchval(status, copy_id), "parked"),
            "the delivery to be parked",
        )
        assert (
            await pool.fetchval(
                "SELECT parked_reason FROM webhook_deliveries WHERE copy_id = $1",
                copy_id,
            )
            == "ValueError"
        )
        await asyncio.sleep(
            0.3
        )  # several 0.05 s rounds: a parked row is not tried again
        assert loop_errors("webhooks") == errors_before + 1
        assert not task.done()
        assert await loops.parked_counts(pool) == {"webhooks": 1}
    finally:
        await webhook_sender.stop((sender, task))


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected
