"""Each referral's assignments as intake learns them from Kafka: who holds which part, and what became of it."""

from collections.abc import Sequence
from uuid import UUID

import asyncpg

from schemas.events import ReferralRouted
from signpost.database import Conn


async def referral_assignments(
    conn: Conn, referral_id: UUID
) -> list[dict[str, object]]:
    """Every assignment of the referral with when it was made and last changed, in the order made (FHIR Tasks)."""
    rows = await conn.fetch(
        "SELECT assignment_id, agency_id, service_id, service_type, needs, status, reason, outcome_detail,"
        " replaces_assignment_id, created_at, updated_at FROM referral_assignments WHERE referral_id = $1"
        " ORDER BY created_at, service_type, agency_id",
        referral_id,
    )
    return [
        {
            **dict(a),
            "assignment_id": str(a["assignment_id"]),
            "needs": list(a["needs"]),
            "replaces_assignment_id": str(a["replaces_assignment_id"])
            if a["replaces_assignment_id"]
            else None,
            "created_at": a["created_at"].isoformat(),
            "updated_at": a["updated_at"].isoformat(),
        }
        for a in rows
    ]


async def assignment_referral(conn: Conn, assignment_id: UUID) -> UUID | None:
    """The referral an assignment belongs to, or None if intake has no such assignment."""
    referral_id: UUID | None = await conn.fetchval(
        "SELECT referral_id FROM referral_assignments WHERE assignment_id = $1",
        assignment_id,
    )
    return referral_id


async def add_routed(conn: Conn, event: ReferralRouted) -> None:
    """The routing decision's assignments, each once however often the event is redelivered."""
    await conn.executemany(
        "INSERT INTO referral_assignments"
        " (assignment_id, referral_id, agency_id, service_id, service_type, status, reason, replaces_assignment_id, needs)"
        " VALUES ($1, $2, $3, $4, $5, 'assigned', $6, $7, $8) ON CONFLICT (assignment_id) DO NOTHING",
        [
            (
                a.assignment_id,
                event.referral_id,
                a.agency_id,
                a.service_id,
                a.service_type.value,
                a.reason,
                a.replaces_assignment_id,
                [n.value for n in a.needs],
            )
            for a in event.assignments
        ],
    )


async def mark_offered(conn: Conn, assignment_id: UUID) -> None:
    await conn.execute(
        "UPDATE referral_assignments SET status = 'offered', updated_at = now() WHERE assignment_id = $1 AND status = 'assigned'",
        assignment_id,
    )


async def record_outcome(
    conn: Conn, assignment_id: UUID, status: str, detail: str | None
) -> None:
    await conn.execute(
        "UPDATE referral_assignments SET status = $2, outcome_detail = $3, updated_at = now() WHERE assignment_id = $1",
        assignment_id,
        status,
        detail,
    )


async def mark_unfinished(
    conn: Conn, assignment_id: UUID, finished: Sequence[str], status: str
) -> None:
    """The assignment's new status, unless it is already in one of the ``finished`` states."""
    await conn.execute(
        "UPDATE referral_assignments SET status = $3, updated_at = now()"
        " WHERE assignment_id = $1 AND NOT status = ANY($2::text[])",
        assignment_id,
        list(finished),
        status,
    )


async def progress_counts(
    conn: Conn, referral_id: UUID, finished: Sequence[str]
) -> asyncpg.Record | None:
    """How many of the referral's assignments are open, completed, and being worked on."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE NOT status = ANY($2::text[])) AS open,"
        " count(*) FILTER (WHERE status = 'completed') AS completed,"
        " count(*) FILTER (WHERE status IN ('accepted', 'patient_contacted')) AS active"
        " FROM referral_assignments WHERE referral_id = $1",
        referral_id,
        list(finished),
    )
    return row
