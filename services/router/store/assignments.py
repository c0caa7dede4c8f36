"""Who each referral is assigned to, and which assignments were declined."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from signpost.database import Conn


async def add(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Store assignments (with the needs each meets) for a batch at once."""
    await conn.executemany(
        "INSERT INTO assignments (assignment_id, referral_id, service_id, service_type, agency_id, rule_id, reason, needs)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        rows,
    )


async def add_anew(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Store assignments, leaving alone any already there (a replayed decline adds nothing twice)."""
    await conn.executemany(
        "INSERT INTO assignments (assignment_id, referral_id, service_id, service_type, agency_id, rule_id, reason, needs)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        rows,
    )


async def add_by_hand(conn: Conn, row: tuple[Any, ...]) -> None:
    """Store one assignment made by hand; it names no needs."""
    await conn.execute(
        "INSERT INTO assignments (assignment_id, referral_id, service_id, service_type, agency_id, rule_id, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        *row,
    )


async def mark_declined(conn: Conn, assignment_id: UUID) -> None:
    await conn.execute(
        "UPDATE assignments SET status = 'declined' WHERE assignment_id = $1",
        assignment_id,
    )


async def of_referral(conn: Conn, referral_id: UUID) -> list[Any]:
    """Every assignment of the referral so far, declined or not."""
    return list(
        await conn.fetch(
            "SELECT assignment_id, service_id, agency_id, status, needs FROM assignments WHERE referral_id = $1",
            referral_id,
        )
    )
