"""Read a topic from its beginning to its current end: for the demo, the tests and operators' checks."""

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer


async def read_all(
    bootstrap: str, topic: str, wait_s: float = 10.0, **security: Any
) -> list[dict[str, Any]]:
    """Every record currently on ``topic`` (up to its end offsets), decoded as JSON where possible."""
    return await read_topics(bootstrap, [topic], wait_s, **security)


async def read_topics(
    bootstrap: str, topics: list[str], wait_s: float = 10.0, **security: Any
) -> list[dict[str, Any]]:
    """Every record currently on these topics (no consumer group, nothing committed).

    ``security``: aiokafka keyword arguments for a secured broker (``signpost.kafka_security.security_kwargs``).
    """
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **security,
    )
    await consumer.start()
    try:
        out: list[dict[str, Any]] = []
        async with asyncio.timeout(wait_s):
            while {tp.topic for tp in consumer.assignment()} != set(topics):
                await consumer.getmany(timeout_ms=100)
            partitions = list(consumer.assignment())
            end = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        try:
                            decoded = json.loads(r.value)
                        except ValueError:
                            decoded = {"_raw": r.value}
                        if isinstance(decoded, dict):
                            decoded.update(
                                _ts=r.timestamp,
                                _partition=r.partition,
                                _offset=r.offset,
                                _headers={
                                    k: v.decode(errors="replace")
                                    for k, v in r.headers or ()
                                },
                            )
                        out.append(decoded)
        return out
    finally:
        await consumer.stop()
