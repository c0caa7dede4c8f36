"""What a pooled connection carries to its next holder, on a real PostgreSQL.

A connection taken with ``database.statements`` is released without asyncpg's
reset (a round trip per request and per batch); any other is reset as
before. Each pool here has one connection, so the next holder is handed the
same session.
"""

from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest

from signpost import database
from tests.support.infrastructure import Infrastructure

LOCK = 424_242


@pytest.fixture
async def pool(infrastructure: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    schema = f"release_{uuid4().hex[:10]}"
    pool = await database.connect(
        infrastructure.database_url, schema, min_size=1, max_size=1
    )
    await pool.execute("CREATE TABLE rows (n int)")
    try:
        yield pool
    finally:
        await pool.close()


async def _setting(pool: asyncpg.Pool) -> str:
    async with pool.acquire() as conn:
        value: str = await conn.fetchval("SELECT current_setting('work_mem')")
        return value


async def test_an_ordinary_holders_session_state_is_reset_on_release(
    pool: asyncpg.Pool, infrastructure: Infrastructure
) -> None:
    default = await _setting(pool)
    async with pool.acquire() as conn:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        await conn.execute("SET work_mem = '77MB'")
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_backend_pid()") == backend
        assert await conn.fetchval("SELECT current_setting('work_mem')") == default
    # The session lock went with the reset: another session may take it.
    other = await asyncpg.connect(infrastructure.database_url)
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", LOCK)
    finally:
        await other.close()


async def test_a_statements_holder_is_released_without_the_reset(
    pool: asyncpg.Pool,
) -> None:
    # Breaking the promise shows what it saves: the setting outlives the holder, so no reset ran.
    async with database.statements(pool) as conn:
        await conn.execute("SET work_mem = '77MB'")
    assert await _setting(pool) == "77MB"
    # The promise is for one holder: the next ordinary one is reset again.
    assert await _setting(pool) != "77MB"


async def test_a_statements_holder_that_left_a_transaction_open_is_rolled_back(
    pool: asyncpg.Pool,
) -> None:
    async with database.statements(pool) as conn:
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO rows VALUES (1)")
    async with database.statements(pool) as conn:
        assert await conn.fetchval("SELECT count(*) FROM rows") == 0
        async with conn.transaction():
            await conn.execute("INSERT INTO rows VALUES (2)")
    assert await pool.fetchval("SELECT count(*) FROM rows") == 1
