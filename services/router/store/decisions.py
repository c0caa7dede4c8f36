"""The router's decisions, one row per referral: its outcome, the explanation and the referral as it was decided."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from signpost.database import Conn


async def add(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Store a batch's decisions: a round trip for the whole batch, not per referral."""
    await conn.executemany(
        "INSERT INTO decisions (referral_id, submitted_event_id, patient_key, outcome, rule_set_version,"
        " explanation, referral, journey_id, correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        rows,
    )


async def referral_for_update(conn: Conn, referral_id: UUID) -> Any:
    """The decided referral's row (its ``referral`` only), locked until the transaction ends; None if never decided."""
    return await conn.fetchrow(
        "SELECT referral FROM decisions WHERE referral_id = $1 FOR UPDATE", referral_id
    )


async def for_update(conn: Conn, referral_id: UUID) -> Any:
    """The whole decision row, locked until the transaction ends; None if never decided."""
    return await conn.fetchrow(
        "SELECT * FROM decisions WHERE referral_id = $1 FOR UPDATE", referral_id
    )


async def add_reroute(
    conn: Conn, referral_id: UUID, reroutes: str, outcome: str
) -> None:
    """Append ``reroutes`` (a JSON list) to the decision's explanation and set its outcome."""
    await conn.execute(
        "UPDATE decisions SET outcome = $3, explanation = jsonb_set(explanation, '{reroutes}',"
        " coalesce(explanation->'reroutes', '[]'::jsonb) || $2::jsonb) WHERE referral_id = $1",
        referral_id,
        reroutes,
        outcome,
    )


async def set_outcome(conn: Conn, referral_id: UUID, outcome: str) -> None:
    await conn.execute(
        "UPDATE decisions SET outcome = $2 WHERE referral_id = $1", referral_id, outcome
    )


async def set_outcome_of_all(
    conn: Conn, referral_ids: list[UUID], outcome: str
) -> None:
    await conn.execute(
        "UPDATE decisions SET outcome = $2 WHERE referral_id = ANY($1::uuid[])",
        referral_ids,
        outcome,
    )


async def decided_referrals(conn: Conn) -> list[Any]:
    """Every decided referral (``referral_id``, the referral's JSON as ``body``, ``decided_at``), oldest first."""
    return list(
        await conn.fetch(
            "SELECT referral_id, referral::text AS body, decided_at FROM decisions ORDER BY decided_at"
        )
    )
