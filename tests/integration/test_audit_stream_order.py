"""The live stream's order across chains written in parallel: total, resumable by a row's seq, and never missing a
row whose transaction drew its seq first but committed last.

Two transactions record into two different shards at once, as two audit instances would, on a real PostgreSQL.
"""

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from services.audit.domain.chains import chain_of
from services.audit.domain.records import SeenEvent
from services.audit.handlers import recorder
from services.audit.store import log, stream
from signpost import database
from signpost.consumer import Incoming
from tests.support.infrastructure import Infrastructure
from tests.support.scratch_database import scratch_database

MIGRATIONS = Path(__file__).parents[2] / "services" / "audit" / "migrations"
EVERYTHING = log.Filters()


@pytest.fixture
def audit_database(infrastructure: Infrastructure) -> Iterator[str]:
    with scratch_database(infrastructure.database_url, "audit_stream") as url:
        yield url


def _keys_in_two_shards() -> tuple[str, str]:
    first = "patient-0"
    second = next(
        f"patient-{n}"
        for n in range(1, 100)
        if chain_of(f"patient-{n}") != chain_of(first)
    )
    return first, second


def _batch(patient_key: str, size: int) -> list[Incoming[SeenEvent]]:
    events = [
        {
            "type": "referral.routed",
            "event_id": str(uuid.uuid4()),
            "patient_key": patient_key,
        }
        for _ in range(size)
    ]
    return [
        Incoming(recorder.parse(json.dumps(e).encode()), "referral.routed", 0, n, {})
        for n, e in enumerate(events)
    ]


async def _read(
    pool: asyncpg.Pool, cursor: stream.Cursor
) -> tuple[stream.Cursor, list[int]]:
    """What a client polling from ``cursor`` is shown now, and where it stands after."""
    async with pool.acquire() as conn:
        rows = await stream.page(conn, EVERYTHING, cursor, 200)
    return (rows[-1][0] if rows else cursor), [row["seq"] for _, row in rows]


def test_the_stream_holds_back_a_later_commit_until_an_earlier_seq_commits_and_resumes_across_chains(
    audit_database: str,
) -> None:
    asyncio.run(_check(audit_database))


async def _check(url: str) -> None:
    pool = await database.connect(url, "audit", max_size=4)
    try:
        await database.migrate(pool, "audit", MIGRATIONS)
        one, other = _keys_in_two_shards()
        async with pool.acquire() as conn:
            start = await stream.after(conn, None)
        assert start == stream.BEGINNING

        # The first writer draws its seqs and holds its transaction open; the second draws later seqs and commits.
        slow = await pool.acquire()
        slow_tx = slow.transaction()
        await slow_tx.start()
        await recorder.record(slow, _batch(one, 3))
        async with pool.acquire() as conn, conn.transaction():
            await recorder.record(conn, _batch(other, 2))
        committed = [
            r["seq"] for r in await pool.fetch("SELECT seq FROM audit_log ORDER BY seq")
        ]
        assert committed == [4, 5], (
            "the later seqs are committed, the earlier ones not yet"
        )

        # A client reading now must not be shown seq 4 and 5, or it would resume past 1-3 and never see them.
        cursor, shown = await _read(pool, start)
        assert shown == []
        await slow_tx.commit()
        await pool.release(slow)

        cursor, shown = await _read(pool, cursor)
        assert shown == [1, 2, 3, 4, 5], "both chains, every row once, in one order"

        # Resuming by the seq of a row shown (Last-Event-ID) continues after it, across chains.
        async with pool.acquire() as conn:
            resumed = await stream.after(conn, 2)
        assert (await _read(pool, resumed))[1] == [3, 4, 5]
        async with pool.acquire() as conn, conn.transaction():
            await recorder.record(conn, _batch(one, 1) + _batch(other, 1))
        async with pool.acquire() as conn:
            assert await stream.end(conn) == (await _read(pool, cursor))[0]
            resumed = await stream.after(conn, 5)
        assert (await _read(pool, resumed))[1] == [6, 7]
        async with pool.acquire() as conn:
            beyond = await stream.after(conn, 10_000)
        assert (await _read(pool, beyond))[1] == [], (
            "an id past the end resumes at the end"
        )
    finally:
        await pool.close()
