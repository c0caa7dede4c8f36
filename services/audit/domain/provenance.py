"""What audit may believe about a record, from the topic it came on: who could have written it decides.

Audit reads every Signpost topic, but not everyone writes every topic. The
broker's ACLs (``deploy/kafka/acls.py``) let an agency write one topic only,
its own ``agency.<id>.outcomes``; every other topic is written by the
services. A record's ``type``, ``referral_id``, ``patient_key`` and access
fields are claims made by whoever wrote it, so audit believes them only from
a writer the contract names for that topic:

- On an agency's outcomes topic, every record is that agency's report
  (``agency.outcome``), whatever ``type`` it claims, and the agency is the
  topic's. It binds to no referral or patient here: the notifier checks the
  report against the agency's own assignment and publishes
  ``assignment.outcome``, and that is the event the trail, the queues and the
  reports rely on.
- On a service's topic, a type the contract sends there is believed. A type
  the contract sends elsewhere (``access.recorded`` on ``referral.routed``,
  say) is recorded as ``unexpected``, and a record without a type as
  ``untyped``, neither bound to a referral or patient. A type the contract
  does not know yet is a service's new event and is believed (only services
  write these topics), so audit keeps up with a new event before it is
  upgraded.

Records audit does not believe are kept under an id of audit's own (derived
from the topic and the id they claim), so an id an agency chooses can never
take the place of an event a service publishes later under that id.
"""

import re
from dataclasses import dataclass
from uuid import UUID, uuid5

from schemas.topics import AGENCY_REFERRALS, agency_of_outcomes
from schemas.version import EVENTS

AGENCY_REPORT = "agency.outcome"
UNEXPECTED = "unexpected"
UNTYPED = "untyped"
_NAMESPACE = UUID("0c2b6f61-3f0e-4d0b-9a57-6a0f1d7c5e21")
# The notifier also tells an agency, on its referrals topic, of a cancellation and (as coordinator) of an escalation.
_NOTICES_ON_AGENCY_REFERRALS = (
    "referral.cancelled",
    "referral.escalated",
)  # event types, not topics


@dataclass(frozen=True)
class Provenance:
    event_type: str
    """What the row is recorded as."""
    believed: bool
    """Whether the record's own referral, patient and network may index the row."""
    agency_id: str | None = None
    """The agency whose topic it came on, if it came on an agency's outcomes topic."""


def _pattern(topic: str) -> re.Pattern[str]:
    """A catalogue topic as a pattern: ``agency.{agencyId}.referrals`` matches any one agency's."""
    return re.compile(
        "^" + re.sub(r"\\\{[A-Za-z]+\\\}", "[^.]+", re.escape(topic)) + "$"
    )


def _expected() -> tuple[tuple[re.Pattern[str], frozenset[str]], ...]:
    by_topic: dict[str, set[str]] = {}
    for event_type, contract in EVENTS.items():
        for topic in contract.topics:
            by_topic.setdefault(topic, set()).add(event_type)
    by_topic.setdefault(AGENCY_REFERRALS, set()).update(_NOTICES_ON_AGENCY_REFERRALS)
    return tuple(
        (_pattern(topic), frozenset(types)) for topic, types in by_topic.items()
    )


EXPECTED = _expected()
KNOWN_TYPES = frozenset(EVENTS)


def expected_types(topic: str) -> frozenset[str] | None:
    """The types the contract sends on ``topic``; None for a topic it does not know."""
    for pattern, types in EXPECTED:
        if pattern.match(topic):
            return types
    return None


def classify(topic: str, claimed_type: str | None) -> Provenance:
    """How to record a record that came on ``topic`` claiming ``claimed_type``."""
    agency = agency_of_outcomes(topic)
    if agency is not None:
        return Provenance(AGENCY_REPORT, believed=False, agency_id=agency)
    if not claimed_type:
        return Provenance(UNTYPED, believed=False)
    if claimed_type in KNOWN_TYPES and claimed_type not in (
        expected_types(topic) or ()
    ):
        # One of the contract's events on a topic the contract does not send it on: not believed.
        return Provenance(UNEXPECTED, believed=False)
    # The contract's event on its own topic, or a service's event the contract does not know yet.
    return Provenance(claimed_type, believed=True)


def row_id(topic: str, claimed_id: UUID, provenance: Provenance) -> UUID:
    """The id audit keeps the row under: the event's own if believed, else one derived from where it came."""
    return (
        claimed_id
        if provenance.believed
        else uuid5(_NAMESPACE, f"{topic}:{claimed_id}")
    )
