"""A referral and the first answer to its X-Request-Id are stored together or not at all, with no transaction.

Intake stores them in one statement (``store.referrals.record_submission``):
when a concurrent twin of the request has already answered, the statement
fails as a whole, so no second referral and no second event are left behind
for the relay to publish.
"""

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from schemas.events import ReferralSubmitted
from services.intake.store.referrals import Answer, record_submission
from signpost import database
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import _database
from tests.unit.schemas.factories import referral

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "intake" / "migrations"


@pytest.fixture(scope="module")
def database_url(infrastructure: Infrastructure) -> str:
    return _database(infrastructure, "intake_submission_answer")


def submitted() -> ReferralSubmitted:
    return ReferralSubmitted(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        correlation_id="c-1",
        journey_id=uuid.uuid4(),
        producer="intake",
        patient_key=uuid.uuid4().hex * 2,
        referral_id=uuid.uuid4(),
        referral=referral(),
    )


def test_a_twin_with_an_answered_request_id_stores_nothing(database_url: str) -> None:
    async def scenario() -> tuple[int, int, int]:
        pool = await database.connect(database_url, schema="intake", max_size=2)
        try:
            await database.migrate(pool, "intake", MIGRATIONS)
            first, twin = submitted(), submitted()
            async with pool.acquire() as conn:
                for event in (first, twin):
                    answer = Answer(
                        "r-1", "hash", 202, {"referral_id": str(event.referral_id)}
                    )
                    try:
                        await record_submission(
                            conn, event, client_id="gp", source="json", answer=answer
                        )
                    except asyncpg.UniqueViolationError:
                        assert event is twin
                return (
                    await conn.fetchval(
                        "SELECT count(*) FROM referrals WHERE referral_id = $1",
                        twin.referral_id,
                    ),
                    await conn.fetchval(
                        "SELECT count(*) FROM outbox WHERE event_id = $1",
                        twin.event_id,
                    ),
                    await conn.fetchval(
                        "SELECT count(*) FROM referrals WHERE referral_id = $1",
                        first.referral_id,
                    ),
                )
        finally:
            await pool.close()

    twin_referrals, twin_events, first_referrals = asyncio.run(scenario())
    assert (twin_referrals, twin_events, first_referrals) == (0, 0, 1)
