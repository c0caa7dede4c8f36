"""Who may do what with a referral: submit it as their organisation, read it, cancel it.

Pure: the routes ask, and answer 403 or 404 from what these say.
"""

from typing import Any

from schemas.referral import Referral
from services.intake.domain.agency_view import agency_view
from signpost.clients import Principal, may_refer


def may_submit(principal: Principal, referral: Referral) -> str | None:
    if not may_refer(principal.role):
        return f"the {principal.role} role reads referrals; it does not make them"
    if referral.referrer.ods_code != principal.organisation:
        return "a client may submit only as its own organisation (referrer.ods_code must match the token)"
    return None


def visible_to(principal: Principal, summary: dict[str, Any]) -> dict[str, Any] | None:
    """What of the referral this caller may read; None if nothing (the caller gets 404)."""
    if referrer_or_operations(principal, summary):
        return {k: v for k, v in summary.items() if k != "patient_key"}
    if principal.role == "agency" and principal.agency_id is not None:
        return agency_view(summary, principal.agency_id)
    return None


def referrer_or_operations(principal: Principal, summary: dict[str, Any]) -> bool:
    return (
        principal.role == "operations"
        or summary["referrer_ods"] == principal.organisation
    )
