"""Weekly outcome reports from the audit log: JSON for the chart, CSV for commissioners, operations staff only."""

import csv
import io
from datetime import UTC, datetime
from typing import Any

import httpx

from services.audit.domain.reports import IsoWeek
from tests.e2e.test_routing_scenarios import professional_referral, routed
from tests.support.running_stack import bearer, eventually
from toolbox.demo_feedback import worked_to_completion
from toolbox.stack import Stack


def report(stack: Stack, client: str = "operations", **params: Any) -> httpx.Response:
    return httpx.get(
        f"{stack.url('audit')}/v1/reports/weekly",
        params=params,
        headers=bearer(client),
        timeout=10,
    )


def test_the_week_counts_assignments_by_service_network_and_outcome(
    signpost_stack: Stack,
) -> None:
    completed = worked_to_completion(
        signpost_stack.url("intake"),
        signpost_stack.url("notifier"),
        signpost_stack.kafka_bootstrap,
    )
    assert completed is not None
    home_visit = routed(
        signpost_stack, professional_referral(["home_heating", "loneliness"])
    )
    assert len(home_visit["assignments"]) == 3

    def this_week() -> dict[str, Any] | None:
        week: dict[str, Any] = report(signpost_stack).json()["weeks"][-1]
        return (
            week
            if week["assignments"] == 4 and week["by_outcome"].get("completed") == 1
            else None
        )

    week = eventually(
        this_week, what="the report to count both referrals and the completion"
    )
    assert week["week"] == IsoWeek.of(datetime.now(UTC)).label
    assert week["referrals"] == 2
    assert week["by_service_type"] == {
        "community_pharmacy": 1,
        "social_services": 1,
        "pic": 1,
        "mdt_huddle": 1,
    }
    assert week["by_network"] == {"croydon-north": 4}
    assert week["by_outcome"] == {"completed": 1, "open": 3}
    assert week["acceptance_rate"] == 1.0
    assert week["median_hours_to_contact"] is not None
    assert (
        0 <= week["median_hours_to_contact"] <= week["median_hours_to_completion"] < 1
    )
    assert week["escalations"] == 0


def test_the_csv_carries_the_same_figures_and_the_chart_one_bar_per_service(
    signpost_stack: Stack,
) -> None:
    body = report(signpost_stack, weeks=2).json()
    assert len(body["weeks"]) == 2
    chart = body["charts"]["service_type"]
    assert chart["labels"] == [w["week"] for w in body["weeks"]]
    assert {s["name"]: s["values"][-1] for s in chart["series"]} == body["weeks"][-1][
        "by_service_type"
    ]

    exported = httpx.get(
        f"{signpost_stack.url('audit')}/v1/reports/weekly.csv",
        headers=bearer("operations"),
        timeout=10,
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert (
        f'filename="signpost-weekly-{body["weeks"][-1]["week"]}.csv"'
        in exported.headers["content-disposition"]
    )
    rows = list(csv.reader(io.StringIO(exported.text)))
    by_service = {r[3]: int(r[4]) for r in rows[1:] if r[2] == "service_type"}
    assert by_service == body["weeks"][-1]["by_service_type"]


def test_reports_are_for_operations_staff_and_a_bad_week_is_named(
    signpost_stack: Stack,
) -> None:
    assert report(signpost_stack, client="gp-h81001").status_code == 403
    refused = report(signpost_stack, week="2026-W60")
    assert refused.status_code == 422
    assert (
        refused.json()["detail"]
        == "week '2026-W60' does not exist: 2026 has no week 60"
    )
    vague = report(signpost_stack, week="W48-2026")
    assert (vague.status_code, vague.json()["detail"]) == (
        422,
        "week 'W48-2026' is not an ISO week like 2026-W48",
    )
