"""Transactional outbox: write events with the state change, relay them to Kafka.

A service never publishes directly from a request or a handler. It inserts
the event into its own ``outbox`` table in the same transaction as the state
change, so the two are durable together or not at all. The relay then
publishes with an idempotent producer (acks=all) and marks rows published.
A crash between publish and mark republishes the same event id; consumers
deduplicate on it.

A fault that belongs to one topic (it does not exist, this principal may not
write it, a record is too large for it) holds back that topic's rows only,
in order, and the others keep flowing: one missing practice topic must not
stop every delivery. A probe releases the topic once the broker knows it and
lets this principal write it. A fault of the broker as a whole still stops
the relay and retries, as before. A fault of one row (anything else it
raises, say a header that is not text) parks that row with the reason: it is
kept, shown in ``/readyz``, and the rows behind it go. The relay itself
survives any error (``signpost.loops``): it counts, backs off and goes on.
"""

import asyncio
import contextlib
import hashlib
import json
from typing import Any, Literal, cast
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from pydantic import BaseModel

from signpost import database, loops, tracing
from signpost.database import Conn
from signpost.logs import get_logger
from signpost.metrics import OUTBOX_DEPTH, OUTBOX_HELD, PRODUCED

log = get_logger()
# Faults of one topic, not of the broker: holding that topic back is right, stopping the relay is not.
TOPIC_FAULTS = (
    UnknownTopicOrPartitionError,
    TopicAuthorizationFailedError,
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
)
LOOP = "outbox-relay"
PARKED = (
    "SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL AND published_at IS NULL"
)
# Rows the relay still has to send (held topics' included; parked rows wait for a person, and /readyz counts them).
# The predicate is the partial index's (outbox_unpublished): without parked_at it read every row kept for the
# retention window, a week of rows, after each batch.
DEPTH = "SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL"
HOLD_FIRST_S = 2.0
# Inside the drain's budget for the flush (signpost/service.py), leaving time to close the producer.
STOP_FLUSH_S = 4.0
HOLD_MAX_S = 60.0


Fate = Literal["publish", "hold", "raise", "park"]


def send_fate(fault: Exception) -> Fate:
    """What a fault raised by ``send()`` means: hold its topic, stop the relay (the broker's), or park its row."""
    if isinstance(fault, TOPIC_FAULTS):
        return "hold"
    if isinstance(fault, (KafkaError, *loops.TRANSIENT)):
        return "raise"
    return "park"


def delivery_fate(result: object) -> Fate:
    """What one gathered delivery result means: published, its topic held, the relay stopped, or its row parked."""
    if isinstance(result, TOPIC_FAULTS):
        return "hold"
    if isinstance(
        result, KafkaError | asyncio.CancelledError | KeyboardInterrupt | SystemExit
    ):
        return "raise"
    if isinstance(result, Exception):
        return "park"
    return "publish"


def probe_delay(faults: int) -> float:
    """How long a held topic waits for its first probe: doubling with each fault since it last published, capped."""
    return min(HOLD_FIRST_S * 2.0 ** (faults - 1), HOLD_MAX_S)


def notify_channel(schema: str) -> str:
    return f"outbox_{schema}"


async def enqueue(
    conn: Conn,
    *,
    topic: str,
    key: str | None,
    event: BaseModel | bytes,
    event_id: UUID,
    headers: dict[str, str] | None = None,
) -> None:
    """Add one event to the outbox inside the caller's transaction (idempotent by event id)."""
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, payload, headers) VALUES ($1, $2, $3, $4, $5::jsonb)"
        " ON CONFLICT (event_id) DO NOTHING",
        *outbox_row(
            topic=topic, key=key, event=event, event_id=event_id, headers=headers
        ),
    )


OutboxRow = tuple[UUID, str, bytes | None, bytes, str]


async def enqueue_many(conn: Conn, rows: list[OutboxRow]) -> None:
    """Add a batch's events in one pipelined round trip (see ``outbox_row``), idempotent by event id."""
    if rows:
        await conn.executemany(
            "INSERT INTO outbox (event_id, topic, key, payload, headers) VALUES ($1, $2, $3, $4, $5::jsonb)"
            " ON CONFLICT (event_id) DO NOTHING",
            rows,
        )


def outbox_row(
    *,
    topic: str,
    key: str | None,
    event: BaseModel | bytes,
    event_id: UUID,
    headers: dict[str, str] | None = None,
) -> OutboxRow:
    """The outbox columns (event_id, topic, key, payload, headers) for one event, trace context included."""
    payload = event if isinstance(event, bytes) else event.model_dump_json().encode()
    return (
        event_id,
        topic,
        key.encode() if key is not None else None,
        payload,
        json.dumps(tracing.inject(dict(headers or {}))),
    )


def make_producer(
    bootstrap: str,
    request_timeout_ms: int = 15_000,
    client_id: str = "signpost-relay",
    **security: Any,
) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        # Also how long a send waits to learn of a topic before the topic is held back.
        request_timeout_ms=request_timeout_ms,
        retry_backoff_ms=200,
        **security,
    )


class OutboxRelay:
    """Publishes outbox rows in id order; one relay per schema holds the leader lock."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        bootstrap: str,
        batch_size: int = 500,
        request_timeout_ms: int = 15_000,
        client_id: str = "signpost-relay",
        **security: Any,
    ):
        self._pool = pool
        self._client_id = client_id
        self._schema = schema
        self._bootstrap = bootstrap
        self._security = security
        self._batch_size = batch_size
        self._request_timeout_ms = request_timeout_ms
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self.kafka_connected = False
        # Topics held back, with the fault that held them; and each topic's faults since it last published.
        self.held: dict[str, str] = {}
        self._faults: dict[str, int] = {}
        self._probes: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(
            self._run(), name=f"outbox-relay-{self._schema}"
        )
        loops.watch(LOOP, self._task)
        loops.register_parked(LOOP, PARKED)

    async def stop(self) -> None:
        """Publish what is already due (for at most ``STOP_FLUSH_S``: what is left waits for the next relay), then stop."""
        self._stopping.set()
        self._wake.set()
        loops.forget(LOOP)
        for probe in list(self._probes):
            loops.forget(probe.get_name())
            probe.cancel()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await asyncio.wait_for(self._task, timeout=STOP_FLUSH_S)
                except TimeoutError:
                    self._task.cancel()
        await self._close_producer()

    async def _close_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
            self.kafka_connected = False

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = make_producer(
                self._bootstrap,
                self._request_timeout_ms,
                self._client_id,
                **self._security,
            )
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
            self.kafka_connected = True
        return self._producer

    async def reachable(self) -> bool:
        """Whether a broker answers this relay's producer now (a metadata request); False while it has none."""
        producer = self._producer
        if producer is None:
            return False
        await producer.client.fetch_all_metadata()  # raises when no broker answers
        return True

    async def _run(self) -> None:
        lock_id = int.from_bytes(
            hashlib.sha256(f"relay:{self._schema}".encode()).digest()[:8],
            "big",
            signed=True,
        )
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                # Connected before waiting to lead: /readyz asks this producer whether Kafka answers, and an
                # instance that is not the leader (or waits for a killed leader's lock) must still be ready.
                await self._ensure_producer()
                async with self._pool.acquire() as leader:
                    while not await leader.fetchval(
                        "SELECT pg_try_advisory_lock($1)", lock_id
                    ):
                        if await self._sleep(2.0):
                            return
                    await leader.add_listener(
                        notify_channel(self._schema), self._on_notify
                    )
                    try:
                        await self._loop()
                    finally:
                        await leader.remove_listener(
                            notify_channel(self._schema), self._on_notify
                        )
                        await leader.execute("SELECT pg_advisory_unlock($1)", lock_id)
                backoff = 0.5
            except Exception as exc:  # noqa: BLE001 - the relay is the only way out for accepted events: never die
                # Kafka or PostgreSQL is away (a PostgreSQL restart surfaces as InterfaceError on a pooled
                # connection), or something unforeseen: keep the rows, retry with backoff.
                if isinstance(
                    exc, (KafkaError, *loops.TRANSIENT, asyncpg.PostgresError)
                ):
                    log.warning(
                        "outbox relay waiting",
                        error=type(exc).__name__,
                        retry_in_s=backoff,
                    )
                else:
                    loops.failed(LOOP, exc)
                await self._close_producer()
                if await self._sleep(backoff):
                    return
                backoff = min(backoff * 2, 10.0)

    async def _loop(self) -> None:
        while True:
            handled = await self.publish_due()
            if handled == 0:
                if self._stopping.is_set():
                    return
                self._wake.clear()
                await self._sleep(1.0, wake=True)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float, wake: bool = False) -> bool:
        """Wait for a timeout, a notify (if ``wake``) or stop; True when stopping."""
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if wake:
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in waiters:
            task.cancel()
        return self._stopping.is_set()

    async def publish_due(self) -> int:
        """Publish one batch of unpublished rows in order, skipping held topics; return how many were published or held."""
        producer = await self._ensure_producer()
        async with database.statements(self._pool) as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, key, payload, headers FROM outbox WHERE published_at IS NULL"
                " AND parked_at IS NULL AND NOT (topic = ANY($2::text[])) ORDER BY id LIMIT $1 FOR UPDATE",
                self._batch_size,
                list(self.held),
            )
            if not rows:
                # Nothing due: only rows of held topics can be waiting, and then only they need counting.
                OUTBOX_DEPTH.labels(self._schema).set(
                    await self._depth(conn) if self.held else 0
                )
                return 0
            # send() enqueues in call order; awaiting the futures together keeps
            # per-partition order (idempotent producer) while batching the round trips.
            sent, futures = [], []
            for row in rows:
                if row["topic"] in self.held:
                    continue  # held earlier in this batch: its later rows wait behind the first, in order
                try:
                    headers = [
                        (k, v.encode()) for k, v in json.loads(row["headers"]).items()
                    ]
                    futures.append(
                        await producer.send(
                            row["topic"],
                            row["payload"],
                            key=row["key"],
                            headers=headers,
                        )
                    )
                except Exception as exc:  # sorted below: this topic's fault, the broker's, or this row's alone
                    verdict = send_fate(exc)
                    if verdict == "raise":
                        raise
                    if verdict == "hold":
                        self._hold(row["topic"], exc)
                    else:  # a fault of this row alone: park it, send the rest
                        await self._park(conn, row["id"], exc)
                    continue
                sent.append(row)
            results = await asyncio.gather(*futures, return_exceptions=True)
            published = []
            for row, result in zip(sent, results, strict=True):
                verdict = delivery_fate(result)
                if verdict == "publish":
                    published.append(row)
                    continue
                fault = cast(BaseException, result)
                if verdict == "raise":
                    raise fault  # the broker as a whole: nothing is marked, the relay backs off and sends again
                if verdict == "hold":
                    self._hold(row["topic"], fault)
                else:
                    await self._park(conn, row["id"], fault)
            # One round trip: the count reads the snapshot from before the update, so it still holds this batch.
            before: int = await conn.fetchval(
                f"WITH marked AS (UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])) {DEPTH}",
                [r["id"] for r in published],
            )
            for row in published:
                PRODUCED.labels(row["topic"]).inc()
                self._faults.pop(row["topic"], None)
            OUTBOX_DEPTH.labels(self._schema).set(max(before - len(published), 0))
        return len(rows)

    async def _park(self, conn: Conn, row_id: int, exc: BaseException) -> None:
        reason = loops.parked(LOOP, exc)
        await conn.execute(
            "UPDATE outbox SET parked_at = now(), parked_reason = $2 WHERE id = $1",
            row_id,
            reason,
        )
        log.error("outbox row parked", schema=self._schema, reason=reason)

    @staticmethod
    async def _depth(conn: Conn) -> int:
        depth: int = await conn.fetchval(DEPTH)
        return depth

    def _hold(self, topic: str, fault: BaseException) -> None:
        """Hold back one topic's rows until a probe finds the topic there and writable."""
        if topic in self.held:
            return
        self.held[topic] = type(fault).__name__
        self._faults[topic] = self._faults.get(topic, 0) + 1
        OUTBOX_HELD.labels(self._schema, topic).set(1)
        log.warning(
            "outbox topic held",
            topic=topic,
            error=type(fault).__name__,
            faults=self._faults[topic],
        )
        probe = asyncio.create_task(self._probe(topic), name=f"outbox-probe-{topic}")
        loops.watch(f"outbox-probe-{topic}", probe, may_finish=True)
        self._probes.add(probe)
        probe.add_done_callback(self._probes.discard)

    async def _probe(self, topic: str) -> None:
        # A topic that keeps failing once released (a record too large for it) is probed ever less often.
        delay = probe_delay(self._faults.get(topic, 1))
        while not await self._sleep(delay):
            producer = self._producer
            try:
                if producer is not None:
                    async with asyncio.timeout(30):
                        await producer.partitions_for(topic)
                    del self.held[topic]
                    OUTBOX_HELD.labels(self._schema, topic).set(0)
                    log.info("outbox topic released", topic=topic)
                    self._wake.set()
                    return
            except Exception as exc:  # noqa: BLE001 - a probe that died would hold the topic for good; try again later
                log.info(
                    "outbox topic still held", topic=topic, error=type(exc).__name__
                )
            delay = min(delay * 2, HOLD_MAX_S)
