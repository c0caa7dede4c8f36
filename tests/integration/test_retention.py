"""Retention on a real database: working copies of personal data go after their window, and nothing else does.

Before this, outbox rows, inbox ids, webhook bodies and dead letters were never
pruned: every full referral stayed in three services for ever. The clock is a
parameter (``now``), so the test moves time instead of waiting.
"""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.notifier.store import dead_letters, webhooks  # noqa: F401 - importing registers the notifier's rules
from signpost import retention
from signpost.settings import Settings
from tests.support.infrastructure import Infrastructure
from tests.support.schemas import NOTIFIER_MIGRATIONS, fresh_schema

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REFERRAL = json.dumps(
    {"patient": {"nhs_number": "9434765919", "family_name": "Retained"}}
).encode()


@pytest.fixture
async def notifier_db(infrastructure: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    async with fresh_schema(
        infrastructure.database_url, "notifier", NOTIFIER_MIGRATIONS
    ) as pool:
        yield pool


async def outbox_row(
    pool: asyncpg.Pool, *, created: datetime, published: datetime | None
) -> UUID:
    event_id = uuid4()
    await pool.execute(
        "INSERT INTO outbox (event_id, topic, payload, created_at, published_at) VALUES ($1, 't', $2, $3, $4)",
        event_id,
        REFERRAL,
        created,
        published,
    )
    return event_id


async def webhook_row(pool: asyncpg.Pool, *, status: str, at: datetime) -> UUID:
    copy_id = uuid4()
    await pool.execute(
        "INSERT INTO webhook_deliveries (copy_id, agency_id, assignment_id, body, delivered_event, patient_key, status,"
        " next_attempt_at, delivered_at) VALUES ($1, 'a', $2, $3, '{}', 'k', $4, $5, $6)",
        copy_id,
        uuid4(),
        REFERRAL,
        status,
        at,
        at if status == "delivered" else None,
    )
    return copy_id


async def ids(pool: asyncpg.Pool, sql: str) -> set[UUID]:
    return {r[0] for r in await pool.fetch(sql)}


async def test_each_copy_goes_after_its_window_and_unfinished_work_stays(
    notifier_db: asyncpg.Pool,
) -> None:
    pool, settings = notifier_db, Settings()
    await outbox_row(
        pool, created=NOW - timedelta(days=9), published=NOW - timedelta(days=8)
    )
    new_published = await outbox_row(
        pool, created=NOW - timedelta(days=2), published=NOW - timedelta(days=1)
    )
    never_published = await outbox_row(
        pool, created=NOW - timedelta(days=40), published=None
    )
    old_id, new_id = uuid4(), uuid4()
    await pool.execute(
        "INSERT INTO processed_events (consumer, event_id, topic, processed_at)"
        " VALUES ('c', $1, 't', $2), ('c', $3, 't', $4)",
        old_id,
        NOW - timedelta(days=31),
        new_id,
        NOW - timedelta(days=29),
    )
    await webhook_row(pool, status="delivered", at=NOW - timedelta(days=8))
    sent_lately = await webhook_row(
        pool, status="delivered", at=NOW - timedelta(days=1)
    )
    still_waiting = await webhook_row(
        pool, status="pending", at=NOW - timedelta(days=30)
    )
    letter = uuid4()
    await pool.execute(
        "INSERT INTO dead_letters (dead_letter_id, consumer, original_topic, original_partition, original_offset, reason,"
        " payload, headers, dead_lettered_at) VALUES ($1, 'c', 't', 0, 0, 'r', $2, '{}', $3)",
        letter,
        REFERRAL,
        NOW - timedelta(days=29),
    )
    await pool.execute(
        "INSERT INTO dead_letter_bodies (dead_letter_id, original_topic, original_partition, original_offset, sha256, size,"
        " body, headers, kept_at) VALUES ($1, 't', 0, 0, 'x', 1, $2, '{}', $3)",
        letter,
        REFERRAL,
        NOW - timedelta(days=29),
    )

    assert await retention.prune(pool, settings, NOW) == 5
    assert await retention.prune(pool, settings, NOW) == 0, (
        "a second round finds nothing more"
    )

    assert await ids(pool, "SELECT event_id FROM outbox") == {
        new_published,
        never_published,
    }, "unpublished rows stay"
    assert await ids(pool, "SELECT event_id FROM processed_events") == {new_id}
    assert await ids(pool, "SELECT copy_id FROM webhook_deliveries") == {
        sent_lately,
        still_waiting,
    }, "pending rows stay"
    assert await ids(pool, "SELECT dead_letter_id FROM dead_letters") == set()
    assert await ids(pool, "SELECT dead_letter_id FROM dead_letter_bodies") == set()


def test_the_inbox_outlives_every_replayable_dead_letter() -> None:
    with pytest.raises(ValueError, match="shorter than inbox_retention_days"):
        Settings(inbox_retention_days=20, dead_letter_retention_days=20)
    with pytest.raises(ValueError, match="greater than or equal to 14"):
        Settings(inbox_retention_days=7, dead_letter_retention_days=1)
