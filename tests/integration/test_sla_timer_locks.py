"""SLA timers and agency outcomes take their locks in one order, so they never deadlock.

An outcome locks its delivery row, then clears the assignment's timers. The timer loop used to lock up to a
hundred due timers first and then each timer's delivery, waiting: one outcome in flight on a due assignment
and the two waited for each other until PostgreSQL killed one (41 deadlocks in a 348-referral scale-out run,
each rolling back a whole round of firings that had already been logged). Now the loop locks each due timer
together with its delivery and skips what an outcome holds.
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.notifier.loops import timers
from tests.integration.test_background_loops import add_delivery
from tests.support.infrastructure import Infrastructure
from tests.support.schemas import NOTIFIER_MIGRATIONS, fresh_schema


@pytest.fixture
async def notifier_db(infrastructure: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    async with fresh_schema(
        infrastructure.database_url, "notifier", NOTIFIER_MIGRATIONS
    ) as pool:
        yield pool


async def test_a_due_timer_whose_delivery_an_outcome_holds_is_skipped_not_waited_for(
    notifier_db: asyncpg.Pool,
) -> None:
    pool = notifier_db
    now = datetime.now(UTC)
    held = await add_delivery(
        pool, patient_key="p" * 32, due_at=now - timedelta(minutes=10)
    )
    free = await add_delivery(
        pool, patient_key="q" * 32, due_at=now - timedelta(minutes=5)
    )
    async with pool.acquire() as outcome, outcome.transaction():
        # An agency's outcome in flight on the first assignment: its delivery row is locked, as record_outcome does.
        await outcome.execute(
            "SELECT 1 FROM deliveries WHERE assignment_id = $1 FOR UPDATE", held
        )
        # The loop's round must neither wait for that lock (it would deadlock once the outcome touches the timer
        # rows the loop holds) nor miss the other timer.
        fired = await asyncio.wait_for(timers.fire_due(pool), timeout=20)
        assert fired == 1
        assert (
            await pool.fetchval(
                "SELECT fired_at FROM sla_timers WHERE assignment_id = $1", free
            )
            is not None
        )
        assert (
            await pool.fetchval(
                "SELECT fired_at FROM sla_timers WHERE assignment_id = $1", held
            )
            is None
        )
        # The outcome can still clear its own timers: the loop holds none of them.
        await asyncio.wait_for(
            outcome.execute(
                "UPDATE sla_timers SET cleared_at = now() WHERE assignment_id = $1",
                held,
            ),
            timeout=20,
        )
    assert await timers.fire_due(pool) == 0, (
        "the cleared timer does not fire afterwards"
    )
