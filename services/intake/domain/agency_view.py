"""What an agency reads of a referral over HTTP: its own open assignments, each with the case it was sent.

The referrer and operations read the whole referral, every version and every
assignment. An agency reads only what ``schemas.minimise`` lets the notifier
send it on its topic: the same fields, computed by the same code, so the two
doors agree. It never sees another agency's assignment, nor the referral's
history: only the current version, minimised.

And only while the work is its own. An assignment is open in the states of
``domain.assignments.OPEN`` (assigned, offered, accepted, patient contacted, or late
after an SLA breach) on a referral that is not cancelled. Once the agency
declined, completed, reported a non-attendance or an escalation to the GP,
once the no-contact timer closed it, or once the referrer cancelled, it gets
the same 404 as a stranger, so a referral id it once held tells it nothing
more. Signpost has no other way to withdraw an assignment: a reroute follows
a decline, and hand assignment is only for referrals nobody holds.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.clock import judged_on, london_date
from schemas.minimise import agency_case
from schemas.referral import Referral
from schemas.vocabulary import Need, ServiceType
from services.intake.domain.assignments import OPEN

# Referral states in which no agency has work left to do on it.
CLOSED_REFERRAL = frozenset({"cancelled", "completed"})


@dataclass(frozen=True)
class Part:
    """An assignment as minimisation sees it (``schemas.minimise.Assigned``)."""

    service_type: ServiceType
    needs: tuple[Need, ...]


def open_assignments(summary: dict[str, Any], agency_id: str) -> list[dict[str, Any]]:
    if summary["status"] in CLOSED_REFERRAL:
        return []
    return [
        a
        for a in summary["assignments"]
        if a["agency_id"] == agency_id and a["status"] in OPEN
    ]


def agency_view(summary: dict[str, Any], agency_id: str) -> dict[str, Any] | None:
    """The agency's own minimised case, or None when it has no open assignment on the referral (answer 404)."""
    own = open_assignments(summary, agency_id)
    if not own:
        return None
    referral = current_referral(summary)
    return {
        "referral_id": summary["referral_id"],
        "assignments": [_shown(referral, a) for a in own],
    }


def current_referral(summary: dict[str, Any]) -> Referral:
    """The latest version, judged on the day it was first accepted (as events are), so it parses on any later day."""
    first, latest = summary["versions"][0], summary["versions"][-1]
    with judged_on(london_date(datetime.fromisoformat(first["created_at"]))):
        return Referral.model_validate(latest["referral"])


def _shown(referral: Referral, assignment: dict[str, Any]) -> dict[str, Any]:
    part = Part(
        ServiceType(assignment["service_type"]),
        tuple(Need(n) for n in assignment["needs"]),
    )
    return {
        "assignment_id": assignment["assignment_id"],
        "service_id": assignment["service_id"],
        "service_type": assignment["service_type"],
        "needs": assignment["needs"],
        "reason": assignment["reason"],
        "status": assignment["status"],
        "case": agency_case(referral, part).model_dump(mode="json"),
    }
