"""A referrer's webhook is its own organisation's to manage, and its deliveries travel as feedback, not referrals."""

import pytest

from services.notifier.api.webhooks import may_manage_referrer
from services.notifier.domain.webhooks.receivers import (
    receiver_event_type,
    receiver_topic,
    referrer_of,
    referrer_receiver,
)
from signpost.clients import Principal


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (Principal("gp-h81002", "H81002", "referrer"), True),
        (Principal("operations", "QWU", "operations"), True),
        (Principal("gp-h81001", "H81001", "referrer"), False),  # another practice
        (
            Principal("agency-demo-pharmacy", "FA001", "agency", "demo-pharmacy"),
            False,
        ),  # an agency of another organisation
    ],
)
def test_only_the_organisations_own_clients_and_operations_manage_its_feedback_webhook(
    principal: Principal, allowed: bool
) -> None:
    assert may_manage_referrer(principal, "H81002") is allowed


def test_an_agency_client_that_refers_manages_its_own_organisations_feedback_webhook() -> (
    None
):
    social = Principal(
        "agency-social-services-croydon-north",
        "LBCRO",
        "agency",
        "social-services-croydon-north",
    )
    assert may_manage_referrer(social, "LBCRO")


def test_a_referrers_key_never_meets_an_agencys_and_names_the_feedback_topic() -> None:
    receiver = referrer_receiver("H81002")
    assert referrer_of(receiver) == "H81002"
    assert referrer_of("demo-pharmacy") is None
    assert (receiver_topic(receiver), receiver_event_type(receiver)) == (
        "practice.H81002.feedback",
        "practice.feedback",
    )
    assert (receiver_topic("demo-pharmacy"), receiver_event_type("demo-pharmacy")) == (
        "agency.demo-pharmacy.referrals",
        "agency.referral",
    )
