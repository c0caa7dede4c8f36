"""The webhook tables: due deliveries, the agency's pause and breaker, and what each attempt leaves behind.

Every function runs inside the caller's transaction. The breaker is kept in
``agency_controls`` beside the pause, so all notifier instances share it and a
restart does not forget an agency that keeps failing.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import asyncpg

from schemas.events import DeadLettered
from schemas.topics import ASSIGNMENT_DELIVERED, DEAD_LETTER, agency_referrals
from services.notifier.domain.webhooks.attempts import (
    Controls,
    Due,
    GiveUp,
    Hold,
    RetryAt,
)
from services.notifier.domain.webhooks.breaker import Breaker, BreakerPolicy
from services.notifier.domain.webhooks.receivers import (
    receiver_event_type,
    receiver_topic,
    referrer_of,
)
from services.notifier.domain.webhooks.retry import RetryPolicy
from signpost import dead_letter_bodies, logs, retention
from signpost.database import Conn
from signpost.outbox import enqueue

log = logs.get_logger()
CONSUMER = "signpost-notifier-webhook"
PARKED = "SELECT count(*) FROM webhook_deliveries WHERE status = 'parked'"
# A finished delivery's body (the agency's case) goes after the window; one still pending or parked is kept.
retention.register(
    retention.Rule(
        "webhook-bodies",
        "DELETE FROM webhook_deliveries WHERE copy_id IN (SELECT copy_id FROM webhook_deliveries WHERE status IN"
        " ('delivered', 'dead_lettered', 'handed_to_kafka') AND coalesce(delivered_at, next_attempt_at) < $1 LIMIT $2)",
        lambda s: s.webhook_retention_days,
    )
)


@dataclass(frozen=True)
class Claimed:
    copy_id: UUID
    agency_id: str
    body: bytes
    delivered_event: (
        bytes | None
    )  # None for a referrer's feedback: it is on the referrer's topic already
    patient_key: str
    due: Due
    url: (
        str | None
    )  # None when the agency has gone back to Kafka since the row was written
    secret: str
    policy: RetryPolicy


async def due_agencies(conn: Conn, exclude: list[str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT agency_id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()"
        " AND agency_id <> ALL($1::text[])",
        exclude,
    )
    return [r["agency_id"] for r in rows]


async def claim(conn: Conn, agency_id: str) -> Claimed | None:
    """The agency's next due delivery, locked until the transaction ends (``SKIP LOCKED``: never two senders)."""
    row = await conn.fetchrow(
        "SELECT d.*, w.url, w.secret, w.initial_delay_s, w.max_delay_s, w.give_up_after_s FROM webhook_deliveries d"
        " LEFT JOIN webhooks w USING (agency_id) WHERE d.agency_id = $1 AND d.status = 'pending' AND d.next_attempt_at <= now()"
        " ORDER BY d.next_attempt_at LIMIT 1 FOR UPDATE OF d SKIP LOCKED",
        agency_id,
    )
    if row is None:
        return None
    hooked = row["url"] is not None
    policy = (
        RetryPolicy(
            initial=timedelta(seconds=row["initial_delay_s"]),
            max_delay=timedelta(seconds=row["max_delay_s"]),
            give_up_after=timedelta(seconds=row["give_up_after_s"]),
        )
        if hooked
        else RetryPolicy()
    )
    due = Due(row["attempts"], row["first_attempt_at"], row["last_error"])
    announced = (
        bytes(row["delivered_event"]) if row["delivered_event"] is not None else None
    )
    return Claimed(
        row["copy_id"],
        agency_id,
        bytes(row["body"]),
        announced,
        row["patient_key"],
        due,
        row["url"],
        row["secret"] or "",
        policy,
    )


async def park(conn: Conn, agency_id: str, copy_id: UUID | None, reason: str) -> None:
    """Set a delivery aside (status ``parked``) with why.

    With no ``copy_id`` (its row would not even load), the agency's next due one.
    """
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'parked', parked_at = now(), parked_reason = $3"
        " WHERE copy_id = coalesce($2, (SELECT copy_id FROM webhook_deliveries WHERE agency_id = $1 AND status = 'pending'"
        " AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT 1)) AND status = 'pending'",
        agency_id,
        copy_id,
        reason,
    )


async def controls(
    conn: Conn, agency_id: str, policy: BreakerPolicy, *, lock: bool = True
) -> Controls:
    """The pause and the breaker; locked by default, so that two instances cannot both let a half-open probe through."""
    query = "SELECT * FROM agency_controls WHERE agency_id = $1"
    row = await conn.fetchrow(query + " FOR UPDATE" if lock else query, agency_id)
    if row is None:
        return Controls(breaker=Breaker(policy))
    breaker = Breaker(
        policy, row["consecutive_failures"], row["opened_at"], row["probe_started_at"]
    )
    return Controls(row["paused"], row["paused_until"], breaker)


async def save_breaker(
    conn: Conn, agency_id: str, before: Breaker, after: Breaker
) -> None:
    if after == before:
        return
    await conn.execute(
        "INSERT INTO agency_controls (agency_id, consecutive_failures, opened_at, probe_started_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (agency_id) DO UPDATE SET consecutive_failures = EXCLUDED.consecutive_failures,"
        " opened_at = EXCLUDED.opened_at, probe_started_at = EXCLUDED.probe_started_at",
        agency_id,
        after.consecutive_failures,
        after.opened_at,
        after.probe_started_at,
    )
    if before.opened_at is not None and after.opened_at is None:
        # The agency answers again: what waited behind the breaker goes now, not at its backed-off time.
        await release(conn, agency_id)
        log.info("webhook circuit closed", agency=agency_id)
    elif before.opened_at is None and after.opened_at is not None:
        log.warning(
            "webhook circuit opened",
            agency=agency_id,
            failures=after.consecutive_failures,
        )


async def release(conn: Conn, agency_id: str) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE agency_id = $1 AND status = 'pending'",
        agency_id,
    )


async def lease(conn: Conn, claimed: Claimed, now: datetime, until: datetime) -> None:
    """Mark the delivery as being sent: if this process dies mid-request, it is due again at ``until``."""
    await conn.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = $2, first_attempt_at = coalesce(first_attempt_at, $3)"
        " WHERE copy_id = $1",
        claimed.copy_id,
        until,
        now,
    )


async def hold(conn: Conn, claimed: Claimed, held: Hold) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = $2, first_attempt_at = $3 WHERE copy_id = $1",
        claimed.copy_id,
        held.until,
        held.clock_from,
    )


async def delivered(conn: Conn, claimed: Claimed, at: datetime) -> None:
    updated = await conn.fetchval(
        "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = $2, attempts = attempts + 1, last_error = NULL"
        " WHERE copy_id = $1 AND status = 'pending' RETURNING copy_id",
        claimed.copy_id,
        at,
    )
    if (
        updated is None
    ):  # handed back to Kafka while the request was out; that copy stands
        return
    if (
        claimed.delivered_event is None
    ):  # a referrer's feedback: nothing more to announce
        log.info("webhook delivered", receiver=claimed.agency_id)
        return
    event = json.loads(claimed.delivered_event)
    event["occurred_at"] = (
        at.isoformat()
    )  # delivered when the agency said so, not when it was routed
    await _announce_delivered(conn, claimed.patient_key, event)
    log.info("webhook delivered", agency=claimed.agency_id)


async def retry(conn: Conn, claimed: Claimed, later: RetryAt, error: str) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET attempts = $2, first_attempt_at = $3, next_attempt_at = $4, last_error = $5"
        " WHERE copy_id = $1 AND status = 'pending'",
        claimed.copy_id,
        later.attempts,
        later.first_attempt_at,
        later.at,
        error,
    )


async def dead_letter(conn: Conn, claimed: Claimed, given_up: GiveUp) -> None:
    updated = await conn.fetchval(
        "UPDATE webhook_deliveries SET status = 'dead_lettered', attempts = $2 WHERE copy_id = $1 AND status = 'pending'"
        " RETURNING copy_id",
        claimed.copy_id,
        given_up.attempts,
    )
    if updated is None:
        return
    letter_id = uuid5(NAMESPACE_URL, f"signpost:webhook-dead-letter:{claimed.copy_id}")
    topic = receiver_topic(claimed.agency_id)
    # Never on Kafka (an agency's copy), so no partition or offset: -1 says so; replaying puts it on the topic.
    original = await dead_letter_bodies.carry(
        conn,
        letter_id,
        topic=topic,
        partition=-1,
        offset=-1,
        body=claimed.body,
        headers={"event-type": receiver_event_type(claimed.agency_id)},
    )
    letter = DeadLettered(
        event_id=letter_id,
        occurred_at=datetime.now(UTC),
        consumer=CONSUMER,
        original_topic=topic,
        original_partition=-1,
        original_offset=-1,
        reason=given_up.reason,
        **original,
    )
    await enqueue(
        conn,
        topic=DEAD_LETTER,
        key=claimed.patient_key,
        event=letter,
        event_id=letter.event_id,
        headers={"event-type": letter.type},
    )
    log.warning(
        "webhook dead-lettered", agency=claimed.agency_id, attempts=given_up.attempts
    )


async def hand_back_to_kafka(conn: Conn, agency_id: str) -> int:
    """Send what still waits for a removed webhook on the agency's topic instead; returns how many.

    A referrer's feedback is on its topic already: it only stops waiting for the webhook.
    """
    if referrer_of(agency_id) is not None:
        handed: int = await conn.fetchval(
            "WITH h AS (UPDATE webhook_deliveries SET status = 'handed_to_kafka' WHERE agency_id = $1 AND status = 'pending'"
            " RETURNING 1) SELECT count(*) FROM h",
            agency_id,
        )
        return handed
    rows = await conn.fetch(
        "UPDATE webhook_deliveries SET status = 'handed_to_kafka' WHERE agency_id = $1 AND status = 'pending'"
        " RETURNING copy_id, assignment_id, body, delivered_event, patient_key",
        agency_id,
    )
    for row in rows:
        event = json.loads(row["delivered_event"])
        await enqueue(
            conn,
            topic=agency_referrals(agency_id),
            key=row["patient_key"],
            event=bytes(row["body"]),
            event_id=row["copy_id"],
            headers={
                "event-type": "agency.referral",
                "correlation-id": event["correlation_id"],
            },
        )
        await _announce_delivered(
            conn, row["patient_key"], {**event, "channel": "kafka"}
        )
    if rows:
        await conn.execute(
            "UPDATE deliveries SET channel = 'kafka' WHERE assignment_id = ANY($1::uuid[])",
            [r["assignment_id"] for r in rows],
        )
    return len(rows)


async def _announce_delivered(
    conn: Conn, patient_key: str, event: dict[str, Any]
) -> None:
    await enqueue(
        conn,
        topic=ASSIGNMENT_DELIVERED,
        key=patient_key,
        event=json.dumps(event).encode(),
        event_id=UUID(event["event_id"]),
        headers={
            "event-type": "assignment.delivered",
            "correlation-id": event["correlation_id"],
        },
    )


def with_first_attempt(claimed: Claimed, now: datetime) -> Claimed:
    """The claimed delivery as ``lease`` left it: its give-up clock running from its first attempt."""
    return replace(
        claimed,
        due=replace(claimed.due, first_attempt_at=claimed.due.first_attempt_at or now),
    )


async def hooked(conn: Conn, receivers: set[str]) -> set[str]:
    """Which of these agencies (or referrers' receivers) take their deliveries by webhook."""
    rows = await conn.fetch(
        "SELECT agency_id FROM webhooks WHERE agency_id = ANY($1::text[])",
        list(receivers),
    )
    return {r["agency_id"] for r in rows}


async def queue(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Queue (copy id, receiver, assignment, body, delivered event or None, patient key) rows, once per copy id."""
    await conn.executemany(
        "INSERT INTO webhook_deliveries (copy_id, agency_id, assignment_id, body, delivered_event, patient_key)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        rows,
    )


async def withdraw_pending(conn: Conn, assignment_ids: list[UUID]) -> None:
    """Withdraw (status ``cancelled``) what still waits to be sent of these assignments."""
    await conn.execute(
        "UPDATE webhook_deliveries SET status = 'cancelled' WHERE status = 'pending' AND assignment_id = ANY($1::uuid[])",
        assignment_ids,
    )


async def withdraw_if_cancelled(conn: Conn, copy_id: UUID) -> bool:
    """Withdraw this delivery if its assignment or referral is cancelled; True if it was."""
    withdrawn = await conn.fetchval(
        "UPDATE webhook_deliveries w SET status = 'cancelled' FROM deliveries d WHERE w.copy_id = $1"
        " AND d.assignment_id = w.assignment_id AND (d.state = 'cancelled'"
        " OR EXISTS (SELECT 1 FROM cancellations c WHERE c.referral_id = d.referral_id)) RETURNING w.copy_id",
        copy_id,
    )
    return withdrawn is not None


async def register(
    conn: Conn,
    receiver: str,
    url: str,
    secret: str,
    initial_s: float,
    max_s: float,
    give_up_after_s: float,
    by: str,
) -> None:
    """Set (or replace) a receiver's webhook and its retry policy."""
    await conn.execute(
        "INSERT INTO webhooks (agency_id, url, secret, initial_delay_s, max_delay_s, give_up_after_s, updated_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (agency_id) DO UPDATE SET url = EXCLUDED.url,"
        " secret = EXCLUDED.secret, initial_delay_s = EXCLUDED.initial_delay_s, max_delay_s = EXCLUDED.max_delay_s,"
        " give_up_after_s = EXCLUDED.give_up_after_s, updated_at = now(), updated_by = EXCLUDED.updated_by",
        receiver,
        url,
        secret,
        initial_s,
        max_s,
        give_up_after_s,
        by,
    )


async def unregister(conn: Conn, receiver: str) -> None:
    await conn.execute("DELETE FROM webhooks WHERE agency_id = $1", receiver)


async def switch(
    conn: Conn, receiver: str, paused: bool, until: datetime | None, by: str
) -> None:
    """Pause (until a time, or until resumed) or resume a receiver's deliveries."""
    await conn.execute(
        "INSERT INTO agency_controls (agency_id, paused, paused_until, changed_by) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (agency_id) DO UPDATE SET paused = EXCLUDED.paused, paused_until = EXCLUDED.paused_until,"
        " changed_by = EXCLUDED.changed_by, changed_at = now()",
        receiver,
        paused,
        until,
        by,
    )


async def url_of(conn: Conn, receiver: str) -> str | None:
    url: str | None = await conn.fetchval(
        "SELECT url FROM webhooks WHERE agency_id = $1", receiver
    )
    return url


async def counts(conn: Conn, receiver: str) -> dict[str, int]:
    """How many of the receiver's deliveries are in each status."""
    return {
        r["status"]: r["n"]
        for r in await conn.fetch(
            "SELECT status, count(*) AS n FROM webhook_deliveries WHERE agency_id = $1 GROUP BY status",
            receiver,
        )
    }


async def waiting(conn: Conn, receiver: str) -> asyncpg.Record:
    """When the receiver's next pending delivery is due, and the last error of those pending."""
    found = await conn.fetchrow(
        "SELECT min(next_attempt_at) AS next_attempt_at, (array_agg(last_error ORDER BY first_attempt_at DESC)"
        " FILTER (WHERE last_error IS NOT NULL))[1] AS last_error"
        " FROM webhook_deliveries WHERE agency_id = $1 AND status = 'pending'",
        receiver,
    )
    assert found is not None  # an aggregate without GROUP BY answers exactly one row
    return found
