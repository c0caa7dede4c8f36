"""The outcomes table: every report an agency made, once per report id, with the move it made."""

from typing import Any
from uuid import UUID

import asyncpg

from signpost.database import Conn


async def earlier(conn: Conn, report_id: UUID) -> asyncpg.Record | None:
    """The report already recorded under this id, if any: what it moved, from where to where."""
    return await conn.fetchrow(
        "SELECT assignment_id, previous_state, state FROM outcomes WHERE report_id = $1",
        report_id,
    )


async def record(conn: Conn, *row: Any) -> None:
    """Record (report id, assignment, outcome, previous state, state, reported by, channel)."""
    await conn.execute(
        "INSERT INTO outcomes (report_id, assignment_id, outcome, previous_state, state, reported_by, channel)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        *row,
    )


async def history(conn: Conn, assignment_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT outcome, previous_state, state, reported_by, channel, recorded_at FROM outcomes"
        " WHERE assignment_id = $1 ORDER BY recorded_at",
        assignment_id,
    )
