"""The dead_letters table: every dead letter with its original bytes (when they travelled), and its replays."""

import json
from typing import Any
from uuid import UUID

import asyncpg

from schemas.events import DeadLettered
from signpost import retention
from signpost.database import Conn

# A dead letter keeps the whole original (often a referral): replayable for the window, then gone.
retention.register(
    retention.Rule(
        "dead-letters",
        "DELETE FROM dead_letters WHERE dead_letter_id IN (SELECT dead_letter_id FROM dead_letters WHERE dead_lettered_at < $1"
        " LIMIT $2)",
        lambda s: s.dead_letter_retention_days,
    )
)
LISTED = (
    "dead_letter_id, consumer, original_topic, original_partition, original_offset, reason, referral_id,"
    " dead_lettered_at, replayed_at, replayed_by, replays, payload_sha256, payload_bytes, payload_kept_by"
)
# Every dead letter of the same source record as $1 (several consumers may refuse one record).
SIBLINGS = (
    "(original_topic, original_partition, original_offset) ="
    " (SELECT original_topic, original_partition, original_offset FROM dead_letters WHERE dead_letter_id = $1)"
)


async def keep(
    conn: Conn, letter: DeadLettered, payload: bytes | None, referral_id: UUID | None
) -> None:
    await conn.execute(
        "INSERT INTO dead_letters (dead_letter_id, consumer, original_topic, original_partition, original_offset, reason,"
        " payload, headers, referral_id, dead_lettered_at, payload_sha256, payload_bytes, payload_kept_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13) ON CONFLICT (dead_letter_id) DO NOTHING",
        letter.event_id,
        letter.consumer,
        letter.original_topic,
        letter.original_partition,
        letter.original_offset,
        letter.reason,
        payload,
        json.dumps(letter.headers),
        referral_id,
        letter.occurred_at,
        letter.payload_sha256,
        letter.payload_bytes,
        letter.payload_kept_by,
    )


async def listed(
    conn: Conn, referral_id: UUID | None, consumer: str | None, limit: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {LISTED} FROM dead_letters WHERE ($1::uuid IS NULL OR referral_id = $1)"
        " AND ($2::text IS NULL OR consumer = $2) ORDER BY dead_lettered_at DESC LIMIT $3",
        referral_id,
        consumer,
        limit,
    )
    return [dict(r) for r in rows]


async def lock_siblings(conn: Conn, dead_letter_id: UUID) -> list[asyncpg.Record]:
    """The dead letter and every other one of its source record, locked until the transaction ends."""
    return await conn.fetch(
        f"SELECT * FROM dead_letters WHERE {SIBLINGS} ORDER BY dead_letter_id FOR UPDATE",
        dead_letter_id,
    )


async def mark_replayed(
    conn: Conn, dead_letter_id: UUID, by: str
) -> list[asyncpg.Record]:
    """Mark the dead letter and its siblings replayed by ``by``; returns them as listed."""
    return await conn.fetch(
        f"UPDATE dead_letters SET replayed_at = now(), replayed_by = $2, replays = replays + 1 WHERE {SIBLINGS}"
        f" RETURNING {LISTED}",
        dead_letter_id,
        by,
    )


async def of_referral(conn: Conn, referral_id: UUID) -> list[dict[str, Any]]:
    letters = await conn.fetch(
        "SELECT dead_letter_id, original_topic, original_partition, original_offset, dead_lettered_at, replayed_at"
        " FROM dead_letters WHERE referral_id = $1",
        referral_id,
    )
    return [dict(r) for r in letters]
