"""The sla_timers table: each assignment's timers, due, fired, cleared or parked with the reason."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from signpost.database import Conn

PARKED = "SELECT count(*) FROM sla_timers WHERE parked_at IS NOT NULL AND fired_at IS NULL AND cleared_at IS NULL"


async def start_timers(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Store timers as (assignment id, name, due at, on breach) rows, a whole batch in one round trip."""
    if rows:
        await conn.executemany(
            "INSERT INTO sla_timers (assignment_id, name, due_at, on_breach) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            rows,
        )


async def lock_due(conn: Conn, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Timers due by ``now``, oldest first, each locked with its delivery; those others hold are skipped."""
    # Each timer is locked with its delivery, in one statement that skips what others hold: an outcome locks
    # the delivery first and then clears its timers, so locking timers first and deliveries after (waiting)
    # deadlocked against it.
    return await conn.fetch(
        "SELECT t.assignment_id, t.name, t.due_at, t.on_breach FROM sla_timers t"
        " JOIN deliveries d ON d.assignment_id = t.assignment_id"
        " WHERE t.cleared_at IS NULL AND t.fired_at IS NULL AND t.parked_at IS NULL AND t.due_at <= $1"
        " ORDER BY t.due_at LIMIT $2 FOR UPDATE OF t, d SKIP LOCKED",
        now,
        limit,
    )


async def park(conn: Conn, assignment_id: UUID, name: str, reason: str) -> None:
    await conn.execute(
        "UPDATE sla_timers SET parked_at = now(), parked_reason = $3 WHERE assignment_id = $1 AND name = $2",
        assignment_id,
        name,
        reason,
    )


async def clear(conn: Conn, assignment_id: UUID, name: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE sla_timers SET cleared_at = $3 WHERE assignment_id = $1 AND name = $2",
        assignment_id,
        name,
        now,
    )


async def fired(conn: Conn, assignment_id: UUID, name: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE sla_timers SET fired_at = $3 WHERE assignment_id = $1 AND name = $2",
        assignment_id,
        name,
        now,
    )


async def of_assignment(conn: Conn, assignment_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT name, due_at, on_breach, cleared_at, fired_at FROM sla_timers WHERE assignment_id = $1 ORDER BY due_at",
        assignment_id,
    )
