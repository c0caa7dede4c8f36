"""Who may touch which topic and consumer group on the secured broker.

DESIGN.md promises that an agency reads only its own topic. On the real broker
that is a SCRAM principal per agency plus ACLs: an agency may read its
``agency.<id>.referrals`` topic, write its ``agency.<id>.outcomes`` topic and
use consumer groups under ``agency.<id>.``, nothing else. Each service gets the
topics its handlers read and write. The policy is plain data, computed from the
set of agencies, so a unit test can read the whole of it without a broker.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from schemas.topics import agency_outcomes, agency_referrals

SERVICES = ("intake", "router", "notifier", "audit")
# A dot in an agency id would let one agency's prefix ``agency.a.`` cover
# another agency's topics (``agency.a.b.referrals``); wildcards are worse.
_AGENCY_ID = re.compile(r"[A-Za-z0-9_-]+")


class ResourceType(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"


class PatternType(StrEnum):
    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


class Operation(StrEnum):
    READ = "READ"
    WRITE = "WRITE"
    DESCRIBE = "DESCRIBE"
    CREATE = "CREATE"


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ALLOW rule from any host; with the authorizer, anything unlisted is denied."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    operation: Operation


def service_user(service: str) -> str:
    return f"service-{service}"


def agency_user(agency_id: str) -> str:
    return f"agency-{check_agency_id(agency_id)}"


def check_agency_id(agency_id: str) -> str:
    if not _AGENCY_ID.fullmatch(agency_id):
        raise ValueError(
            f"agency id {agency_id!r} must be letters, digits, '-' or '_' (no dots or wildcards)"
        )
    return agency_id


def referrals_topic(agency_id: str) -> str:
    return agency_referrals(check_agency_id(agency_id))


def outcomes_topic(agency_id: str) -> str:
    return agency_outcomes(check_agency_id(agency_id))


def agency_group_prefix(agency_id: str) -> str:
    return f"agency.{check_agency_id(agency_id)}."


def service_group(service: str) -> str:
    return f"signpost-{service}"


_READ = (Operation.READ, Operation.DESCRIBE)
_WRITE = (Operation.WRITE, Operation.DESCRIBE)
_Grant = tuple[ResourceType, str, PatternType, tuple[Operation, ...]]


def _topic(
    name: str, ops: tuple[Operation, ...], pattern: PatternType = PatternType.LITERAL
) -> _Grant:
    return (ResourceType.TOPIC, name, pattern, ops)


def _agency_grants(agency_id: str) -> list[_Grant]:
    return [
        _topic(referrals_topic(agency_id), _READ),
        _topic(outcomes_topic(agency_id), _WRITE),
        (
            ResourceType.GROUP,
            agency_group_prefix(agency_id),
            PatternType.PREFIXED,
            (Operation.READ,),
        ),
    ]


def _service_grants(service: str, agencies: list[str]) -> list[_Grant]:
    prefixed = PatternType.PREFIXED
    # Every consumer dead-letters poison messages; every reader records access events.
    grants = [
        _topic("signpost.deadletter", _WRITE),
        _topic("signpost.access", _WRITE),
        (
            ResourceType.GROUP,
            service_group(service),
            PatternType.LITERAL,
            (Operation.READ,),
        ),
        # Further groups of the same service (the notifier has one per input) live under its own namespace.
        (
            ResourceType.GROUP,
            f"{service_group(service)}-",
            PatternType.PREFIXED,
            (Operation.READ,),
        ),
    ]
    if service == "intake":
        grants += [
            _topic("referral.submitted", _WRITE),
            _topic("referral.cancelled", _WRITE),
            _topic("referral.", _READ, prefixed),
            _topic("assignment.", _READ, prefixed),
        ]
    elif service == "router":
        # Declines come back on assignment.outcome and are rerouted; a cancelled referral never is.
        grants += [
            _topic("referral.submitted", _READ),
            _topic("assignment.outcome", _READ),
            _topic("referral.cancelled", _READ),
            _topic("referral.", _WRITE, prefixed),
        ]
    elif service == "notifier":
        grants += [
            _topic("referral.routed", _READ),
            _topic("referral.cancelled", _READ),
            # It keeps the dead letters, and replays them onto the referral and assignment topics they came from.
            _topic("signpost.deadletter", _READ),
            _topic("signpost.replays", _WRITE),
            _topic("referral.", _WRITE, prefixed),
            _topic("assignment.", _WRITE, prefixed),
            _topic("practice.", _WRITE, prefixed),
            # A referrer registered while the system runs needs its feedback topic before its first outcome; the
            # notifier creates it (``services/notifier/loops/feedback_topics.py``), and only ``practice.<ods>.feedback``
            # names, though a prefix cannot say so: CREATE on this prefix is the only one any service holds.
            _topic("practice.", (Operation.CREATE,), prefixed),
        ]
        # It may also write them, only to replay an agency's own dead-lettered report; that grants no new power,
        # since the notifier already writes assignment.outcome, the recorded outcome every other service trusts.
        grants += [
            _topic(outcomes_topic(a), (*_READ, Operation.WRITE)) for a in agencies
        ]
        grants += [_topic(referrals_topic(a), _WRITE) for a in agencies]
    elif service == "audit":
        grants += [
            _topic(p, _READ, prefixed)
            for p in ("referral.", "assignment.", "agency.", "practice.", "signpost.")
        ]
        # The operations page reports every consumer group's lag.
        grants += [
            (ResourceType.GROUP, p, prefixed, (Operation.DESCRIBE,))
            for p in ("signpost-", "agency.")
        ]
    else:
        raise ValueError(f"unknown service {service!r}; expected one of {SERVICES}")
    return grants


def acl_bindings(
    agencies: Iterable[str], services: Iterable[str] = SERVICES
) -> list[AclBinding]:
    """The whole policy for these agencies and services, sorted and without duplicates."""
    agency_ids = sorted({check_agency_id(a) for a in agencies})
    per_user = [(agency_user(a), _agency_grants(a)) for a in agency_ids]
    per_user += [(service_user(s), _service_grants(s, agency_ids)) for s in services]
    return sorted(
        {
            AclBinding(f"User:{user}", resource_type, name, pattern, op)
            for user, grants in per_user
            for resource_type, name, pattern, ops in grants
            for op in ops
        }
    )
