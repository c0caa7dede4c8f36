"""Referrals and their versions: stored with their event in one statement, read back as the referrer sees them."""

import json
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from schemas.events import ReferralSubmitted
from schemas.topics import REFERRAL_SUBMITTED
from signpost.database import Conn
from signpost.outbox import outbox_row

_REFERRAL = (
    "WITH referral AS ("
    " INSERT INTO referrals (referral_id, journey_id, patient_key, referrer_ods, client_id, status, correlation_id)"
    " VALUES ($1, $2, $3, $4, $5, 'submitted', $6)),"
    " version AS (INSERT INTO referral_versions (referral_id, version, status, body, source)"
    " VALUES ($1, 1, 'submitted', $7, $8)),"
)
_OUTBOX = " INSERT INTO outbox (event_id, topic, key, payload, headers) VALUES ($9, $10, $11, $12, $13::jsonb)"
SUBMISSION = _REFERRAL.removesuffix(",") + _OUTBOX
# With the first answer to the client's X-Request-Id in the same statement: a concurrent twin's answer makes the
# whole statement fail (unique violation), so neither can be stored without the other, and no BEGIN/COMMIT is needed.
SUBMISSION_ANSWERED = (
    _REFERRAL
    + " answer AS (INSERT INTO idempotency_keys (client_id, request_id, body_hash, status_code, response)"
    " VALUES ($5, $14, $15, $16, $17))" + _OUTBOX
)


@dataclass(frozen=True)
class Answer:
    """The first answer to a client's X-Request-Id, kept so that a repeat is answered alike (``replays``)."""

    request_id: str
    body_hash: str
    status_code: int
    response: dict[str, object]


async def record_submission(
    conn: Conn,
    event: ReferralSubmitted,
    *,
    client_id: str,
    source: str,
    referral_json: str | None = None,
    answer: Answer | None = None,
) -> None:
    """Store the referral, its first version, its ``referral.submitted`` event (the outbox) and ``answer`` atomically.

    One statement, so one round trip to PostgreSQL: it is atomic on its own,
    and on the busiest path in Signpost the round trips were the cost.
    ``referral_json`` is ``event.referral`` serialised, when the caller has
    already made it (intake's API, for the body hash).
    """
    args = [
        event.referral_id,
        event.journey_id,
        event.patient_key,
        event.referral.referrer.ods_code,
        client_id,
        event.correlation_id,
        event.referral.model_dump_json() if referral_json is None else referral_json,
        source,
        *outbox_row(
            topic=REFERRAL_SUBMITTED,
            key=event.patient_key,
            event=event,
            event_id=event.event_id,
            headers={"event-type": event.type, "correlation-id": event.correlation_id},
        ),
    ]
    if answer is None:
        await conn.execute(SUBMISSION, *args)
        return
    await conn.execute(
        SUBMISSION_ANSWERED,
        *args,
        answer.request_id,
        answer.body_hash,
        answer.status_code,
        json.dumps(answer.response),
    )


async def referral_summary(conn: Conn, referral_id: UUID) -> dict[str, object] | None:
    row = await conn.fetchrow(
        "SELECT referral_id, journey_id, patient_key, status, referrer_ods, created_at, updated_at FROM referrals"
        " WHERE referral_id = $1",
        referral_id,
    )
    if row is None:
        return None
    versions = await conn.fetch(
        "SELECT version, status, body, source, created_at FROM referral_versions WHERE referral_id = $1 ORDER BY version",
        referral_id,
    )
    assignments = await conn.fetch(
        "SELECT assignment_id, agency_id, service_id, service_type, needs, status, reason, outcome_detail,"
        " replaces_assignment_id FROM referral_assignments WHERE referral_id = $1 ORDER BY created_at, service_type, agency_id",
        referral_id,
    )
    return {
        "referral_id": str(row["referral_id"]),
        "assignments": [
            {
                **dict(a),
                "assignment_id": str(a["assignment_id"]),
                "needs": list(a["needs"]),
                "replaces_assignment_id": str(a["replaces_assignment_id"])
                if a["replaces_assignment_id"]
                else None,
            }
            for a in assignments
        ],
        "journey_id": str(row["journey_id"]),
        "patient_key": row["patient_key"],
        "status": row["status"],
        "referrer_ods": row["referrer_ods"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "versions": [
            {
                "version": v["version"],
                "status": v["status"],
                "source": v["source"],
                "created_at": v["created_at"].isoformat(),
                "referral": json.loads(v["body"]),
            }
            for v in versions
        ],
    }


async def set_status(
    conn: Conn, referral_id: UUID, status: str, only_from: tuple[str, ...]
) -> None:
    await conn.execute(
        "UPDATE referrals SET status = $2, updated_at = now() WHERE referral_id = $1 AND status = ANY($3::text[])",
        referral_id,
        status,
        list(only_from),
    )


async def lock_for_cancel(conn: Conn, referral_id: UUID) -> asyncpg.Record | None:
    """The referral's journey, key and status, locked until the caller's transaction ends."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT journey_id, patient_key, status FROM referrals WHERE referral_id = $1 FOR UPDATE",
        referral_id,
    )
    return row


async def record_cancellation(conn: Conn, referral_id: UUID) -> None:
    """The referral cancelled, and a cancelled copy of its latest version as the next version (BaRS revokes, never deletes)."""
    await conn.execute(
        "UPDATE referrals SET status = 'cancelled', updated_at = now() WHERE referral_id = $1",
        referral_id,
    )
    await conn.execute(
        "INSERT INTO referral_versions (referral_id, version, status, body, source)"
        " SELECT referral_id, version + 1, 'cancelled', body, 'cancel' FROM referral_versions"
        " WHERE referral_id = $1 ORDER BY version DESC LIMIT 1",
        referral_id,
    )
