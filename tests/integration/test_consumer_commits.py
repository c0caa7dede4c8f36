"""What the consumer commits, on a real broker and database: the batch's own partitions, and only after its effect.

Audit follows every Signpost topic by pattern (about 340 partitions). A commit
with no offsets names every assigned partition, so each batch of two or three
records cost a commit of 340 partitions. These tests pin the two halves of
the fix: a commit names only the partitions its batch came from, and a batch
whose transaction did not commit is not committed but delivered again.
"""

from collections.abc import AsyncIterator, Sequence
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from signpost import consumer
from signpost.consumer import Incoming
from signpost.database import Conn
from signpost.topics import ensure_topics
from tests.support.infrastructure import Infrastructure
from tests.support.kafka_reader import produce
from tests.support.schemas import fresh_schema
from tests.support.waiting import until


class Seen(BaseModel):
    event_id: UUID


@pytest.fixture
async def pool(infrastructure: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    async with fresh_schema(infrastructure.database_url, "commits") as pool:
        await pool.execute("CREATE TABLE effects (event_id uuid PRIMARY KEY)")
        yield pool


async def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {
            tp: m.offset
            for tp, m in (await admin.list_consumer_group_offsets(group)).items()
            if m.offset >= 0
        }
    finally:
        await admin.close()


async def store(conn: Conn, items: Sequence[Incoming[Seen]]) -> None:
    await conn.executemany(
        "INSERT INTO effects (event_id) VALUES ($1)",
        [(i.event.event_id,) for i in items],
    )


async def topics(bootstrap: str) -> tuple[str, str, str]:
    suffix = uuid4().hex[:8]
    busy, quiet = f"test.commits-{suffix}.busy", f"test.commits-{suffix}.quiet"
    await ensure_topics(bootstrap, {busy: 3, quiet: 3})
    return busy, quiet, rf"^test\.commits-{suffix}\..+"


async def test_a_batch_commits_only_the_partitions_it_came_from(
    pool: asyncpg.Pool, infrastructure: Infrastructure
) -> None:
    bootstrap = infrastructure.kafka_bootstrap
    busy, _quiet, pattern = await topics(bootstrap)
    group = f"test-commits-{uuid4().hex[:8]}"
    broker = KafkaBroker(bootstrap, logger=None)
    consumer.subscribe(
        broker,
        group_id=group,
        pool=pool,
        parse=Seen.model_validate_json,
        handle=store,
        event_id=lambda e: e.event_id,
        pattern=pattern,
    )
    await broker.start()
    try:
        # One key: every record on one partition of one of the six partitions the group is assigned.
        await produce(
            bootstrap,
            busy,
            [Seen(event_id=uuid4()).model_dump_json().encode() for _ in range(3)],
            key=b"k",
        )

        async def all_stored() -> bool:
            return await pool.fetchval("SELECT count(*) FROM effects") == 3 and bool(
                await committed(bootstrap, group)
            )

        await until(all_stored, "three effects stored and an offset committed")
        offsets = await committed(bootstrap, group)
    finally:
        await broker.stop()

    assert len(offsets) == 1, (
        f"the commit named partitions the batch never read: {sorted(offsets)}"
    )
    ((tp, offset),) = offsets.items()
    assert (tp.topic, offset) == (busy, 3)


async def test_a_batch_whose_effect_did_not_commit_is_not_committed_and_comes_again(
    pool: asyncpg.Pool, infrastructure: Infrastructure
) -> None:
    bootstrap = infrastructure.kafka_bootstrap
    busy, _quiet, pattern = await topics(bootstrap)
    group = f"test-commits-{uuid4().hex[:8]}"
    offsets_when_failed: list[dict[TopicPartition, int]] = []
    calls = [0]

    async def fail_first_then_store(
        conn: Conn, items: Sequence[Incoming[Seen]]
    ) -> None:
        calls[0] += 1
        await store(
            conn, items
        )  # written in the batch's transaction, then lost with it
        if calls[0] == 1:
            offsets_when_failed.append(await committed(bootstrap, group))
            raise OSError("the database went away mid-batch")

    broker = KafkaBroker(bootstrap, logger=None)
    consumer.subscribe(
        broker,
        group_id=group,
        pool=pool,
        parse=Seen.model_validate_json,
        handle=fail_first_then_store,
        event_id=lambda e: e.event_id,
        pattern=pattern,
    )
    await broker.start()
    try:
        ids = [uuid4() for _ in range(3)]
        await produce(
            bootstrap,
            busy,
            [Seen(event_id=i).model_dump_json().encode() for i in ids],
            key=b"k",
        )

        async def stored() -> bool:
            return await pool.fetchval("SELECT count(*) FROM effects") == 3 and bool(
                await committed(bootstrap, group)
            )

        await until(stored, "the batch delivered again and stored")
        offsets = await committed(bootstrap, group)
        effects = {
            r["event_id"] for r in await pool.fetch("SELECT event_id FROM effects")
        }
    finally:
        await broker.stop()

    assert offsets_when_failed == [{}], (
        "nothing was committed while the batch's effect was not durable"
    )
    assert calls[0] >= 2, "the batch came again"
    assert effects == set(ids)
    assert list(offsets.values()) == [3]
