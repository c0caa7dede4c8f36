"""Referrals and events to test the contract with: the shared valid referral, and ways to bend it."""

import copy
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from schemas.access import AccessRecorded
from schemas.clock import judged_on
from schemas.events import (
    AgencyOutcome,
    AgencyReferral,
    Assignment,
    AssignmentDelivered,
    DeadLettered,
    DeadLetterReplayed,
    FeedbackSummary,
    OutcomeRecorded,
    PracticeFeedback,
    ReferralCancelled,
    ReferralEscalated,
    ReferralRouted,
    ReferralSubmitted,
    ReferralUnroutable,
    ServiceContext,
)
from schemas.minimise import agency_case
from schemas.referral import Referral
from schemas.vocabulary import CompletionOutcome, Need, OutcomeCode, ServiceType

BASELINE_FILE = (
    Path(__file__).resolve().parents[2]
    / "support"
    / "data"
    / "pharmacy_first_referral.json"
)
# Rules that depend on the date are tested on a fixed day, never on the day the suite happens to run.
TODAY = date(2026, 1, 15)
DELETE = object()


def baseline() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(BASELINE_FILE.read_text())
    return loaded


def mutated(
    changes: dict[str, Any], data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The baseline (or ``data``) with dotted paths ("patient.contacts.0.rank") set, or removed with DELETE."""
    result = copy.deepcopy(baseline() if data is None else data)
    for path, value in changes.items():
        *parents, last = path.split(".")
        holder: Any = result
        for part in parents:
            holder = holder[int(part)] if isinstance(holder, list) else holder[part]
        key: Any = int(last) if isinstance(holder, list) else last
        if value is DELETE:
            del holder[key]
        else:
            holder[key] = value
    return result


def born_aged(age: int, today: date = TODAY) -> date:
    """The latest birth date that makes someone ``age`` on ``today`` (their birthday is today, or 28 Feb for 29 Feb)."""
    try:
        return today.replace(year=today.year - age)
    except ValueError:
        return date(today.year - age, 2, 28)


def oldest_aged(age: int, today: date = TODAY) -> date:
    """The earliest birth date that still makes someone ``age`` on ``today`` (tomorrow they are a year older)."""
    return born_aged(age + 1, today) + timedelta(days=1)


def referral(changes: dict[str, Any] | None = None, today: date = TODAY) -> Referral:
    with judged_on(today):
        return Referral.model_validate(mutated(changes or {}))


def patient_aged(
    age: int, sex: str = "male", today: date = TODAY, **changes: Any
) -> dict[str, Any]:
    return {
        "patient.birth_date": born_aged(age, today).isoformat(),
        "patient.sex": sex,
        **changes,
    }


AT = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
ENVELOPE: dict[str, Any] = {
    "event_id": UUID("00000000-0000-4000-8000-000000000001"),
    "occurred_at": AT,
    "correlation_id": "corr-1",
    "journey_id": UUID("00000000-0000-4000-8000-000000000002"),
    "producer": "test",
    "patient_key": "k" * 32,
    "referral_id": UUID("00000000-0000-4000-8000-000000000003"),
}
ASSIGNMENT_ID = UUID("00000000-0000-4000-8000-000000000004")


def assignment(**changes: Any) -> Assignment:
    fields: dict[str, Any] = {
        "assignment_id": ASSIGNMENT_ID,
        "service_id": "demo-pharmacy",
        "service_type": ServiceType.COMMUNITY_PHARMACY,
        "agency_id": "demo-pharmacy",
        "rule_id": "pharmacy-first.chosen",
        "reason": "the patient chose this pharmacy",
        "network_id": "croydon-north",
        "needs": (Need.SORE_THROAT,),
    }
    return Assignment(**{**fields, **changes})


def sample_events() -> list[BaseModel]:
    """One of every event in the catalogue, with every optional part filled in."""
    body = referral()
    return [
        ReferralSubmitted(**ENVELOPE, referral=body),
        ReferralRouted(
            **ENVELOPE,
            rule_set_version="2026.01",
            assignments=(assignment(replaces_assignment_id=UUID(int=9)),),
            services={
                "demo-pharmacy": ServiceContext(
                    name="Demo Pharmacy",
                    coordinator_agency_id="care-coordinator-croydon-north",
                )
            },
            referral=body,
            notes_to_referrer=("chosen pharmacy closed; sent to FA002",),
        ),
        ReferralUnroutable(
            **ENVELOPE,
            rule_set_version="2026.01",
            reason="no pharmacy open",
            referral=body,
            declined_by=("fa001",),
        ),
        AssignmentDelivered(
            **ENVELOPE,
            assignment_id=ASSIGNMENT_ID,
            agency_id="demo-pharmacy",
            channel="kafka",
        ),
        AgencyReferral(
            **ENVELOPE,
            assignment=assignment(),
            referral=agency_case(body, assignment()),
        ),
        AgencyOutcome(
            event_id=UUID(int=5),
            assignment_id=ASSIGNMENT_ID,
            outcome=OutcomeCode.COMPLETED,
            completion=CompletionOutcome.ADVICE_GIVEN,
            note="seen;\nadvice given",
            occurred_at=AT,
        ),
        OutcomeRecorded(
            **ENVELOPE,
            assignment_id=ASSIGNMENT_ID,
            agency_id="demo-pharmacy",
            service_type=ServiceType.COMMUNITY_PHARMACY,
            outcome=OutcomeCode.COMPLETED,
            completion=CompletionOutcome.ADVICE_GIVEN,
            note="seen",
            reported_by="demo-pharmacy-system",
            previous_state="patient_contacted",
        ),
        ReferralEscalated(
            **ENVELOPE,
            assignment_id=ASSIGNMENT_ID,
            agency_id="demo-pharmacy",
            network_id="croydon-north",
            timer="first_contact",
            due_at=AT + timedelta(minutes=30),
            reason="no contact within 30 minutes",
            notify=("H81001", "demo-pharmacy"),
        ),
        ReferralCancelled(
            **ENVELOPE, reason="patient recovered", cancelled_by="gp-h81001"
        ),
        PracticeFeedback(
            **ENVELOPE,
            practice_ods="H81001",
            assignment_id=ASSIGNMENT_ID,
            agency_id="demo-pharmacy",
            service_type=ServiceType.COMMUNITY_PHARMACY,
            status="completed",
            summary=FeedbackSummary(
                outcome=OutcomeCode.COMPLETED,
                completion=CompletionOutcome.ADVICE_GIVEN,
                note="advice given",
                contacted_at=AT,
                completed_at=AT + timedelta(hours=1),
            ),
            message="Seen at the pharmacy; advice given.",
        ),
        DeadLettered(
            event_id=UUID(int=6),
            occurred_at=AT,
            consumer="signpost-router",
            original_topic="referral.submitted",
            original_partition=2,
            original_offset=41,
            reason="schema violation: referral.needs: field required",
            payload_base64="e30=",
            headers={"correlation-id": "corr-1"},
        ),
        DeadLetterReplayed(
            event_id=UUID(int=8),
            occurred_at=AT,
            correlation_id="corr-2",
            dead_letter_id=UUID(int=6),
            dead_letter_ids=[UUID(int=6), UUID(int=9)],
            original_topic="referral.submitted",
            original_partition=2,
            original_offset=41,
            replay=1,
            forced=False,
            replayed_by="operations",
        ),
        AccessRecorded(
            event_id=UUID(int=7),
            occurred_at=AT,
            producer="intake",
            correlation_id="corr-1",
            client_id="gp-h81001",
            organisation="H81001",
            role="gp_receptionist",
            function="read referral",
            outcome="granted",
            referral_id=ENVELOPE["referral_id"],
            patient_key="k" * 32,
        ),
    ]
