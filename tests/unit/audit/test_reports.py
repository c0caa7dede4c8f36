"""Weekly outcome figures: exact counts, rates and medians, a stable CSV, chart series, and facts folded from audit events."""

import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.audit.domain.reports import (
    CSV_COLUMNS,
    UK,
    IsoWeek,
    ReferralFacts,
    WeeklyReport,
    build_facts,
    chart_series,
    to_csv,
    weekly_report,
)

W10 = IsoWeek(2025, 10)  # Monday 3 March 2025, GMT so UTC
MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def facts(
    assignment: str,
    referral: str,
    network: str | None,
    service: str,
    submitted: datetime,
    **outcome: Any,
) -> ReferralFacts:
    return ReferralFacts(
        referral,
        assignment,
        network,
        service,
        f"agency-{service}",
        submitted,
        **outcome,
    )


def two_networks() -> list[ReferralFacts]:
    tue, wed, thu = MONDAY + 24 * H, MONDAY + 48 * H, MONDAY + 72 * H
    return [
        # North: a referral to two services, one completing and one declining; another contacted and escalated.
        facts(
            "a1",
            "r1",
            "north",
            "icn_pharmacist",
            MONDAY,
            accepted_at=MONDAY + H,
            contacted_at=MONDAY + 2 * H,
            completed_at=MONDAY + 10 * H,
            completion="advice_given",
            outcome="completed",
        ),
        facts(
            "a2",
            "r1",
            "north",
            "social_services",
            MONDAY,
            declined=True,
            outcome="declined",
        ),
        facts(
            "a3",
            "r2",
            "north",
            "pic",
            tue,
            accepted_at=tue + H,
            contacted_at=tue + 4 * H,
            outcome="patient_contacted",
            escalated=True,
        ),
        # South: one completed the next day, one never answered and escalated.
        facts(
            "a4",
            "r3",
            "south",
            "icn_pharmacist",
            wed,
            accepted_at=wed + H,
            contacted_at=wed + 6 * H,
            completed_at=wed + 30 * H,
            completion="onward_referral_or_signposting",
            outcome="completed",
        ),
        facts("a5", "r4", "south", "community_nursing", thu, escalated=True),
        # Either side of the week: the Sunday before, and the Monday after at midnight.
        facts(
            "a6",
            "r5",
            "south",
            "pic",
            MONDAY - 10 * H,
            accepted_at=MONDAY,
            outcome="accepted",
        ),
        facts(
            "a7",
            "r6",
            "north",
            "pic",
            datetime(2025, 3, 10, tzinfo=UTC),
            declined=True,
            outcome="declined",
        ),
    ]


# --- weeks ----------------------------------------------------------------------------------------------------------


def test_a_week_runs_from_monday_midnight_uk_time() -> None:
    assert W10.start == datetime(2025, 3, 3, tzinfo=UTC)
    assert W10.end == datetime(2025, 3, 10, tzinfo=UTC)
    assert W10.label == "2025-W10"


def test_a_week_follows_the_clocks_going_forward() -> None:
    week = IsoWeek(2025, 13)  # clocks go forward on Sunday 30 March
    assert week.start == datetime(2025, 3, 24, 0, 0, tzinfo=UTC)
    assert week.end == datetime(2025, 3, 30, 23, 0, tzinfo=UTC)
    assert week.end.astimezone(UTC) - week.start.astimezone(UTC) == timedelta(hours=167)


def test_hours_are_elapsed_time_across_the_clock_change() -> None:
    submitted = datetime(2025, 3, 29, 23, 0, tzinfo=UK)  # GMT
    contacted = datetime(
        2025, 3, 30, 3, 0, tzinfo=UK
    )  # BST: four hours on the clock, three elapsed
    report = weekly_report(
        [facts("a1", "r1", "north", "pic", submitted, contacted_at=contacted)],
        IsoWeek(2025, 13),
    )
    assert report.median_hours_to_contact == 3.0


def test_sunday_night_utc_in_summer_is_already_next_week_in_the_uk() -> None:
    sunday_late = datetime(2025, 6, 8, 23, 30, tzinfo=UTC)  # Monday 00:30 BST
    assert IsoWeek.of(sunday_late) == IsoWeek(2025, 24)
    assert sunday_late in IsoWeek(2025, 24)
    assert sunday_late not in IsoWeek(2025, 23)


def test_a_week_the_year_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="week"):
        IsoWeek(2025, 53)


# --- figures --------------------------------------------------------------------------------------------------------


def test_figures_across_two_networks_are_exact() -> None:
    report = weekly_report(two_networks(), W10)
    assert (report.referrals, report.assignments) == (4, 5)
    assert report.by_service_type == {
        "community_nursing": 1,
        "icn_pharmacist": 2,
        "pic": 1,
        "social_services": 1,
    }
    assert report.by_network == {"north": 3, "south": 2}
    assert report.by_outcome == {
        "completed": 2,
        "declined": 1,
        "open": 1,
        "patient_contacted": 1,
    }
    assert (report.accepted, report.declined) == (3, 1)
    assert report.acceptance_rate == 0.75
    assert report.median_hours_to_contact == 4.0  # 2, 4 and 6 hours
    assert report.median_hours_to_completion == 20.0  # 10 and 30 hours
    assert report.escalations == 2


def test_a_median_over_an_even_count_is_the_mean_of_the_middle_two() -> None:
    rows = [
        facts(f"a{n}", f"r{n}", "north", "pic", MONDAY, contacted_at=MONDAY + hours * H)
        for n, hours in enumerate([1, 2, 5, 9])
    ]
    assert weekly_report(rows, W10).median_hours_to_contact == 3.5


def test_an_assignment_without_a_network_is_counted_under_no_network() -> None:
    report = weekly_report([facts("a1", "r1", None, "community_pharmacy", MONDAY)], W10)
    assert report.by_network == {"(no network)": 1}


def test_an_empty_week_gives_zeros_and_no_medians() -> None:
    report = weekly_report(two_networks(), IsoWeek(2025, 20))
    assert (
        report.referrals,
        report.assignments,
        report.accepted,
        report.declined,
        report.escalations,
    ) == (0, 0, 0, 0, 0)
    assert report.by_service_type == report.by_network == report.by_outcome == {}
    assert report.acceptance_rate is None
    assert report.median_hours_to_contact is None
    assert report.median_hours_to_completion is None


# --- CSV ------------------------------------------------------------------------------------------------------------


def test_the_csv_header_is_stable() -> None:
    assert CSV_COLUMNS == ("week", "week_start", "dimension", "key", "value")
    assert (
        to_csv(weekly_report([], W10)).split("\r\n")[0]
        == "week,week_start,dimension,key,value"
    )


def test_the_csv_lists_every_figure_in_a_fixed_order() -> None:
    lines = to_csv(weekly_report(two_networks(), W10)).split("\r\n")
    assert lines[1:] == [
        "2025-W10,2025-03-03,total,referrals,4",
        "2025-W10,2025-03-03,total,assignments,5",
        "2025-W10,2025-03-03,total,escalations,2",
        "2025-W10,2025-03-03,service_type,community_nursing,1",
        "2025-W10,2025-03-03,service_type,icn_pharmacist,2",
        "2025-W10,2025-03-03,service_type,pic,1",
        "2025-W10,2025-03-03,service_type,social_services,1",
        "2025-W10,2025-03-03,network,north,3",
        "2025-W10,2025-03-03,network,south,2",
        "2025-W10,2025-03-03,outcome,completed,2",
        "2025-W10,2025-03-03,outcome,declined,1",
        "2025-W10,2025-03-03,outcome,open,1",
        "2025-W10,2025-03-03,outcome,patient_contacted,1",
        "2025-W10,2025-03-03,acceptance,accepted,3",
        "2025-W10,2025-03-03,acceptance,declined,1",
        "2025-W10,2025-03-03,acceptance,rate,0.7500",
        "2025-W10,2025-03-03,median_hours,to_contact,4.00",
        "2025-W10,2025-03-03,median_hours,to_completion,20.00",
        "",
    ]


def test_an_empty_week_in_csv_has_zeros_and_empty_medians() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(weekly_report([], W10)))))
    values = {(r["dimension"], r["key"]): r["value"] for r in rows}
    assert values == {
        ("total", "referrals"): "0",
        ("total", "assignments"): "0",
        ("total", "escalations"): "0",
        ("acceptance", "accepted"): "0",
        ("acceptance", "declined"): "0",
        ("acceptance", "rate"): "",
        ("median_hours", "to_contact"): "",
        ("median_hours", "to_completion"): "",
    }


def test_several_weeks_share_one_header() -> None:
    weeks = [weekly_report(two_networks(), IsoWeek(2025, week)) for week in (9, 10, 11)]
    rows = list(csv.DictReader(io.StringIO(to_csv(weeks))))
    assert to_csv(weeks).count("week,week_start") == 1
    assert [r["value"] for r in rows if r["key"] == "referrals"] == ["1", "4", "1"]


def test_a_key_that_looks_like_a_formula_is_kept_as_text() -> None:
    report = weekly_report([facts("a1", "r1", "=HYPERLINK(1)", "pic", MONDAY)], W10)
    assert "network,'=HYPERLINK(1),1" in to_csv(report)


# --- chart ----------------------------------------------------------------------------------------------------------


def test_chart_series_are_zero_filled_across_weeks() -> None:
    reports = [
        weekly_report(two_networks(), IsoWeek(2025, week)) for week in (9, 10, 11)
    ]
    chart = chart_series(reports, by="network")
    assert chart.labels == ("2025-W09", "2025-W10", "2025-W11")
    assert [(s.name, s.values) for s in chart.series] == [
        ("north", (0, 3, 1)),
        ("south", (1, 2, 0)),
    ]
    assert (chart.max_value, chart.max_total) == (3, 5)
    assert chart.title == "Assignments by network"


def test_chart_series_default_to_service_type_and_serialise_as_json() -> None:
    chart = chart_series([weekly_report(two_networks(), W10)])
    assert [s.name for s in chart.series] == [
        "community_nursing",
        "icn_pharmacist",
        "pic",
        "social_services",
    ]
    assert json.loads(json.dumps(chart.as_dict()))["series"][1] == {
        "name": "icn_pharmacist",
        "label": "ICN pharmacist",
        "values": [2],
    }


def test_a_chart_of_no_weeks_is_empty() -> None:
    chart = chart_series([], by="outcome")
    assert (chart.labels, chart.series, chart.max_value, chart.max_total) == (
        (),
        (),
        0,
        0,
    )


# --- facts from audit events ----------------------------------------------------------------------------------------


def row(event_type: str, at: datetime, **payload: Any) -> dict[str, Any]:
    """An audit row as the audit API shapes it: the event's own fields in the payload."""
    stamp = at.isoformat().replace("+00:00", "Z")
    return {
        "seq": 0,
        "event_type": event_type,
        "occurred_at": stamp,
        "payload": {"type": event_type, "occurred_at": stamp, **payload},
    }


def audit_events() -> list[dict[str, Any]]:
    routed_at = MONDAY + timedelta(minutes=1)
    assignments = [
        {
            "assignment_id": "a1",
            "service_type": "icn_pharmacist",
            "agency_id": "north-pharmacist",
            "network_id": "north",
        },
        {
            "assignment_id": "a2",
            "service_type": "social_services",
            "agency_id": "croydon-social",
            "network_id": "north",
        },
    ]
    return [
        row("referral.submitted", MONDAY, referral_id="r1"),
        row("referral.routed", routed_at, referral_id="r1", assignments=assignments),
        row("assignment.delivered", routed_at, referral_id="r1", assignment_id="a1"),
        row(
            "assignment.outcome",
            MONDAY + H,
            referral_id="r1",
            assignment_id="a1",
            outcome="accepted",
        ),
        row(
            "assignment.outcome",
            MONDAY + 2 * H,
            referral_id="r1",
            assignment_id="a1",
            outcome="patient_contacted",
        ),
        row(
            "assignment.outcome",
            MONDAY + 10 * H,
            referral_id="r1",
            assignment_id="a1",
            outcome="completed",
            completion="advice_given",
        ),
        row(
            "assignment.outcome",
            MONDAY + 3 * H,
            referral_id="r1",
            assignment_id="a2",
            outcome="declined",
        ),
        row("referral.escalated", MONDAY + 5 * H, referral_id="r1", assignment_id="a2"),
    ]


def test_audit_events_fold_into_one_fact_per_assignment() -> None:
    assert build_facts(audit_events()) == [
        ReferralFacts(
            referral_id="r1",
            assignment_id="a1",
            network_id="north",
            service_type="icn_pharmacist",
            agency_id="north-pharmacist",
            submitted_at=MONDAY,
            accepted_at=MONDAY + H,
            contacted_at=MONDAY + 2 * H,
            completed_at=MONDAY + 10 * H,
            completion="advice_given",
            outcome="completed",
        ),
        ReferralFacts(
            referral_id="r1",
            assignment_id="a2",
            network_id="north",
            service_type="social_services",
            agency_id="croydon-social",
            submitted_at=MONDAY,
            declined=True,
            outcome="declined",
            escalated=True,
        ),
    ]


def test_facts_do_not_depend_on_the_order_audit_recorded_the_events() -> None:
    shuffled = audit_events()
    random.Random(7).shuffle(shuffled)
    assert build_facts(shuffled) == build_facts(audit_events())


def test_payloads_as_json_text_and_bare_events_fold_the_same() -> None:
    as_text = [
        {**event, "payload": json.dumps(event["payload"])} for event in audit_events()
    ]
    bare = [event["payload"] for event in audit_events()]
    assert build_facts(as_text) == build_facts(bare) == build_facts(audit_events())


def test_the_latest_outcome_is_the_one_reported_last_not_recorded_last() -> None:
    events = audit_events()
    completed = events.pop(5)
    [a1, _] = build_facts([*events[:3], completed, *events[3:]])
    assert a1.outcome == "completed"


def test_an_assignment_never_routed_in_the_events_is_left_out() -> None:
    events = [e for e in audit_events() if e["event_type"] != "referral.routed"]
    assert build_facts(events) == []


def test_without_its_submitted_event_a_referral_counts_from_when_it_was_routed() -> (
    None
):
    events = [e for e in audit_events() if e["event_type"] != "referral.submitted"]
    assert {f.submitted_at for f in build_facts(events)} == {
        MONDAY + timedelta(minutes=1)
    }


def test_folded_facts_give_the_weekly_figures() -> None:
    report: WeeklyReport = weekly_report(build_facts(audit_events()), W10)
    assert (report.referrals, report.assignments, report.escalations) == (1, 2, 1)
    assert report.acceptance_rate == 0.5
    assert (report.median_hours_to_contact, report.median_hours_to_completion) == (
        2.0,
        10.0,
    )
    assert report.by_outcome == {"completed": 1, "declined": 1}
