"""When a benchmark phase is over: everything it caused has been handled, so the next phase starts clean.

A phase that ends while its events are still in flight leaves its work (and
its CPU) to the next one. A phase is over when audit holds every delivery of
its referrals, every service's outbox is empty and every Signpost consumer
group has read to the end of what it has committed on. Dead letters are
counted per phase from the dead-letter topic's end offsets: each phase must
leave none.
"""

import asyncio
import time
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.topics import DEAD_LETTER
from signpost.topics import CORE_TOPICS
from toolbox.stack import SERVICES

THROUGH = (
    "SELECT count(*) FROM (SELECT referral_id FROM audit.audit_log WHERE referral_id = ANY($1::uuid[])"
    " AND event_type IN ('referral.routed', 'assignment.delivered') GROUP BY referral_id"
    " HAVING count(*) FILTER (WHERE event_type = 'assignment.delivered') >= max(jsonb_array_length("
    "CASE WHEN event_type = 'referral.routed' THEN payload->'assignments' END))) AS through"
)


async def audited(conn: asyncpg.Connection, referral_ids: list[str]) -> int:
    """How many of these referrals audit holds every delivery of (a referral is through when its last one is)."""
    count: int = await conn.fetchval(THROUGH, referral_ids)
    return count


async def wait_audited(
    database_url: str, referral_ids: list[str], timeout_s: float = 900.0
) -> tuple[int, float]:
    """Poll until audit holds every delivery of these referrals (or the deadline); return (through, when: perf_counter)."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            done = await audited(conn, referral_ids)
            if done >= len(referral_ids) or time.monotonic() > deadline:
                return done, time.perf_counter()
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def unpublished(database_url: str) -> int:
    """Outbox rows of every service still to publish (parked rows are reported by /readyz, not waited for)."""
    conn = await asyncpg.connect(database_url)
    try:
        total = 0
        for schema in SERVICES:
            total += await conn.fetchval(
                f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL AND parked_at IS NULL"
            )
        return total
    finally:
        await conn.close()


async def lag(bootstrap: str) -> dict[str, int]:
    """Per Signpost consumer group: records between its committed offsets and the ends of those partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await admin.start()
    await consumer.start()
    try:
        groups = [
            g[0]
            for g in await admin.list_consumer_groups()
            if str(g[0]).startswith("signpost-")
        ]
        out: dict[str, int] = {}
        for group in groups:
            committed = {
                tp: m.offset
                for tp, m in (await admin.list_consumer_group_offsets(group)).items()
                if m.offset >= 0
            }
            ends = await end_offsets(consumer, list(committed))
            out[group] = sum(max(ends[tp] - off, 0) for tp, off in committed.items())
        return out
    finally:
        await consumer.stop()
        await admin.close()


async def wait_settled(
    bootstrap: str, database_url: str, timeout_s: float = 300.0
) -> dict[str, Any]:
    """Poll until every outbox is empty and no Signpost group lags; return what was still outstanding if it never was."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows, lags = await unpublished(database_url), await lag(bootstrap)
        behind = {g: n for g, n in lags.items() if n}
        if (rows == 0 and not behind) or time.monotonic() > deadline:
            return {
                "settled": rows == 0 and not behind,
                "outbox_rows": rows,
                "lagging": behind,
            }
        await asyncio.sleep(0.2)


async def end_offsets(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """End offsets of any partitions: assigned first, so the client fetches their metadata (else StaleMetadata)."""
    if not partitions:
        return {}
    consumer.assign(partitions)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    return ends


async def dead_letters(bootstrap: str) -> int:
    """How many records the dead-letter topic holds: read before and after a phase, the difference is the phase's."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(DEAD_LETTER, p) for p in range(CORE_TOPICS[DEAD_LETTER])
        ]
        return sum((await end_offsets(consumer, partitions)).values())
    finally:
        await consumer.stop()
