"""What audit believes of a record depends on who could have written its topic."""

from uuid import uuid4

import pytest

from deploy.kafka.acls import acl_bindings
from schemas.topics import agency_of_outcomes
from schemas.version import AGENCY, EVENTS
from services.audit.domain import provenance
from services.audit.domain.provenance import (
    AGENCY_REPORT,
    UNEXPECTED,
    UNTYPED,
    Provenance,
    classify,
)
from tests.unit.schemas.factories import sample_events

OUTCOMES = "agency.demo-pharmacy.outcomes"


@pytest.mark.parametrize(
    "claimed",
    [
        None,
        "agency.outcome",
        "referral.cancelled",
        "access.recorded",
        "assignment.outcome",
        "referral.submitted",
        "something.new",
    ],
)
@pytest.mark.hazard("HAZ-020")
def test_whatever_a_record_on_an_agency_outcomes_topic_claims_it_is_that_agencys_report(
    claimed: str | None,
) -> None:
    assert classify(OUTCOMES, claimed) == Provenance(
        AGENCY_REPORT, believed=False, agency_id="demo-pharmacy"
    )


@pytest.mark.parametrize(
    ("topic", "claimed"),
    [
        ("signpost.access", "access.recorded"),
        ("referral.cancelled", "referral.cancelled"),
        ("assignment.outcome", "assignment.outcome"),
        ("agency.demo-pharmacy.referrals", "agency.referral"),
        ("agency.care-coordinator-croydon-north.referrals", "referral.escalated"),
        ("agency.demo-pharmacy.referrals", "referral.cancelled"),
        ("practice.H81001.feedback", "practice.feedback"),
        ("signpost.deadletter", "event.dead_lettered"),
    ],
)
def test_a_services_event_on_its_own_topic_is_believed(
    topic: str, claimed: str
) -> None:
    assert classify(topic, claimed) == Provenance(claimed, believed=True)


@pytest.mark.parametrize(
    ("topic", "claimed"),
    [
        ("referral.routed", "access.recorded"),
        ("signpost.access", "referral.cancelled"),
        ("agency.demo-pharmacy.referrals", "assignment.outcome"),
        ("referral.huddle", "access.recorded"),  # a topic the contract sends nothing on
    ],
)
def test_one_of_the_contracts_events_on_a_topic_it_is_not_sent_on_is_not_believed(
    topic: str, claimed: str
) -> None:
    assert classify(topic, claimed) == Provenance(UNEXPECTED, believed=False)


def test_an_untyped_record_on_a_service_topic_is_kept_but_not_believed() -> None:
    assert classify("referral.routed", None) == Provenance(UNTYPED, believed=False)


def test_an_event_the_contract_does_not_know_yet_is_a_services_and_believed() -> None:
    assert classify("referral.huddle", "referral.huddle_booked") == Provenance(
        "referral.huddle_booked", believed=True
    )


def test_a_record_not_believed_is_kept_under_an_id_the_writer_cannot_choose() -> None:
    claimed = uuid4()
    report = classify(OUTCOMES, "referral.escalated")
    kept = provenance.row_id(OUTCOMES, claimed, report)
    assert kept != claimed
    assert kept == provenance.row_id(OUTCOMES, claimed, report), (
        "stable, so a redelivery is the same row"
    )
    assert kept != provenance.row_id(
        "agency.other.outcomes", claimed, classify("agency.other.outcomes", None)
    )
    believed = classify("referral.escalated", "referral.escalated")
    assert provenance.row_id("referral.escalated", claimed, believed) == claimed


def test_the_only_topics_the_contract_lets_an_agency_write_are_its_outcomes_topics() -> (
    None
):
    written_by_agencies = {
        t
        for contract in EVENTS.values()
        if AGENCY in contract.senders
        for t in contract.topics
    }
    assert written_by_agencies == {"agency.{agencyId}.outcomes"}


def test_the_broker_lets_an_agency_write_its_outcomes_topic_and_nothing_else() -> None:
    # audit's rule is only as good as the ACLs: an agency writing any other topic would be believed there.
    writes = {
        b.resource_name
        for b in acl_bindings(["demo-pharmacy"])
        if b.principal == "User:agency-demo-pharmacy" and b.operation == "WRITE"
    }
    assert writes == {OUTCOMES}
    assert agency_of_outcomes(next(iter(writes))) == "demo-pharmacy"


def test_every_topic_the_contract_names_has_its_expected_types() -> None:
    for event_type, contract in EVENTS.items():
        for topic in contract.topics:
            concrete = topic.replace("{agencyId}", "demo-pharmacy").replace(
                "{odsCode}", "H81001"
            )
            assert event_type in (provenance.expected_types(concrete) or ()), (
                event_type,
                concrete,
            )


def test_every_event_of_the_contract_is_believed_on_its_topic_unless_an_agency_writes_it() -> (
    None
):
    for event in sample_events():
        kind = str(event.model_dump()["type"])
        contract = EVENTS[kind]
        topic = (
            contract.topics[0]
            .replace("{agencyId}", "demo-pharmacy")
            .replace("{odsCode}", "H81001")
        )
        believed = AGENCY not in contract.senders
        assert classify(topic, kind).believed is believed, kind
