"""The contract's version and its catalogue: every event, where it travels, who sends and who reads it.

``CONTRACT_VERSION`` is semver for the whole contract: a new optional field
or event is a minor release, anything an existing reader would refuse is a
major one (and a new ``version`` of the events it touches). The generator
builds the JSON Schema files and the AsyncAPI document from this catalogue.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.access import AccessRecorded
from schemas.events import (
    AgencyOutcome,
    AgencyReferral,
    AssignmentDelivered,
    DeadLettered,
    DeadLetterReplayed,
    OutcomeRecorded,
    PracticeFeedback,
    ReferralCancelled,
    ReferralEscalated,
    ReferralRouted,
    ReferralSubmitted,
    ReferralUnroutable,
)
from schemas.referral import Referral, Strict
from schemas.topics import (
    ACCESS,
    AGENCY_OUTCOMES,
    AGENCY_REFERRALS,
    ASSIGNMENT_DELIVERED,
    ASSIGNMENT_OUTCOME,
    DEAD_LETTER,
    PRACTICE_FEEDBACK,
    REFERRAL_CANCELLED,
    REFERRAL_ESCALATED,
    REFERRAL_ROUTED,
    REFERRAL_SUBMITTED,
    REFERRAL_UNROUTABLE,
    REPLAYS,
)

CONTRACT_VERSION = "2.7.0"

# Who takes part: the four services, and the outside systems at either end.
INTAKE, ROUTER, NOTIFIER, AUDIT = "intake", "router", "notifier", "audit"
AGENCY, GP_PRACTICE = "agency", "gp_practice"
SERVICES = (INTAKE, ROUTER, NOTIFIER, AUDIT)


@dataclass(frozen=True)
class EventContract:
    model: type[Strict]
    topics: tuple[str, ...]
    senders: tuple[str, ...]
    receivers: tuple[str, ...]
    summary: str

    @property
    def type(self) -> str:
        return str(_default(self.model, "type"))

    @property
    def version(self) -> int:
        return int(_default(self.model, "version"))


def _default(model: type[Strict], field: str) -> Any:
    return model.model_fields[field].default


_CATALOGUE = (
    EventContract(
        ReferralSubmitted,
        (REFERRAL_SUBMITTED,),
        (INTAKE,),
        (ROUTER, AUDIT),
        "A referral was accepted (HTTP 202).",
    ),
    EventContract(
        ReferralRouted,
        (REFERRAL_ROUTED,),
        (ROUTER,),
        (NOTIFIER, INTAKE, AUDIT),
        "The router assigned services to a referral.",
    ),
    EventContract(
        ReferralUnroutable,
        (REFERRAL_UNROUTABLE,),
        (ROUTER,),
        (NOTIFIER, INTAKE, AUDIT),
        "No service can take the referral; it waits in the operations queue.",
    ),
    EventContract(
        AssignmentDelivered,
        (ASSIGNMENT_DELIVERED,),
        (NOTIFIER,),
        (INTAKE, AUDIT),
        "An assignment reached its agency's topic or webhook.",
    ),
    EventContract(
        AgencyReferral,
        (AGENCY_REFERRALS,),
        (NOTIFIER,),
        (AGENCY, AUDIT),
        "One assignment, as the agency receives it.",
    ),
    EventContract(
        AgencyOutcome,
        (AGENCY_OUTCOMES,),
        (AGENCY,),
        (NOTIFIER, AUDIT),
        "An agency reports an outcome for one of its assignments.",
    ),
    EventContract(
        OutcomeRecorded,
        (ASSIGNMENT_OUTCOME,),
        (NOTIFIER,),
        (INTAKE, ROUTER, AUDIT),
        "An agency's outcome, checked and recorded against its assignment.",
    ),
    EventContract(
        ReferralEscalated,
        (REFERRAL_ESCALATED,),
        (NOTIFIER,),
        (INTAKE, AUDIT),
        "A timer ran out on an assignment and people were told.",
    ),
    EventContract(
        ReferralCancelled,
        (REFERRAL_CANCELLED,),
        (INTAKE,),
        (ROUTER, NOTIFIER, AUDIT),
        "The referrer revoked the referral.",
    ),
    EventContract(
        PracticeFeedback,
        (PRACTICE_FEEDBACK,),
        (NOTIFIER,),
        (GP_PRACTICE, AUDIT),
        "What the referring practice hears about its referral.",
    ),
    EventContract(
        DeadLettered,
        (DEAD_LETTER,),
        SERVICES,
        (AUDIT,),
        "A record a consumer could not handle, with the reason; inspect and replay.",
    ),
    EventContract(
        DeadLetterReplayed,
        (REPLAYS,),
        (NOTIFIER,),
        (AUDIT,),
        "Operations staff put a dead record back on its topic; the dead letters it answers are marked replayed.",
    ),
    EventContract(
        AccessRecorded,
        (ACCESS,),
        SERVICES,
        (AUDIT,),
        "Someone read or acted on a referral, a patient's trail or an operations queue (granted or refused).",
    ),
)

EVENTS: Mapping[str, EventContract] = {
    contract.type: contract for contract in _CATALOGUE
}

# Documents that are not events on their own but that agencies and client systems write or read.
DOCUMENTS: Mapping[str, tuple[type[Strict], int]] = {"referral": (Referral, 1)}
