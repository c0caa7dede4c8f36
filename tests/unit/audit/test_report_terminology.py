"""The weekly report for one area: only its networks' assignments, titled and labelled in its words."""

from pathlib import Path

from services.audit.domain.reports import chart_series, in_networks, weekly_report
from signpost import terminology
from tests.unit.audit.test_reports import MONDAY, W10, facts

TERMS = terminology.load(Path(__file__).parents[3] / "deploy" / "areas")


def both_areas() -> list:  # type: ignore[type-arg]
    return [
        facts("a1", "r1", "dorset-purbeck-hub", "care_coordinator", MONDAY),
        facts("a2", "r1", "dorset-purbeck-hub", "mdt_huddle", MONDAY),
        facts("a3", "r2", "croydon-north", "mdt_huddle", MONDAY),
        facts("a4", "r2", "croydon-north", "pic", MONDAY),
    ]


def test_dorsets_report_counts_only_its_hub_and_reads_hub_virtual_ward_and_coordinator() -> (
    None
):
    report = weekly_report(in_networks(both_areas(), TERMS.networks_of("dorset")), W10)
    assert report.by_network == {"dorset-purbeck-hub": 2}
    dorset = TERMS.for_area("dorset")
    assert dorset is not None
    by_network, by_service = (
        chart_series([report], "network", dorset),
        chart_series([report], "service_type", dorset),
    )
    assert by_network.title == "Assignments by hub"
    assert {s.name: s.label for s in by_service.series} == {
        "care_coordinator": "health and social care coordinator",
        "mdt_huddle": "virtual ward",
    }


def test_croydons_report_reads_network_huddle_and_facilitator() -> None:
    report = weekly_report(in_networks(both_areas(), TERMS.networks_of("croydon")), W10)
    croydon = TERMS.for_area("croydon")
    assert croydon is not None
    assert chart_series([report], "network", croydon).title == "Assignments by network"
    labels = {
        s.name: s.label for s in chart_series([report], "service_type", croydon).series
    }
    assert labels == {
        "mdt_huddle": "MDT huddle",
        "pic": "personal independence coordinator",
    }


def test_the_whole_report_reads_in_the_default_words_and_an_unknown_service_type_as_its_code() -> (
    None
):
    report = weekly_report(
        [*both_areas(), facts("a5", "r3", None, "time_machine", MONDAY)], W10
    )
    chart = chart_series([report], "service_type")
    assert chart.title == "Assignments by service type"
    assert {s.name: s.label for s in chart.series}[
        "care_coordinator"
    ] == "care coordinator"
    assert {s.name: s.label for s in chart.series}["time_machine"] == "time_machine"
    assert chart_series([report], "outcome").as_dict()["series"][0]["label"] == "open"
