"""Effectively-once consumption: batch, deduplicate, apply, then commit.

Each poll's records are handled in one PostgreSQL transaction that also
records their event ids (the inbox) and writes any resulting events to the
outbox. Only after that transaction commits is the Kafka offset committed,
so a crash anywhere replays records that the inbox then skips.

Records that cannot be parsed, or that fail on their own, go to the
dead-letter topic with the reason (through the outbox, in the same
transaction) and the consumer carries on. If PostgreSQL is away, the batch
is rewound and retried with backoff: nothing is skipped.
"""

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast
from uuid import UUID, uuid5

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import AckStatus
from pydantic import BaseModel, ValidationError

from schemas.topics import DEAD_LETTER
from signpost import database, dead_letter_bodies, logs
from signpost.database import Conn
from signpost.metrics import CONSUMED, CONSUMER_LAG, DEAD_LETTERED, HANDLER_SECONDS
from signpost.outbox import enqueue
from signpost.settings import Settings

# The setting's own default (SIGNPOST_MAX_EVENT_BYTES), not the environment's: a service passes its settings'
# value (``Runtime.follow``), so nothing is read at import and a test can give a limit of its own.
DEFAULT_MAX_EVENT_BYTES: int = Settings.model_fields["max_event_bytes"].default
FETCH_MAX_WAIT_MS = 2_000
# What a gathering consumer asks of each fetch: this many bytes, or whatever came within its gather time.
GATHER_MIN_BYTES = 256 * 1024
# How long a group that follows by pattern gathers, unless its service says otherwise (``Runtime.follow``).
PATTERN_GATHER_MS = 1_000
_DLQ_NAMESPACE = UUID("5b0c4a55-9d0e-4c5e-8f61-0d1e5d7f2a10")
log = logs.get_logger()

E = TypeVar("E", bound=BaseModel)


@dataclass(frozen=True)
class Incoming(Generic[E]):
    """One parsed record, with where it came from."""

    event: E
    topic: str
    partition: int
    offset: int
    headers: dict[str, str]


Parse = Callable[[bytes], E]
Handle = Callable[[Conn, Sequence[Incoming[E]]], Awaitable[None]]


# Errors that mean "the world is briefly broken", not "this record is bad".
class NotReady(Exception):
    """The service cannot handle anything yet (say, its reference data is missing): retry later, never dead-letter."""


TRANSIENT = (
    NotReady,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    OSError,
    KafkaError,
    TimeoutError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


def _headers(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (record.headers or ())}


def dead_letter_id(record: ConsumerRecord[Any, Any], consumer: str) -> UUID:
    """Stable per consumer and source record, so replaying a batch dead-letters each record once.

    The consumer is part of it: audit and the router both refuse a poison record on
    ``referral.submitted``, and each of those is a dead letter of its own.
    """
    return uuid5(
        _DLQ_NAMESPACE, f"{consumer}:{record.topic}:{record.partition}:{record.offset}"
    )


async def dead_letter(
    conn: Conn, record: ConsumerRecord[Any, Any], consumer: str, reason: str
) -> None:
    if record.topic == DEAD_LETTER:
        # Never a dead letter of a dead letter: each would carry the last, and they would feed each other for ever.
        log.error(
            "unreadable dead letter skipped",
            consumer=consumer,
            offset=record.offset,
            reason=reason[:200],
        )
        DEAD_LETTERED.labels(record.topic).inc()
        return
    letter_id = dead_letter_id(record, consumer)
    # An original too large to travel stays in this schema, by digest and size (see signpost.dead_letter_bodies).
    original = await dead_letter_bodies.carry(
        conn,
        letter_id,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        body=record.value or b"",
        headers=_headers(record),
    )
    await enqueue(
        conn,
        topic=DEAD_LETTER,
        key=dead_letter_key(record),
        event=json.dumps(
            dead_letter_payload(record, consumer, reason, original)
        ).encode(),
        event_id=letter_id,
        headers={"event-type": "event.dead_lettered"},
    )
    DEAD_LETTERED.labels(record.topic).inc()
    log.warning(
        "dead-lettered",
        consumer=consumer,
        topic=record.topic,
        offset=record.offset,
        reason=reason[:200],
    )


def dead_letter_key(record: ConsumerRecord[Any, Any]) -> str | None:
    """The letter's key: the original's, as text and cut short, so a hostile key cannot make the letter too large."""
    return record.key.decode(errors="replace")[:128] if record.key else None


def dead_letter_payload(
    record: ConsumerRecord[Any, Any],
    consumer: str,
    reason: str,
    original: dict[str, Any],
) -> dict[str, Any]:
    """The ``event.dead_lettered`` body: where the record came from, why it was refused (capped), and ``original``."""
    return {
        "type": "event.dead_lettered",
        "version": 1,
        "event_id": str(dead_letter_id(record, consumer)),
        "occurred_at": datetime.now(UTC).isoformat(),
        "consumer": consumer,
        "original_topic": record.topic,
        "original_partition": record.partition,
        "original_offset": record.offset,
        "reason": reason[:2000],
        **original,
    }


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        # Field locations and messages only; never the input values (they may hold identifiers).
        errs = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
            for e in exc.errors()[:10]
        )
        return f"schema violation: {errs}"
    return f"{type(exc).__name__}: {str(exc)[:500]}"


async def _claim(
    conn: Conn,
    items: Sequence[Incoming[E]],
    event_id: Callable[[E], UUID],
    consumer: str,
) -> list[Incoming[E]]:
    """Record event ids in the inbox, per consumer group and topic; return only those not handled before.

    The namespace matters because some ids are chosen outside Signpost: an agency picks the ids of the
    reports it writes on its own outcomes topic, and could pick one a service will derive later (a
    reroute's, an escalation's). Claimed per (group, topic), such an id shadows only records on the
    agency's own topic. Rows from before the namespace (consumer '') still count for their topic.
    """
    if not items:
        return []
    ids = [event_id(i.event) for i in items]
    topics = [i.topic for i in items]
    fresh = {
        (r["topic"], r["event_id"])
        for r in await conn.fetch(
            "INSERT INTO processed_events (consumer, topic, event_id)"
            " SELECT $3, c.topic, c.event_id FROM unnest($1::uuid[], $2::text[]) AS c(event_id, topic)"
            " WHERE NOT EXISTS (SELECT 1 FROM processed_events p"
            " WHERE p.consumer = '' AND p.topic = c.topic AND p.event_id = c.event_id)"
            " ON CONFLICT DO NOTHING RETURNING topic, event_id",
            ids,
            topics,
            consumer,
        )
    }
    seen: set[tuple[str, UUID]] = set()
    out = []
    for item, key in zip(items, zip(topics, ids, strict=True), strict=True):
        if key in fresh and key not in seen:
            seen.add(key)
            out.append(item)
    return out


def subscribe(
    broker: KafkaBroker,
    *topics: str,
    group_id: str,
    pool: asyncpg.Pool,
    parse: Parse[E],
    handle: Handle[E],
    event_id: Callable[[E], UUID],
    batch_size: int = 500,
    pattern: str | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    gather_ms: int = 0,
) -> None:
    """Register a batch subscriber with manual commits after the durable effect.

    ``pattern`` subscribes to every matching topic instead of named ones
    (the audit service uses it to follow agency topics as they are created). A record larger than
    ``max_event_bytes`` is dead-lettered unread. ``gather_ms`` above 0 lets the broker hold each fetch
    that long (or until ``GATHER_MIN_BYTES``) to send more records at once (see ``fetch_wait``).
    """
    where: dict[str, Any] = {"pattern": pattern} if pattern else {}

    @broker.subscriber(  # type: ignore[call-overload,misc,untyped-decorator]
        *topics,
        **where,
        group_id=group_id,
        batch=True,
        max_records=batch_size,
        batch_timeout_ms=50,
        **fetch_wait(gather_ms),
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        isolation_level="read_committed",
        title=f"{group_id}:{pattern or ','.join(topics)}",
    )
    async def consume(message: KafkaMessage) -> None:
        raw = message.raw_message
        records: tuple[ConsumerRecord[Any, Any], ...] = (
            raw if isinstance(raw, tuple) else (raw,)
        )
        started = time.perf_counter()
        try:
            await _apply(
                pool, records, group_id, parse, handle, event_id, max_event_bytes
            )
        except TRANSIENT as exc:
            log.warning(
                "batch rewound, will retry", consumer=group_id, error=type(exc).__name__
            )
            await asyncio.sleep(1.0)  # back off before the redelivery the rewind causes
            await message.nack()
            return
        await _commit(message, records, group_id)
        HANDLER_SECONDS.labels(group_id).observe(time.perf_counter() - started)
        _count_consumed(records)
        _observe_lag(message, records, group_id)


def fetch_wait(gather_ms: int) -> dict[str, int]:
    """aiokafka's fetch settings: answer at the first record, or gather records for up to ``gather_ms``.

    Every fetch names each partition the consumer follows, and the broker and the client both pay for
    that by the partition, whatever the fetch returns. Answered at the first record, audit (some 340
    partitions) fetched once for nearly every record at England's peak rate, which was most of Kafka's
    CPU there. Gathering bounds that to one fetch per ``gather_ms``, at the cost of up to ``gather_ms``
    of latency: for consumers that nobody waits on, not for those on the way to an agency.
    Not gathering, a fetch with nothing to return is still held ``FETCH_MAX_WAIT_MS``: the broker answers
    as soon as a record arrives, so that costs no latency, and aiokafka's 500 ms made every idle
    consumer fetch twice a second.
    """
    if gather_ms <= 0:
        return {"fetch_min_bytes": 1, "fetch_max_wait_ms": FETCH_MAX_WAIT_MS}
    # consumer_timeout_ms: how often aiokafka's fetch routine wakes with nothing to do and walks every
    # partition it follows (5 times a second by default, 22% of audit's samples under load). A gathering
    # consumer gains nothing from waking more often than it fetches; it only sees a new assignment that late.
    return {
        "fetch_min_bytes": GATHER_MIN_BYTES,
        "fetch_max_wait_ms": gather_ms,
        "consumer_timeout_ms": gather_ms,
    }


def batch_offsets(
    records: Sequence[ConsumerRecord[Any, Any]],
) -> dict[TopicPartition, int]:
    """What to commit after a batch is durable: for each of its own partitions, the offset after its last record.

    Only the batch's partitions: ``commit()`` with no offsets names every assigned partition, and audit
    follows about 340 by pattern, so each batch of two or three records cost an offset commit of 340
    (written to ``__consumer_offsets`` and replicated), most of the broker's work at England's peak rate.
    """
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
    return offsets


async def _commit(
    message: KafkaMessage, records: Sequence[ConsumerRecord[Any, Any]], group_id: str
) -> None:
    """Commit the batch's own offsets, after its transaction: a crash before here redelivers it, and the inbox skips it."""
    try:
        # FastStream types its consumer by a protocol without offsets; it is aiokafka's, which takes them.
        await cast(AIOKafkaConsumer, message.consumer).commit(batch_offsets(records))
    except KafkaError as exc:
        # A rebalance took a partition away mid-batch: its new owner reads these records again and the
        # inbox, committed with the effect, skips them. Nothing is lost and nothing is applied twice.
        log.warning(
            "offset commit refused, the inbox will skip the redelivery",
            consumer=group_id,
            error=type(exc).__name__,
        )
    # Marked as acknowledged, so FastStream never commits again with no offsets (every assigned partition).
    message.committed = AckStatus.ACKED


def _count_consumed(records: Sequence[ConsumerRecord[Any, Any]]) -> None:
    """Count the batch's records by topic: a counter's lookup (a lock, a label tuple) per topic, not per record."""
    for topic, count in Counter(r.topic for r in records).items():
        CONSUMED.labels(topic).inc(count)


def _observe_lag(
    message: Any, records: Sequence[ConsumerRecord[Any, Any]], group_id: str
) -> None:
    """Lag after this batch: the partition's high-water mark minus the next offset to read."""
    consumer = getattr(message, "consumer", None)
    highwater = getattr(consumer, "highwater", None)
    if highwater is None:
        return
    last: dict[tuple[str, int], int] = {}
    for r in records:
        last[(r.topic, r.partition)] = max(
            r.offset, last.get((r.topic, r.partition), -1)
        )
    for (topic, partition), offset in last.items():
        end = highwater(TopicPartition(topic, partition))
        if end is not None:
            CONSUMER_LAG.labels(group_id, topic, str(partition)).set(
                max(end - offset - 1, 0)
            )


async def _apply(
    pool: asyncpg.Pool,
    records: Sequence[ConsumerRecord[Any, Any]],
    consumer: str,
    parse: Parse[E],
    handle: Handle[E],
    event_id: Callable[[E], UUID],
    max_event_bytes: int,
) -> None:
    try:
        async with database.statements(pool) as conn, conn.transaction():
            await _handle_batch(
                conn, records, consumer, parse, handle, event_id, max_event_bytes
            )
        return
    except TRANSIENT:
        raise
    except Exception as exc:  # noqa: BLE001 - isolate the record that fails, below
        log.warning(
            "batch failed, retrying one by one",
            consumer=consumer,
            error=type(exc).__name__,
        )
    for record in records:
        try:
            async with database.statements(pool) as conn, conn.transaction():
                await _handle_batch(
                    conn, (record,), consumer, parse, handle, event_id, max_event_bytes
                )
        except TRANSIENT:
            raise
        except Exception as exc:  # noqa: BLE001 - a poison record must not stall the partition
            async with database.statements(pool) as conn, conn.transaction():
                await dead_letter(conn, record, consumer, _reason(exc))


async def _handle_batch(
    conn: Conn,
    records: Sequence[ConsumerRecord[Any, Any]],
    consumer: str,
    parse: Parse[E],
    handle: Handle[E],
    event_id: Callable[[E], UUID],
    max_event_bytes: int,
) -> None:
    parsed: list[Incoming[E]] = []
    for record in records:
        read = _read(record, parse, max_event_bytes)
        if isinstance(read, str):
            await dead_letter(conn, record, consumer, read)
            continue
        parsed.append(read)
    fresh = await _claim(conn, parsed, event_id, consumer)
    if fresh:
        await handle(conn, fresh)


def _read(
    record: ConsumerRecord[Any, Any],
    parse: Parse[E],
    max_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> Incoming[E] | str:
    """The record parsed, or why it must be dead-lettered; any other error is the batch's to isolate."""
    size = len(record.value or b"")
    # Dead letters carry a whole refused record (in base64), so they may exceed the limit they enforce.
    if size > max_bytes and record.topic != DEAD_LETTER:
        # Parsing a huge record would cost memory every consumer shares; it waits, whole, in the dead letters.
        return f"event of {size} bytes exceeds the {max_bytes}-byte limit"
    try:
        event = parse(record.value or b"")
    except (ValidationError, ValueError, UnicodeDecodeError) as exc:
        return _reason(exc)
    return Incoming(
        event, record.topic, record.partition, record.offset, _headers(record)
    )
