"""The routing decision on the shipped seed directories and rules."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.clock import judged_on
from schemas.referral import Referral
from schemas.vocabulary import Need, RedFlag, ServiceType
from services.router.domain import directory as directory_module
from services.router.domain import rules as rules_module
from services.router.domain.decide import decide, reroute
from services.router.domain.directory import (
    Directory,
    accepting_at,
    capacity_at,
    is_open,
    status_lapsed,
)
from tests.unit.schemas.factories import TODAY, mutated

SEEDS = Path(__file__).parents[3] / "services" / "router"
DIRECTORY = directory_module.load(SEEDS / "directory")
RULES = rules_module.load(SEEDS / "rules" / "default.yaml")
TUESDAY_NOON = datetime(2026, 1, 13, 12, 0, tzinfo=UTC)
PHARMACY = ServiceType.COMMUNITY_PHARMACY
SUNDAY_EVENING = datetime(2026, 1, 11, 17, 45, tzinfo=UTC)


def referral(**changes: Any) -> Referral:
    with judged_on(TODAY):
        return Referral.model_validate(mutated(changes))


def network_needs(
    *needs: str, flags: tuple[str, ...] = (), practice: str = "H81001"
) -> Referral:
    return referral(
        **{
            "needs": list(needs),
            "red_flags": list(flags),
            "referrer.role": "pharmacist",
            "patient.gp_practice_ods": practice,
            "chosen_pharmacy_ods": None,
        }
    )


def kinds(decision: Any) -> list[str]:
    return [a.service_type.value for a in decision.assignments]


def test_the_seed_areas_have_the_promised_shape() -> None:
    croydon = directory_module.load(SEEDS / "directory" / "croydon.yaml")
    pharmacies = [
        s for s in croydon.services if s.service_type is ServiceType.COMMUNITY_PHARMACY
    ]
    assert len(croydon.networks) == 6
    assert sum(len(n.practices) for n in croydon.networks) == 50
    assert len(pharmacies) == 60
    dorset = directory_module.load(SEEDS / "directory" / "dorset.yaml")
    assert [n.mode for n in dorset.networks] == ["coordinator"]
    assert any(
        "virtual ward" in s.name
        for s in dorset.services
        if s.service_type is ServiceType.MDT_HUDDLE
    )


@pytest.mark.hazard("HAZ-005")
def test_pharmacy_first_goes_to_the_chosen_pharmacy_when_it_is_open() -> None:
    decision = decide(referral(), DIRECTORY, RULES, TUESDAY_NOON)
    assert [(a.agency_id, a.rule_id) for a in decision.assignments] == [
        ("demo-pharmacy", "pharmacy-first")
    ]
    assert "sore_throat" in decision.assignments[0].reason
    assert decision.rule_set_version == RULES.version


@pytest.mark.hazard("HAZ-005")
def test_a_chosen_pharmacy_closing_within_30_minutes_gives_an_open_alternative_in_the_network_and_says_why() -> (
    None
):
    chosen = next(
        s for s in DIRECTORY.services if s.ods_code == "FA007"
    )  # closed on Sundays
    assert not is_open(chosen, SUNDAY_EVENING)
    decision = decide(
        referral(chosen_pharmacy_ods="FA007"), DIRECTORY, RULES, SUNDAY_EVENING
    )
    (assignment,) = decision.assignments
    assert assignment.service_type is ServiceType.COMMUNITY_PHARMACY
    assert assignment.agency_id != "pharmacy-fa007"
    assert assignment.network_id == "croydon-north"
    alternative = next(
        s for s in DIRECTORY.services if s.agency_id == assignment.agency_id
    )
    assert is_open(alternative, SUNDAY_EVENING)
    assert "FA007" in decision.notes_to_referrer[0]
    assert "closed or closing within 30 minutes" in decision.notes_to_referrer[0]


@pytest.mark.hazard("HAZ-005")
def test_closing_within_the_margin_counts_as_closed() -> None:
    pharmacy = next(
        s for s in DIRECTORY.services if s.ods_code == "FA005"
    )  # weekdays 09:00-18:00
    assert is_open(pharmacy, datetime(2026, 1, 13, 17, 20, tzinfo=UTC))
    decision = decide(
        referral(chosen_pharmacy_ods="FA005"),
        DIRECTORY,
        RULES,
        datetime(2026, 1, 13, 17, 40, tzinfo=UTC),
    )
    assert decision.assignments[0].agency_id != "pharmacy-fa005"


def with_status(service_id: str, **status: Any) -> Directory:
    # Built afresh, not model_copy'd: the directory's lookups are cached on first use.
    services = tuple(
        s.model_copy(update=status) if s.service_id == service_id else s
        for s in DIRECTORY.services
    )
    return Directory(
        area=DIRECTORY.area,
        version=DIRECTORY.version,
        organisations=DIRECTORY.organisations,
        networks=DIRECTORY.networks,
        services=services,
    )


@pytest.mark.hazard("HAZ-005")
def test_a_pharmacy_that_said_it_is_not_accepting_is_passed_over_until_its_report_lapses() -> (
    None
):
    lapses = TUESDAY_NOON + timedelta(hours=3)
    closed = with_status(
        "demo-pharmacy", accepting=False, capacity=0, status_expires_at=lapses
    )
    before = decide(referral(), closed, RULES, lapses - timedelta(seconds=1))
    assert before.assignments[0].agency_id != "demo-pharmacy"
    assert "is not accepting" in before.notes_to_referrer[0]
    after = decide(referral(), closed, RULES, lapses)
    assert [a.agency_id for a in after.assignments] == ["demo-pharmacy"], (
        "a forgotten 'not accepting' does not last"
    )
    assert after.notes_to_referrer == ()


def test_a_status_from_the_seed_files_does_not_lapse() -> None:
    suspended = with_status("demo-pharmacy", accepting=False, status_expires_at=None)
    years_later = decide(
        referral(), suspended, RULES, TUESDAY_NOON + timedelta(days=3650)
    )
    assert years_later.assignments[0].agency_id != "demo-pharmacy"


@pytest.mark.hazard("HAZ-018")
def test_a_lapsed_report_leaves_capacity_unknown_and_accepting_as_by_default() -> None:
    reported = with_status(
        "demo-pharmacy", accepting=False, capacity=0, status_expires_at=TUESDAY_NOON
    )
    service = reported.service("demo-pharmacy")
    assert service is not None
    assert (
        accepting_at(service, TUESDAY_NOON - timedelta(microseconds=1)),
        capacity_at(service, TUESDAY_NOON - timedelta(microseconds=1)),
    ) == (False, 0)
    assert (
        accepting_at(service, TUESDAY_NOON),
        capacity_at(service, TUESDAY_NOON),
        status_lapsed(service, TUESDAY_NOON),
    ) == (
        True,
        None,
        True,
    )


def test_a_decline_reroute_also_goes_by_the_status_now() -> None:
    closed = with_status(
        "pharmacy-fa007", accepting=False, status_expires_at=TUESDAY_NOON
    )
    declined = frozenset({"demo-pharmacy"})
    while_closed = reroute(
        referral(),
        closed,
        RULES,
        TUESDAY_NOON - timedelta(hours=1),
        declined,
        ServiceType.COMMUNITY_PHARMACY,
    )
    lapsed = reroute(
        referral(),
        closed,
        RULES,
        TUESDAY_NOON,
        declined,
        ServiceType.COMMUNITY_PHARMACY,
    )
    assert while_closed.assignments[0].agency_id != "pharmacy-fa007"
    assert lapsed.assignments[0].agency_id == "pharmacy-fa007", (
        "the next pharmacy by id, once its report lapsed"
    )


def test_social_services_finding_piles_of_medicines_goes_to_the_icn_pharmacist() -> (
    None
):
    decision = decide(
        network_needs("social_care_assessment", flags=("medicines_stockpile",)),
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
    )
    assert kinds(decision) == ["icn_pharmacist", "social_services", "mdt_huddle"]


def test_a_home_visit_finding_broken_heating_and_loneliness_fans_out_and_goes_to_the_huddle() -> (
    None
):
    decision = decide(
        network_needs("home_heating", "loneliness"), DIRECTORY, RULES, TUESDAY_NOON
    )
    assert kinds(decision) == ["pic", "social_services", "mdt_huddle"]
    assert len({a.agency_id for a in decision.assignments}) == 3
    huddle = decision.assignments[-1]
    assert huddle.rule_id == "complex-case"
    assert "2 agencies" in huddle.reason


def test_a_hospital_discharge_with_unmanaged_medicines_goes_to_the_icn_pharmacist() -> (
    None
):
    decision = decide(
        network_needs("medicines_optimisation"), DIRECTORY, RULES, TUESDAY_NOON
    )
    assert [(a.service_type.value, a.rule_id) for a in decision.assignments] == [
        ("icn_pharmacist", "medicines-red-flags")
    ]


@pytest.mark.hazard("HAZ-021")
def test_safeguarding_alone_puts_a_single_agency_referral_on_the_huddle() -> None:
    decision = decide(
        network_needs("falls", flags=("safeguarding",)), DIRECTORY, RULES, TUESDAY_NOON
    )
    assert kinds(decision) == ["occupational_therapy", "mdt_huddle"]
    assert "safeguarding" in decision.assignments[-1].reason


@pytest.mark.hazard("HAZ-004")
def test_a_dorset_referral_goes_through_the_hub_coordinator_and_its_virtual_ward() -> (
    None
):
    decision = decide(
        network_needs("home_heating", "loneliness", practice="J81002"),
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
    )
    assert [a.agency_id for a in decision.assignments] == [
        "hub-coordinator-purbeck",
        "virtual-ward-purbeck",
    ]
    assert decision.assignments[0].rule_id == "coordinator-mode"


@pytest.mark.hazard("HAZ-004")
def test_an_unknown_practice_is_unroutable_with_the_reason() -> None:
    decision = decide(
        network_needs("falls", practice="Y99999"), DIRECTORY, RULES, TUESDAY_NOON
    )
    assert not decision.routed
    assert (
        decision.unroutable_reason
        == "GP practice Y99999 is not in any network of this directory"
    )


@pytest.mark.hazard("HAZ-004")
def test_a_need_no_rule_covers_is_unroutable() -> None:
    narrow = rules_module.RuleSet(
        rules=tuple(r for r in RULES.rules if r.id == "falls")
    )
    decision = decide(network_needs("mental_health"), DIRECTORY, narrow, TUESDAY_NOON)
    assert (
        decision.unroutable_reason
        == "no rule matches needs mental_health or red flags -"
    )


@pytest.mark.hazard("HAZ-008")
def test_a_decision_names_each_service_and_its_networks_coordinator_from_the_directory_it_used() -> (
    None
):
    decision = decide(
        network_needs("home_heating", "loneliness"), DIRECTORY, RULES, TUESDAY_NOON
    )
    assert set(decision.services) == {a.service_id for a in decision.assignments}
    social = decision.services["social-services-croydon-north"]
    assert social.name == next(
        s.name
        for s in DIRECTORY.services
        if s.service_id == "social-services-croydon-north"
    )
    assert social.coordinator_agency_id == "care-coordinator-croydon-north"
    renamed = with_status(
        "social-services-croydon-north", name="Adult social care (renamed)"
    )
    again = decide(
        network_needs("home_heating", "loneliness"), renamed, RULES, TUESDAY_NOON
    )
    assert (
        again.services["social-services-croydon-north"].name
        == "Adult social care (renamed)"
    ), "whatever directory decides"
    rerouted = reroute(
        referral(),
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
        frozenset({"demo-pharmacy"}),
        ServiceType.COMMUNITY_PHARMACY,
    )
    assert set(rerouted.services) == {rerouted.assignments[0].service_id}
    assert (
        decide(
            network_needs("home_heating", practice="Y99999"),
            DIRECTORY,
            RULES,
            TUESDAY_NOON,
        ).services
        == {}
    )


@pytest.mark.hazard("HAZ-010")
def test_a_decline_reroutes_to_another_provider_never_one_that_declined_then_to_the_coordinator() -> (
    None
):
    ref = referral()
    first = decide(ref, DIRECTORY, RULES, TUESDAY_NOON).assignments[0]
    second = reroute(
        ref,
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
        frozenset({first.service_id}),
        first.service_type,
    ).assignments[0]
    assert second.service_type is ServiceType.COMMUNITY_PHARMACY
    assert second.service_id != first.service_id
    assert second.rule_id == "reroute-after-decline"
    third = reroute(
        ref,
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
        frozenset({first.service_id, second.service_id}),
        first.service_type,
    )
    assert third.assignments[0].service_type is ServiceType.CARE_COORDINATOR
    assert "declined by 2 providers" in third.assignments[0].reason


@pytest.mark.hazard("HAZ-004", "HAZ-014")
def test_a_reroute_asks_the_next_provider_only_for_the_part_that_was_declined() -> None:
    ref = referral(needs=[*referral().needs, "home_heating"])
    pharmacy = next(
        a
        for a in decide(ref, DIRECTORY, RULES, TUESDAY_NOON).assignments
        if a.service_type is PHARMACY
    )
    assert Need.HOME_HEATING not in pharmacy.needs
    again = reroute(
        ref,
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
        frozenset({pharmacy.service_id}),
        PHARMACY,
        pharmacy.needs,
    )
    assert [(a.service_type, a.needs) for a in again.assignments] == [
        (PHARMACY, pharmacy.needs)
    ]
    # Not knowing the declined part (rows from before it was stored) still means the whole referral.
    whole = reroute(
        ref, DIRECTORY, RULES, TUESDAY_NOON, frozenset({pharmacy.service_id}), PHARMACY
    )
    assert [set(a.needs) for a in whole.assignments] == [set(ref.needs)]


def test_the_rule_set_version_follows_its_content() -> None:
    data = yaml.safe_load((SEEDS / "rules" / "default.yaml").read_text())
    data["max_declines"] = 3
    assert rules_module.RuleSet.model_validate(data).version != RULES.version
    assert rules_module.load(SEEDS / "rules" / "default.yaml").version == RULES.version


def test_bad_rules_and_directories_are_refused_clearly() -> None:
    with pytest.raises(ValidationError, match="at least one condition"):
        rules_module.RuleSet.model_validate(
            {
                "rules": [
                    {
                        "id": "x",
                        "description": "d",
                        "when": {},
                        "assign": "pic",
                        "reason": "r",
                    }
                ]
            }
        )
    data = DIRECTORY.model_dump(mode="json")
    data["services"][0]["network_ids"] = ["nowhere"]
    with pytest.raises(
        ValidationError, match="network nowhere is not in the directory"
    ):
        Directory.model_validate(data)


NORTH = sorted(
    s.service_id for s in DIRECTORY.services if "croydon-north" in s.network_ids
)
NEEDS = [n.value for n in Need if n not in {Need.URGENT_MEDICINES_SUPPLY}]


@given(
    needs=st.lists(
        st.sampled_from(
            [
                n
                for n in NEEDS
                if n
                in {
                    "home_heating",
                    "loneliness",
                    "falls",
                    "mobility",
                    "mental_health",
                    "community_nursing",
                    "medicines_optimisation",
                }
            ]
        ),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    flags=st.lists(
        st.sampled_from([f.value for f in RedFlag]), max_size=2, unique=True
    ),
    declined=st.sets(st.sampled_from(NORTH), max_size=1),
)
@pytest.mark.hazard("HAZ-004")
def test_decisions_are_deterministic_explained_and_never_to_a_decliner(
    needs: list[str], flags: list[str], declined: set[str]
) -> None:
    ref = network_needs(*needs, flags=tuple(flags))
    one = decide(ref, DIRECTORY, RULES, TUESDAY_NOON, frozenset(declined))
    assert one == decide(ref, DIRECTORY, RULES, TUESDAY_NOON, frozenset(declined))
    assert all(a.service_id not in declined for a in one.assignments)
    assert all(a.reason and a.rule_id for a in one.assignments)
    assert len({a.agency_id for a in one.assignments}) == len(one.assignments)
