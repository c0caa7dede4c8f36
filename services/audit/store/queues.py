"""The operations page's queues, as views over the audit log: unroutable referrals, SLA breaches, dead letters."""

from typing import Any

from services.audit.domain.queues import CLOSES_UNROUTABLE
from services.audit.store.log import COLUMNS
from signpost.database import Conn


async def unroutable(conn: Conn, limit: int) -> list[Any]:
    """Referrals no rule could route and nobody has assigned since, oldest first."""
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM audit_log u WHERE u.event_type = 'referral.unroutable' AND NOT EXISTS"
        " (SELECT 1 FROM audit_log a WHERE a.referral_id = u.referral_id AND a.seq > u.seq"
        " AND a.event_type = ANY($1::text[])) ORDER BY u.seq LIMIT $2",
        list(CLOSES_UNROUTABLE),
        limit,
    )


async def escalations(conn: Conn, limit: int) -> list[Any]:
    """SLA breaches (``referral.escalated``), newest first."""
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM audit_log WHERE event_type = 'referral.escalated' ORDER BY seq DESC LIMIT $1",
        limit,
    )


async def dead_letters(conn: Conn, limit: int) -> list[Any]:
    """Records a consumer could not handle, newest first."""
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM audit_log WHERE event_type = 'event.dead_lettered' ORDER BY seq DESC LIMIT $1",
        limit,
    )


async def replays_of(conn: Conn, dead_letter_ids: list[str]) -> list[Any]:
    """Every ``dead_letter.replayed`` that put back any of these dead letters, in audit order."""
    return await conn.fetch(
        f"SELECT {COLUMNS} FROM audit_log WHERE event_type = 'dead_letter.replayed'"
        " AND payload->'dead_letter_ids' ?| $1::text[] ORDER BY seq",
        dead_letter_ids,
    )
