"""Intake's persistence: the referral, its versions, its event, in one transaction."""

import json
from uuid import UUID

import asyncpg

from schemas.events import ReferralSubmitted
from services.intake.patients import Link
from signpost.database import Conn
from signpost.outbox import outbox_row

SUBMITTED_TOPIC = "referral.submitted"


async def record_submission(conn: Conn, event: ReferralSubmitted, *, client_id: str, source: str) -> None:
    """Store the referral, its first version and its ``referral.submitted`` event (the outbox) atomically.

    One statement, so one round trip to PostgreSQL: it is atomic on its own,
    and on the busiest path in Signpost the round trips were the cost.
    """
    await conn.execute(
        "WITH referral AS ("
        " INSERT INTO referrals (referral_id, journey_id, patient_key, referrer_ods, client_id, status, correlation_id)"
        " VALUES ($1, $2, $3, $4, $5, 'submitted', $6)),"
        " version AS (INSERT INTO referral_versions (referral_id, version, status, body, source)"
        " VALUES ($1, 1, 'submitted', $7, $8))"
        " INSERT INTO outbox (event_id, topic, key, payload, headers) VALUES ($9, $10, $11, $12, $13::jsonb)",
        event.referral_id,
        event.journey_id,
        event.patient_key,
        event.referral.referrer.ods_code,
        client_id,
        event.correlation_id,
        event.referral.model_dump_json(),
        source,
        *outbox_row(
            topic=SUBMITTED_TOPIC,
            key=event.patient_key,
            event=event,
            event_id=event.event_id,
            headers={"event-type": event.type, "correlation-id": event.correlation_id},
        ),
    )


async def claim_link(conn: Conn, demographic_key: str, patient_key: str, referral_id: UUID) -> Link:
    """Claim the demographics for a traced key; a second traced key makes them conflicting for good (HAZ-022).

    One statement, so two traced referrals arriving together cannot both believe they hold the link.
    """
    row = await conn.fetchrow(
        "INSERT INTO patient_links (demographic_key, patient_key, linked_by_referral) VALUES ($1, $2, $3)"
        " ON CONFLICT (demographic_key) DO UPDATE SET"
        " conflicting = patient_links.conflicting OR patient_links.patient_key <> excluded.patient_key,"
        " conflicting_since = coalesce(patient_links.conflicting_since,"
        "  CASE WHEN patient_links.patient_key <> excluded.patient_key THEN now() END)"
        " RETURNING patient_key, conflicting",
        demographic_key,
        patient_key,
        referral_id,
    )
    assert row is not None  # INSERT ... ON CONFLICT DO UPDATE always returns its row
    return Link(row["patient_key"], row["conflicting"])


async def find_link(conn: Conn, demographic_key: str) -> Link | None:
    row = await conn.fetchrow("SELECT patient_key, conflicting FROM patient_links WHERE demographic_key = $1", demographic_key)
    return None if row is None else Link(row["patient_key"], row["conflicting"])


async def find_replay(conn: Conn, client_id: str, request_id: str) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await conn.fetchrow(
        "SELECT body_hash, status_code, response FROM idempotency_keys WHERE client_id = $1 AND request_id = $2",
        client_id,
        request_id,
    )
    return record


async def remember_answer(
    conn: Conn,
    client_id: str,
    request_id: str,
    body_hash: str,
    status_code: int,
    response: dict[str, object],
) -> None:
    await conn.execute(
        "INSERT INTO idempotency_keys (client_id, request_id, body_hash, status_code, response) VALUES ($1, $2, $3, $4, $5)",
        client_id,
        request_id,
        body_hash,
        status_code,
        json.dumps(response),
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
                "replaces_assignment_id": str(a["replaces_assignment_id"]) if a["replaces_assignment_id"] else None,
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


async def referral_assignments(conn: Conn, referral_id: UUID) -> list[dict[str, object]]:
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
            "replaces_assignment_id": str(a["replaces_assignment_id"]) if a["replaces_assignment_id"] else None,
            "created_at": a["created_at"].isoformat(),
            "updated_at": a["updated_at"].isoformat(),
        }
        for a in rows
    ]


async def assignment_referral(conn: Conn, assignment_id: UUID) -> UUID | None:
    """The referral an assignment belongs to, or None if intake has no such assignment."""
    referral_id: UUID | None = await conn.fetchval(
        "SELECT referral_id FROM referral_assignments WHERE assignment_id = $1", assignment_id
    )
    return referral_id
