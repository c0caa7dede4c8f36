"""An agency reads its own open assignments of a referral, each with its minimised case, and nothing else."""

from typing import Any

import pytest

from schemas.vocabulary import Need, RedFlag
from services.intake.domain.agency_view import agency_view
from services.intake.domain.assignments import FINISHED
from tests.unit.schemas.factories import referral

NOTE = "Key safe code 4411"


def _assignment(
    agency: str, service_type: str, needs: list[str], status: str = "offered"
) -> dict[str, Any]:
    return {
        "assignment_id": f"id-{agency}-{service_type}",
        "agency_id": agency,
        "service_id": f"service-{agency}",
        "service_type": service_type,
        "needs": needs,
        "status": status,
        "reason": "because",
        "outcome_detail": None,
        "replaces_assignment_id": None,
    }


def _summary(*assignments: dict[str, Any], status: str = "routed") -> dict[str, Any]:
    body = referral().model_copy(
        update={
            "needs": (Need.SORE_THROAT, Need.HOME_HEATING),
            "red_flags": (RedFlag.MEDICINES_STOCKPILE,),
            "notes": NOTE,
        }
    )
    version = {
        "version": 1,
        "status": "submitted",
        "source": "json",
        "created_at": "2026-01-15T09:00:00+00:00",
        "referral": body.model_dump(mode="json"),
    }
    return {
        "referral_id": "r1",
        "status": status,
        "referrer_ods": "H81001",
        "patient_key": "k" * 16,
        "assignments": list(assignments),
        "versions": [version],
    }


PHARMACY = _assignment("pharmacy", "community_pharmacy", ["sore_throat"])
SOCIAL = _assignment("social", "social_services", ["home_heating"])


@pytest.mark.hazard("HAZ-014")
def test_an_agency_sees_only_its_own_assignment_and_its_minimised_case() -> None:
    view = agency_view(_summary(PHARMACY, SOCIAL), "social")
    assert view is not None
    assert set(view) == {"referral_id", "assignments"}
    (own,) = view["assignments"]
    assert own["assignment_id"] == SOCIAL["assignment_id"]
    assert own["case"]["needs"] == ["home_heating"]
    assert own["case"]["red_flags"] == []
    assert own["case"]["notes"] is None
    assert own["case"]["chosen_pharmacy_ods"] is None


@pytest.mark.hazard("HAZ-014")
@pytest.mark.parametrize("status", [*sorted(FINISHED), "a_state_added_later"])
def test_an_assignment_that_is_over_or_unknown_shows_nothing(status: str) -> None:
    assert (
        agency_view(
            _summary(
                PHARMACY,
                _assignment("social", "social_services", ["home_heating"], status),
            ),
            "social",
        )
        is None
    )


@pytest.mark.parametrize("status", ["cancelled", "completed"])
def test_a_cancelled_or_completed_referral_shows_nothing_to_any_agency(
    status: str,
) -> None:
    assert agency_view(_summary(PHARMACY, SOCIAL, status=status), "pharmacy") is None


def test_a_late_assignment_is_still_the_agencys_to_act_on() -> None:
    assert agency_view(
        _summary(
            _assignment("social", "social_services", ["home_heating"], "escalated")
        ),
        "social",
    )


def test_an_agency_with_no_assignment_sees_nothing() -> None:
    assert agency_view(_summary(PHARMACY, SOCIAL), "someone-else") is None


def test_the_case_parses_on_the_day_it_was_accepted_not_today() -> None:
    """A referral eligible when accepted (a child's ear infection) is still shown after the patient's birthday."""
    summary = _summary(PHARMACY)
    body = summary["versions"][0]["referral"]
    body.update(needs=["acute_otitis_media"], red_flags=[], chosen_pharmacy_ods="FA001")
    body["patient"]["birth_date"] = (
        "2008-01-16"  # 17 on 2026-01-15; 18, and ineligible, the next day
    )
    summary["assignments"] = [
        _assignment("pharmacy", "community_pharmacy", ["acute_otitis_media"])
    ]
    view = agency_view(summary, "pharmacy")
    assert view is not None
    assert view["assignments"][0]["case"]["needs"] == ["acute_otitis_media"]
