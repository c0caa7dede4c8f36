"""The patient link table: which traced key claimed a set of demographics, and whether a second one did too (HAZ-022)."""

from uuid import UUID

from services.intake.domain.patients import Link
from signpost.database import Conn


async def claim_link(
    conn: Conn, demographic_key: str, patient_key: str, referral_id: UUID
) -> Link:
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
    row = await conn.fetchrow(
        "SELECT patient_key, conflicting FROM patient_links WHERE demographic_key = $1",
        demographic_key,
    )
    return None if row is None else Link(row["patient_key"], row["conflicting"])
