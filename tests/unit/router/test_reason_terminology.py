"""Routing reasons in each area's words: Croydon's network and MDT huddle, Dorset's hub, virtual ward and coordinator."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.vocabulary import ServiceType
from services.router.domain import rules as rules_module
from services.router.domain.decide import decide, reroute
from services.router.domain.directory import Directory
from signpost import terminology
from tests.unit.router.test_decide import (
    DIRECTORY,
    RULES,
    TUESDAY_NOON,
    network_needs,
    referral,
)

TERMS = terminology.load(Path(__file__).parents[3] / "deploy" / "areas")


def reasons(decision: object) -> dict[str, str]:
    return {a.service_type.value: a.reason for a in decision.assignments}  # type: ignore[attr-defined]


def test_a_croydon_complex_case_is_for_the_networks_mdt_huddle() -> None:
    decision = decide(
        network_needs("home_heating", "loneliness"),
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
        terms=TERMS,
    )
    assert (
        reasons(decision)["mdt_huddle"]
        == "complex case (2 agencies): for the MDT huddle to discuss"
    )


@pytest.mark.hazard("HAZ-004")
def test_a_dorset_complex_case_is_for_the_hubs_virtual_ward_through_its_coordinator() -> (
    None
):
    decision = decide(
        network_needs("home_heating", "loneliness", practice="J81002"),
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
        terms=TERMS,
    )
    assert reasons(decision) == {
        "care_coordinator": "the health and social care coordinator:"
        " every request in this hub passes through its health and social care coordinator",
        "mdt_huddle": "complex case (2 agencies): for the virtual ward to discuss",
    }
    assert "huddle" not in " ".join(reasons(decision).values())


def test_a_medicines_review_names_the_networks_icn_pharmacist_in_croydon() -> None:
    flags = ("medicines_stockpile",)
    croydon = decide(
        network_needs("medicines_optimisation", flags=flags),
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
        terms=TERMS,
    )
    assert reasons(croydon)["icn_pharmacist"] == (
        "medicines concerns (medicines_optimisation): the network's ICN pharmacist for a medicines review"
    )


def test_without_area_files_the_default_words_apply() -> None:
    decision = decide(
        network_needs("home_heating", "loneliness", practice="J81002"),
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
    )
    assert reasons(decision) == {
        "care_coordinator": "the care coordinator: this network routes every referral through its care coordinator",
        "mdt_huddle": "complex case (2 agencies): for the MDT huddle to discuss",
    }


def test_a_reroute_and_the_coordinator_after_declines_speak_the_areas_words() -> None:
    ref = referral()
    first = decide(ref, DIRECTORY, RULES, TUESDAY_NOON, terms=TERMS).assignments[0]
    second = reroute(
        ref,
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
        frozenset({first.service_id}),
        first.service_type,
        terms=TERMS,
    )
    assert (
        second.assignments[0].reason
        == "rerouted after a decline: next community pharmacy in network croydon-north"
    )
    both = frozenset({first.service_id, second.assignments[0].service_id})
    third = reroute(
        ref, DIRECTORY, RULES, TUESDAY_NOON, both, first.service_type, terms=TERMS
    )
    assert (
        third.assignments[0].reason
        == "the network facilitator: declined by 2 providers"
    )


def test_a_dorset_decline_with_nobody_else_goes_to_the_hubs_coordinator_in_dorsets_words() -> (
    None
):
    ref = network_needs("falls", practice="J81001")
    rerouted = reroute(
        ref,
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
        frozenset({"virtual-ward-purbeck"}),
        ServiceType.MDT_HUDDLE,
        terms=TERMS,
    )
    assert rerouted.assignments[0].reason == (
        "the health and social care coordinator: no other virtual ward in hub dorset-purbeck-hub"
    )


def test_no_coordinator_and_a_substituted_pharmacy_are_said_in_the_areas_words() -> (
    None
):
    dorset_only = Directory.model_validate(
        {
            **DIRECTORY.model_dump(),
            "services": [
                s.model_dump()
                for s in DIRECTORY.services
                if s.service_type is not ServiceType.CARE_COORDINATOR
            ],
        }
    )
    decision = decide(
        network_needs("falls", practice="J81001"),
        dorset_only,
        RULES,
        TUESDAY_NOON,
        terms=TERMS,
    )
    assert decision.unroutable_reason == (
        "every request in this hub passes through its health and social care coordinator,"
        " and hub dorset-purbeck-hub has no health and social care coordinator to take it"
    )
    unchosen = decide(
        referral(chosen_pharmacy_ods=None), DIRECTORY, RULES, TUESDAY_NOON, terms=TERMS
    )
    assert unchosen.notes_to_referrer[0].startswith(
        "chosen pharmacy no pharmacy was not chosen; sent to "
    )
    assert unchosen.notes_to_referrer[0].endswith(") in the same network")


def test_an_unknown_practice_has_no_area_so_the_default_words() -> None:
    decision = decide(
        network_needs("falls", practice="Y99999"),
        DIRECTORY,
        RULES,
        TUESDAY_NOON,
        terms=TERMS,
    )
    assert (
        decision.unroutable_reason
        == "GP practice Y99999 is not in any network of this directory"
    )


def test_a_rule_reason_with_a_placeholder_the_router_does_not_fill_is_refused_at_load() -> (
    None
):
    raw = RULES.model_dump(mode="json")
    raw["rules"][0]["reason"] = "Pharmacy First ({neds}) at the {hub}"
    with pytest.raises(ValidationError) as refused:
        rules_module.RuleSet.model_validate(raw)
    assert "rule pharmacy-first: reason: unknown placeholder {hub}, {neds}" in str(
        refused.value
    )
    assert (
        "(known: {coordinator}, {flags}, {huddle}, {needs}, {network}, {why})"
        in str(refused.value)
    )
