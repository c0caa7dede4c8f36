"""The outbox relay on a real broker and database: a fault of one topic holds back that topic only.

Before this, a single row for a topic the broker did not have (a referrer with
no feedback topic yet) or that the service may not write stopped the relay, and
with it every delivery the service makes.
"""

import json
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import pytest
from prometheus_client import REGISTRY

from signpost import database
from signpost.outbox import DEPTH, PARKED, OutboxRelay, enqueue
from signpost.topics import ensure_topics
from tests.support.infrastructure import Infrastructure
from tests.support.waiting import until
from toolbox.topic_reader import read_all

NO_SERVICE_MIGRATIONS = Path(__file__).parent / "no-such-folder"
# A send to a topic the broker lacks fails after the producer's request timeout (15 s in service; shorter here).
REQUEST_TIMEOUT_MS = 3_000
WITHIN_S = 60.0


@pytest.fixture
async def outbox(
    infrastructure: Infrastructure,
) -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    """A schema of its own with the runtime's outbox table, as a service has."""
    schema = f"outbox_{uuid4().hex[:10]}"
    pool = await database.connect(infrastructure.database_url, schema)
    await database.migrate(pool, schema, NO_SERVICE_MIGRATIONS)
    try:
        yield pool, schema
    finally:
        await pool.close()


async def published(pool: asyncpg.Pool, topic: str) -> list[UUID]:
    rows = await pool.fetch(
        "SELECT event_id FROM outbox WHERE topic = $1 AND published_at IS NOT NULL ORDER BY id",
        topic,
    )
    return [r["event_id"] for r in rows]


@pytest.mark.parametrize(
    ("count", "index"), [(DEPTH, "outbox_unpublished"), (PARKED, "outbox_parked")]
)
async def test_the_outbox_depth_and_parked_rows_are_counted_from_an_index_not_from_every_row_kept(
    outbox: tuple[asyncpg.Pool, str], count: str, index: str
) -> None:
    # Published rows stay a week (retention); the relay counts the depth after every batch, /readyz the parked rows.
    pool, _ = outbox
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SET LOCAL enable_seqscan = off"
        )  # a table this small would be scanned whatever its indexes
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {count}"))
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


@pytest.mark.hazard("HAZ-001")
async def test_a_missing_topic_holds_back_only_its_own_rows_which_go_in_order_once_it_exists(
    outbox: tuple[asyncpg.Pool, str], infrastructure: Infrastructure
) -> None:
    pool, schema = outbox
    suffix = uuid4().hex[:8]
    present, missing = f"test.outbox-present-{suffix}", f"test.outbox-missing-{suffix}"
    await ensure_topics(infrastructure.kafka_bootstrap, {present: 1})
    # The missing topic's first row is at the head of the outbox, where it used to stop everything behind it.
    order = [
        (missing, uuid4()),
        (present, uuid4()),
        (present, uuid4()),
        (missing, uuid4()),
        (present, uuid4()),
    ]
    async with pool.acquire() as conn, conn.transaction():
        for topic, event_id in order:
            await enqueue(
                conn,
                topic=topic,
                key="patient-key",
                event=json.dumps({"event_id": str(event_id)}).encode(),
                event_id=event_id,
            )
    relay = OutboxRelay(
        pool,
        schema,
        infrastructure.kafka_bootstrap,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    relay.start()
    try:
        expected_present = [e for t, e in order if t == present]
        await until(
            lambda: _equal(published(pool, present), expected_present),
            "the other topic's rows to go out",
        )
        assert relay.held == {missing: "UnknownTopicOrPartitionError"}
        assert await published(pool, missing) == [], (
            "the missing topic's rows wait, none skipped"
        )
        assert (
            REGISTRY.get_sample_value("signpost_outbox_depth", {"schema": schema}) == 2
        ), "the held rows still wait"
        on_topic = [
            UUID(r["event_id"])
            for r in await read_all(infrastructure.kafka_bootstrap, present)
        ]
        assert on_topic == expected_present, "each once, in outbox order"

        await ensure_topics(infrastructure.kafka_bootstrap, {missing: 1})
        expected_missing = [e for t, e in order if t == missing]
        await until(
            lambda: _equal(published(pool, missing), expected_missing),
            "the held rows to go once the topic exists",
        )
        assert relay.held == {}
        on_topic = [
            UUID(r["event_id"])
            for r in await read_all(infrastructure.kafka_bootstrap, missing)
        ]
        assert on_topic == expected_missing, "held rows go in their outbox order"
    finally:
        await relay.stop()


async def _equal(found: Awaitable[list[UUID]], expected: list[UUID]) -> bool:
    return await found == expected
