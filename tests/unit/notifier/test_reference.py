"""What the notifier says of a delivered service: what the router's directory said when routing."""

from typing import Any

import pytest

from services.notifier.domain.reference import coordinator_of, service_name

ROUTED_WITH_CONTEXT = {
    "service_id": "social-services-croydon-north",
    "agency_id": "social-services-croydon-north",
    "network_id": "croydon-north",
    "service_name": "Adult social care (as routed)",
    "coordinator_agency_id": "hub-elsewhere",
}


def test_a_delivery_routed_with_its_context_is_named_and_coordinated_as_the_router_said() -> (
    None
):
    assert service_name(ROUTED_WITH_CONTEXT) == "Adult social care (as routed)"
    assert coordinator_of(ROUTED_WITH_CONTEXT) == "hub-elsewhere", (
        "not the seed files' croydon-north coordinator"
    )


@pytest.mark.hazard("HAZ-008")
def test_a_network_the_router_found_no_coordinator_for_gets_none_not_the_seed_files_guess() -> (
    None
):
    assert (
        coordinator_of({**ROUTED_WITH_CONTEXT, "coordinator_agency_id": None}) is None
    )


def test_a_delivery_without_its_context_is_named_by_its_agency_and_has_no_coordinator() -> (
    None
):
    older: dict[str, Any] = {
        **ROUTED_WITH_CONTEXT,
        "service_name": None,
        "coordinator_agency_id": None,
    }
    assert service_name(older) == "social-services-croydon-north"
    assert coordinator_of(older) is None
