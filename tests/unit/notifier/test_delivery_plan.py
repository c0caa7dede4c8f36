"""The notifier's delivery handler as a plan: what a routed referral hands to each agency, with no database or broker.

``_offered``, ``_handed`` and ``_announcements`` are the pure part of ``handle_routed``: which assignments are
offered (none of a cancelled referral), and, for each delivery the database says is new, the agency's minimised
copy and ``assignment.delivered`` (on Kafka, or as a webhook row) and its timers, with ids derived from the
assignment id so that a replay can only ever produce the same rows.
"""

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from schemas.events import (
    AgencyReferral,
    Assignment,
    AssignmentDelivered,
    ReferralRouted,
)
from schemas.ids import derived_event_id
from schemas.minimise import agency_case
from schemas.topics import ASSIGNMENT_DELIVERED, agency_referrals
from schemas.vocabulary import Need, ServiceType
from services.notifier.domain.sla import planned_timers
from services.notifier.handlers.routed import _announcements, _handed, _offered
from signpost.consumer import Incoming
from tests.unit.schemas.factories import ENVELOPE, assignment, referral

DELIVERED_AT = datetime(2026, 1, 15, 9, 31, tzinfo=UTC)
PHARMACY = assignment(assignment_id=UUID(int=101))
HUDDLE = assignment(
    assignment_id=UUID(int=102),
    service_id="croydon-north-huddle",
    service_type=ServiceType.MDT_HUDDLE,
    agency_id="croydon-north-icn",
    rule_id="complex-case",
    reason="complex case",
    needs=(Need.SORE_THROAT,),
)


def routed(referral_id: int = 3, *assignments: Assignment) -> ReferralRouted:
    return ReferralRouted(
        **{**ENVELOPE, "referral_id": UUID(int=referral_id)},
        rule_set_version="2026.01",
        assignments=assignments or (PHARMACY, HUDDLE),
        referral=referral(),
    )


def incoming(event: ReferralRouted) -> Incoming[ReferralRouted]:
    return Incoming(
        event, "referral.routed", 0, 7, {"correlation-id": event.correlation_id}
    )


def payload(row: tuple[Any, ...]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(row[3])
    return loaded


def test_each_assignment_gets_its_own_copy_on_its_agencys_topic_with_its_minimised_case() -> (
    None
):
    event = routed()
    for a in event.assignments:
        copy_row, delivered_row = _announcements(event, a, "kafka")
        assert (copy_row[1], copy_row[2]) == (
            agency_referrals(a.agency_id),
            event.patient_key.encode(),
        )
        copy = AgencyReferral.model_validate(payload(copy_row))
        assert copy.assignment == a
        assert copy.referral == agency_case(event.referral, a)
        assert json.loads(copy_row[4])["event-type"] == "agency.referral"
        delivered = AssignmentDelivered.model_validate(payload(delivered_row))
        assert delivered_row[1] == ASSIGNMENT_DELIVERED
        assert (delivered.assignment_id, delivered.agency_id, delivered.channel) == (
            a.assignment_id,
            a.agency_id,
            "kafka",
        )
        assert (delivered.referral_id, delivered.journey_id) == (
            event.referral_id,
            event.journey_id,
        )
    # The copy is minimised per kind of service: the pharmacy is not told what the huddle is.
    pharmacy, huddle = (
        AgencyReferral.model_validate(payload(_announcements(event, a, "kafka")[0]))
        for a in (PHARMACY, HUDDLE)
    )
    assert pharmacy.referral != huddle.referral


def test_the_copy_and_delivered_ids_are_derived_from_the_assignment_and_differ_between_assignments() -> (
    None
):
    event = routed()
    copy_row, delivered_row = _announcements(event, PHARMACY, "kafka")
    assert copy_row[0] == derived_event_id(PHARMACY.assignment_id, "agency-copy")
    assert delivered_row[0] == derived_event_id(PHARMACY.assignment_id, "delivered")
    again = _announcements(routed(), PHARMACY, "webhook")
    assert (again[0][0], again[1][0]) == (copy_row[0], delivered_row[0])
    other = _announcements(event, HUDDLE, "kafka")
    assert len({copy_row[0], delivered_row[0], other[0][0], other[1][0]}) == 4


def test_assignments_of_a_cancelled_referral_are_withheld_and_the_others_offered() -> (
    None
):
    kept, cancelled = routed(3), routed(4)
    offered = _offered([incoming(kept), incoming(cancelled)], {cancelled.referral_id})
    assert [(i.event.referral_id, a.assignment_id) for i, a in offered] == [
        (kept.referral_id, PHARMACY.assignment_id),
        (kept.referral_id, HUDDLE.assignment_id),
    ]
    assert _offered([incoming(cancelled)], {cancelled.referral_id}) == []


def test_a_kafka_agency_gets_its_copy_and_delivered_through_the_outbox() -> None:
    offered = _offered([incoming(routed())], set())
    timers, events, webhooks = _handed(
        offered, {PHARMACY.assignment_id: DELIVERED_AT}, set(), None
    )
    assert webhooks == []
    assert [(row[1], row[0]) for row in events] == [
        (
            agency_referrals("demo-pharmacy"),
            derived_event_id(PHARMACY.assignment_id, "agency-copy"),
        ),
        (ASSIGNMENT_DELIVERED, derived_event_id(PHARMACY.assignment_id, "delivered")),
    ]
    expected = planned_timers(
        PHARMACY.service_type, routed().referral.urgency, DELIVERED_AT
    )
    assert expected  # the policy times a Pharmacy First assignment
    assert timers == [
        (PHARMACY.assignment_id, t.name.value, t.due_at, t.on_breach.value)
        for t in expected
    ]


def test_a_webhook_agency_gets_a_webhook_row_and_nothing_on_kafka() -> None:
    event = routed()
    new = {PHARMACY.assignment_id: DELIVERED_AT}
    _, events, webhooks = _handed(
        _offered([incoming(event)], set()), new, {"demo-pharmacy"}, None
    )
    assert events == []
    [(copy_id, agency, assignment_id, body, delivered_body, patient_key)] = webhooks
    assert (copy_id, agency, assignment_id, patient_key) == (
        derived_event_id(PHARMACY.assignment_id, "agency-copy"),
        "demo-pharmacy",
        PHARMACY.assignment_id,
        event.patient_key,
    )
    assert AgencyReferral.model_validate_json(body).referral == agency_case(
        event.referral, PHARMACY
    )
    assert AssignmentDelivered.model_validate_json(delivered_body).channel == "webhook"


def test_webhook_and_kafka_agencies_of_one_referral_each_get_their_own_channel() -> (
    None
):
    new = {PHARMACY.assignment_id: DELIVERED_AT, HUDDLE.assignment_id: DELIVERED_AT}
    _, events, webhooks = _handed(
        _offered([incoming(routed())], set()), new, {"croydon-north-icn"}, None
    )
    assert [w[1] for w in webhooks] == ["croydon-north-icn"]
    assert {row[1] for row in events} == {
        agency_referrals("demo-pharmacy"),
        ASSIGNMENT_DELIVERED,
    }


def test_an_assignment_delivered_before_is_not_handed_again() -> None:
    # A redelivered routed event: the deliveries row exists, so the database returns nothing new for it.
    timers, events, webhooks = _handed(
        _offered([incoming(routed())], set()), {}, {"demo-pharmacy"}, None
    )
    assert (timers, events, webhooks) == ([], [], [])
    _, only_new, _ = _handed(
        _offered([incoming(routed())], set()),
        {HUDDLE.assignment_id: DELIVERED_AT},
        set(),
        None,
    )
    assert {row[0] for row in only_new} == {
        derived_event_id(HUDDLE.assignment_id, "agency-copy"),
        derived_event_id(HUDDLE.assignment_id, "delivered"),
    }
