"""The router's handler as a plan: what one submitted referral and its decision write, with no database or broker.

``_planned`` and ``_decided`` are the pure part of ``handle_submitted``: everything the handler stores
(decision row, assignment rows, the outbox event) is decided here, and ids come from the submitted
event's id, so a replayed record writes the very same rows and event.
"""

import json
from dataclasses import replace
from typing import Any
from uuid import UUID

from schemas.events import ReferralRouted, ReferralSubmitted, ReferralUnroutable
from schemas.ids import assignment_id, derived_event_id
from schemas.topics import REFERRAL_ROUTED, REFERRAL_UNROUTABLE
from schemas.vocabulary import Need, ServiceType
from services.router.domain.decide import Decision, Planned
from services.router.domain.directory import Described
from services.router.handlers.submitted import _decided, _planned, _Writes
from services.router.store import cancellations
from signpost.consumer import Incoming
from signpost.outbox import OutboxRow
from tests.unit.router.test_decide import DIRECTORY, RULES
from tests.unit.schemas.factories import ENVELOPE, referral

SUBMITTED = ReferralSubmitted(**ENVELOPE, referral=referral())


def planned(
    service_id: str,
    service_type: ServiceType,
    agency_id: str,
    rule_id: str,
    reason: str,
    *needs: Need,
) -> Planned:
    return Planned(
        service_id, service_type, agency_id, "croydon-north", rule_id, reason, needs
    )


PHARMACY = planned(
    "demo-pharmacy",
    ServiceType.COMMUNITY_PHARMACY,
    "demo-pharmacy",
    "pharmacy-first",
    "the patient chose this pharmacy",
    Need.SORE_THROAT,
)
SOCIAL = planned(
    "croydon-social",
    ServiceType.SOCIAL_SERVICES,
    "croydon-adult-social-care",
    "home-environment",
    "broken heating",
    Need.HOME_HEATING,
    Need.HOME_HOUSING,
)
ROUTED = Decision(
    rule_set_version="2026.01",
    directory_version="dir-7",
    assignments=(PHARMACY, SOCIAL),
    notes_to_referrer=("chosen pharmacy closed",),
    services={
        "demo-pharmacy": Described(
            name="Demo Pharmacy", coordinator_agency_id="coordinator-north"
        )
    },
)
UNROUTABLE = Decision(
    rule_set_version="2026.01",
    directory_version="dir-7",
    unroutable_reason="no pharmacy open",
)


def submitted(event_id: int, referral_id: int = 3) -> ReferralSubmitted:
    return SUBMITTED.model_copy(
        update={"event_id": UUID(int=event_id), "referral_id": UUID(int=referral_id)}
    )


def incoming(event: ReferralSubmitted) -> Incoming[ReferralSubmitted]:
    return Incoming(
        event, "referral.submitted", 0, 1, {"correlation-id": event.correlation_id}
    )


def outgoing(writes: _Writes) -> tuple[OutboxRow, dict[str, Any]]:
    assert writes.event is not None
    return writes.event, json.loads(writes.event[3])


def test_a_routed_decision_writes_one_assignment_row_per_assignment_with_its_needs() -> (
    None
):
    writes = _decided(SUBMITTED, ROUTED)
    assert writes.assignments == [
        (
            assignment_id(SUBMITTED.event_id, "demo-pharmacy"),
            SUBMITTED.referral_id,
            "demo-pharmacy",
            "community_pharmacy",
            "demo-pharmacy",
            "pharmacy-first",
            "the patient chose this pharmacy",
            ["sore_throat"],
        ),
        (
            assignment_id(SUBMITTED.event_id, "croydon-social"),
            SUBMITTED.referral_id,
            "croydon-social",
            "social_services",
            "croydon-adult-social-care",
            "home-environment",
            "broken heating",
            ["home_heating", "home_housing"],
        ),
    ]
    assert writes.decision[:5] == (
        SUBMITTED.referral_id,
        SUBMITTED.event_id,
        SUBMITTED.patient_key,
        "routed",
        "2026.01",
    )


def test_a_routed_decision_publishes_referral_routed_with_an_id_derived_from_the_submitted_event() -> (
    None
):
    row, payload = outgoing(_decided(SUBMITTED, ROUTED))
    event_id, topic, key, _, headers = row
    assert (topic, key) == (REFERRAL_ROUTED, SUBMITTED.patient_key.encode())
    assert event_id == derived_event_id(SUBMITTED.event_id, "routed")
    assert json.loads(headers)["event-type"] == "referral.routed"
    assert json.loads(headers)["correlation-id"] == SUBMITTED.correlation_id
    routed = ReferralRouted.model_validate(payload)
    assert routed.event_id == event_id
    assert [(a.service_id, a.needs) for a in routed.assignments] == [
        ("demo-pharmacy", (Need.SORE_THROAT,)),
        ("croydon-social", (Need.HOME_HEATING, Need.HOME_HOUSING)),
    ]
    assert [a.assignment_id for a in routed.assignments] == [
        r[0] for r in _decided(SUBMITTED, ROUTED).assignments
    ]
    # It follows the submitted event: same journey, correlation, patient key and referral.
    assert (routed.journey_id, routed.correlation_id, routed.referral_id) == (
        SUBMITTED.journey_id,
        SUBMITTED.correlation_id,
        SUBMITTED.referral_id,
    )
    assert routed.notes_to_referrer == ("chosen pharmacy closed",)
    # Only services the directory described are described; the others are left out, not invented.
    assert set(routed.services) == {"demo-pharmacy"}
    assert routed.services["demo-pharmacy"].coordinator_agency_id == "coordinator-north"


def test_the_same_submitted_event_yields_the_same_ids_and_another_event_other_ids() -> (
    None
):
    first, again, other = (
        _decided(submitted(11), ROUTED),
        _decided(submitted(11), ROUTED),
        _decided(submitted(12), ROUTED),
    )
    assert first.event is not None
    assert again.event is not None
    assert other.event is not None
    assert first.event[0] == again.event[0]
    assert [r[0] for r in first.assignments] == [r[0] for r in again.assignments]
    assert first.event[0] != other.event[0]
    assert not {r[0] for r in first.assignments} & {r[0] for r in other.assignments}
    # Two services of one decision never share an assignment id.
    assert len({r[0] for r in first.assignments}) == 2


def test_an_unroutable_decision_publishes_referral_unroutable_with_the_reason_and_no_assignment() -> (
    None
):
    writes = _decided(SUBMITTED, UNROUTABLE)
    row, payload = outgoing(writes)
    assert writes.assignments == []
    assert writes.decision[3] == "unroutable"
    assert (row[0], row[1]) == (
        derived_event_id(SUBMITTED.event_id, "unroutable"),
        REFERRAL_UNROUTABLE,
    )
    unroutable = ReferralUnroutable.model_validate(payload)
    assert unroutable.reason == "no pharmacy open"
    assert json.loads(writes.decision[5])["unroutable_reason"] == "no pharmacy open"
    # The unroutable id is not the id a routed outcome of the same event would have had.
    assert row[0] != derived_event_id(SUBMITTED.event_id, "routed")


def test_an_unroutable_decision_without_a_reason_still_says_why() -> None:
    _, payload = outgoing(
        _decided(SUBMITTED, replace(UNROUTABLE, unroutable_reason=None))
    )
    assert payload["reason"] == "no rule produced an assignment"


def test_the_explanation_keeps_what_was_decided_with() -> None:
    explanation = json.loads(_decided(SUBMITTED, ROUTED).decision[5])
    assert explanation["directory_version"] == "dir-7"
    assert [a["service_id"] for a in explanation["assignments"]] == [
        "demo-pharmacy",
        "croydon-social",
    ]
    assert explanation["notes_to_referrer"] == ["chosen pharmacy closed"]


def test_a_referral_cancelled_before_routing_is_remembered_without_event_or_assignment() -> (
    None
):
    kept, gone = submitted(21, referral_id=31), submitted(22, referral_id=32)
    writes = _planned(
        [incoming(kept), incoming(gone)], {gone.referral_id}, DIRECTORY, RULES
    )
    assert [w.decision[1] for w in writes] == [kept.event_id, gone.event_id]
    withheld = writes[1]
    assert withheld.event is None
    assert withheld.assignments == []
    assert withheld.decision[3] == cancellations.CANCELLED
    assert withheld.decision[4] == RULES.version
    assert json.loads(withheld.decision[5]) == {
        "cancelled_before_routing": True,
        "assignments": [],
    }
    # The other referral of the batch is decided as usual, on the shipped rules.
    assert writes[0].event is not None
    assert writes[0].event[1] in (REFERRAL_ROUTED, REFERRAL_UNROUTABLE)


def test_the_batch_plan_decides_on_the_events_own_time_so_a_replay_agrees() -> None:
    first = _planned([incoming(submitted(41))], set(), DIRECTORY, RULES)[0]
    again = _planned([incoming(submitted(41))], set(), DIRECTORY, RULES)[0]
    assert first.event is not None
    assert again.event is not None
    assert first.event[:2] == again.event[:2]
    assert first.assignments == again.assignments
    assert first.decision[3] == "routed"
    assert [r[2] for r in first.assignments] == ["demo-pharmacy"]
