"""What an SLA breach says: the escalation's reason, read by the referrer, the coordinator and operations staff.

It names the service in its area's words (``words``), says what ran out and
when it was due, and whether the network's coordinator was told, so the
coordinator of a Dorset hub reads "health and social care coordinator" and
Croydon's a "network facilitator".
"""

from datetime import datetime

from schemas.vocabulary import ServiceType
from signpost.terminology import DEFAULT, Vocabulary


def escalation_reason(
    service_name: str,
    service_type: ServiceType,
    *,
    closing: bool,
    due_at: datetime,
    coordinator_told: bool,
    words: Vocabulary = DEFAULT,
) -> str:
    """E.g. "Purbeck virtual ward (virtual ward): not acted on in time (due 2026-11-18 11:00 UTC); the hub's ... told"."""
    who = words.service(service_name, service_type)
    text = words.text(
        "escalation_closed" if closing else "escalation_late",
        who=who,
        due=f"{due_at:%Y-%m-%d %H:%M} UTC",
    )
    return text + words.text("escalation_told") if coordinator_told else text
