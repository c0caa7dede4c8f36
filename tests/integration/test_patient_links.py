"""Intake's patient links on a real PostgreSQL: two traced numbers racing for one patient's demographics (HAZ-022).

Two GP systems may send referrals for two different people who happen to
share a name, date of birth and postcode at the same moment. Whatever the
interleaving, at most one of them may believe it holds the link, and the
demographics end up conflicting, linking nobody after.
"""

import asyncio
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from services.intake.domain.patients import Link
from services.intake.store.patient_links import claim_link, find_link
from signpost import database
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import _database

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "intake" / "migrations"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def database_url(infrastructure: Infrastructure) -> str:
    return _database(infrastructure, "intake_patient_links")


async def _pool(url: str) -> asyncpg.Pool:
    pool = await database.connect(url, schema="intake", max_size=4)
    await database.migrate(pool, "intake", MIGRATIONS)
    return pool


async def _claim(pool: asyncpg.Pool, demographic_key: str, patient_key: str) -> Link:
    async with pool.acquire() as conn:
        return await claim_link(conn, demographic_key, patient_key, uuid.uuid4())


@pytest.mark.hazard("HAZ-022")
def test_two_nhs_numbers_claiming_one_patients_demographics_at_once_leave_them_linking_nobody(
    database_url: str,
) -> None:
    async def scenario() -> list[tuple[Link, Link, Link | None]]:
        pool = await _pool(database_url)
        try:
            outcomes = []
            for _ in range(20):
                demographics, one, other = (uuid.uuid4().hex * 2 for _ in range(3))
                first, second = await asyncio.gather(
                    _claim(pool, demographics, one), _claim(pool, demographics, other)
                )
                async with pool.acquire() as conn:
                    outcomes.append(
                        (first, second, await find_link(conn, demographics))
                    )
            return outcomes
        finally:
            await pool.close()

    for first, second, after in run(scenario()):
        # Whichever came first holds the row; the other sees it was someone else's, and nobody links again.
        assert sorted([first.conflicting, second.conflicting]) == [False, True]
        assert after is not None
        assert after.conflicting
        assert after.patient_key in (first.patient_key, second.patient_key)


def test_one_nhs_number_claiming_its_own_demographics_again_keeps_the_link(
    database_url: str,
) -> None:
    async def scenario() -> tuple[Link, Link, Link | None, Link | None]:
        pool = await _pool(database_url)
        try:
            demographics, traced = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
            first, again = await asyncio.gather(
                _claim(pool, demographics, traced), _claim(pool, demographics, traced)
            )
            async with pool.acquire() as conn:
                return (
                    first,
                    again,
                    await find_link(conn, demographics),
                    await find_link(conn, "0" * 64),
                )
        finally:
            await pool.close()

    first, again, after, unknown = run(scenario())
    assert first == again == after == Link(first.patient_key, conflicting=False)
    assert unknown is None
