"""The deliveries table: one row per assignment handed to its agency, and where that assignment stands.

Every function runs inside the caller's transaction. ``lock_assignment`` and
``lock_referrals`` hold their locks until it ends.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from schemas.vocabulary import OutcomeCode
from services.notifier.domain import outcomes, sla
from services.notifier.domain.outcomes import AssignmentState, LifecycleEvent
from signpost import referral_lock
from signpost.database import Conn

REFERRAL_LOCKS = (
    0x4E4F_5446  # the notifier's space of referral locks (signpost.referral_lock)
)


async def lock_referrals(conn: Conn, referral_ids: Iterable[UUID]) -> None:
    """Serialise a referral's cancellation with its deliveries: whichever comes second sees the first."""
    await referral_lock.lock_referrals(conn, REFERRAL_LOCKS, referral_ids)


async def lock_assignment(conn: Conn, assignment_id: Any) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM deliveries WHERE assignment_id = $1 FOR UPDATE", assignment_id
    )
    return dict(row) if row else None


async def assignment(conn: Conn, assignment_id: UUID) -> asyncpg.Record | None:
    """One delivery as it stands, unlocked: for reading."""
    return await conn.fetchrow(
        "SELECT * FROM deliveries WHERE assignment_id = $1", assignment_id
    )


async def of_assignments(
    conn: Conn, assignment_ids: list[UUID]
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM deliveries WHERE assignment_id = ANY($1::uuid[])", assignment_ids
    )
    return [dict(row) for row in rows]


async def assignments_of_referral(conn: Conn, referral_id: UUID) -> list[UUID]:
    rows = await conn.fetch(
        "SELECT assignment_id FROM deliveries WHERE referral_id = $1", referral_id
    )
    return [r["assignment_id"] for r in rows]


async def record_new(
    conn: Conn, rows: Sequence[tuple[Any, ...]]
) -> dict[UUID, datetime]:
    """Insert deliveries in one statement; return those that are new, with when they were delivered.

    Each row: assignment, referral, agency, service type, patient key, correlation id, referrer ODS, service,
    network, urgency, journey, service name, coordinator agency.
    """
    if not rows:
        return {}
    columns = list(zip(*rows, strict=True))
    found = await conn.fetch(
        "INSERT INTO deliveries (assignment_id, referral_id, agency_id, service_type, channel, status,"
        " patient_key, correlation_id, referrer_ods, service_id, network_id, urgency, journey_id, service_name,"
        " coordinator_agency_id)"
        " SELECT a, r, ag, st, 'kafka', 'offered', pk, c, ods, s, n, u, j, sn, co FROM unnest($1::uuid[], $2::uuid[],"
        " $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::uuid[],"
        " $12::text[], $13::text[]) AS t(a, r, ag, st, pk, c, ods, s, n, u, j, sn, co)"
        " ON CONFLICT (assignment_id) DO NOTHING RETURNING assignment_id, delivered_at",
        *columns,
    )
    return {r["assignment_id"]: r["delivered_at"] for r in found}


async def mark_webhook(conn: Conn, assignment_ids: list[UUID]) -> None:
    await conn.execute(
        "UPDATE deliveries SET channel = 'webhook' WHERE assignment_id = ANY($1::uuid[])",
        assignment_ids,
    )


async def store_move(
    conn: Conn,
    delivery: dict[str, Any],
    move: outcomes.Transition,
    event: LifecycleEvent,
    now: datetime,
) -> None:
    contacted = (
        now if event is OutcomeCode.PATIENT_CONTACTED else delivery["contacted_at"]
    )
    completed = (
        now if move.after is AssignmentState.COMPLETED else delivery["completed_at"]
    )
    await conn.execute(
        "UPDATE deliveries SET state = $2, accepted = $3, contacted_at = $4, completed_at = $5, updated_at = $6"
        " WHERE assignment_id = $1",
        delivery["assignment_id"],
        move.after.value,
        move.accepted,
        contacted,
        completed,
        now,
    )
    delivery.update(
        state=move.after.value,
        accepted=move.accepted,
        contacted_at=contacted,
        completed_at=completed,
    )
    cleared = sla.timers_cleared_by(event)
    if cleared:
        await conn.execute(
            "UPDATE sla_timers SET cleared_at = $3 WHERE assignment_id = $1 AND name = ANY($2::text[])"
            " AND cleared_at IS NULL AND fired_at IS NULL",
            delivery["assignment_id"],
            [name.value for name in cleared],
            now,
        )
