"""Every topic name is contract: the services meet on these, and agencies and practices read and write them.

A service names a topic only through this module, never by a string of its own, so a rename is one edit here
and a version bump (``schemas/version.py`` lists which events travel on which topic).
"""

REFERRAL_SUBMITTED = "referral.submitted"
REFERRAL_ROUTED = "referral.routed"
REFERRAL_UNROUTABLE = "referral.unroutable"
REFERRAL_HUDDLE = "referral.huddle"
REFERRAL_CANCELLED = "referral.cancelled"
REFERRAL_ESCALATED = "referral.escalated"
ASSIGNMENT_DELIVERED = "assignment.delivered"
ASSIGNMENT_OUTCOME = "assignment.outcome"
DEAD_LETTER = "signpost.deadletter"
ACCESS = "signpost.access"
REPLAYS = "signpost.replays"

AGENCY_REFERRALS = "agency.{agencyId}.referrals"
AGENCY_OUTCOMES = "agency.{agencyId}.outcomes"
PRACTICE_FEEDBACK = "practice.{odsCode}.feedback"

EVERY_SIGNPOST_TOPIC = r"^(referral|assignment|agency|practice|signpost)\..+"
"""A pattern for every topic above (audit follows them all)."""
AGENCY_OUTCOMES_PATTERN = r"agency\.[^.]+\.outcomes"
"""A pattern for every agency's outcomes topic (the notifier follows them all). An agency id has no dot."""


def agency_referrals(agency_id: str) -> str:
    """The topic an agency reads its assignments from."""
    return f"agency.{agency_id}.referrals"


def agency_outcomes(agency_id: str) -> str:
    """The topic an agency writes its outcomes to."""
    return f"agency.{agency_id}.outcomes"


def practice_feedback(ods_code: str) -> str:
    """The topic a referring practice hears back on."""
    return f"practice.{ods_code}.feedback"


def agency_of_outcomes(topic: str) -> str | None:
    """The agency whose outcomes topic ``topic`` is, or ``None`` for any other topic."""
    agency = topic.removeprefix("agency.").removesuffix(".outcomes")
    if topic != agency_outcomes(agency) or not agency or "." in agency:
        return None
    return agency
