"""Weekly outcome reports from the audit log: JSON for the chart, CSV for commissioners, operations staff only.

Every report asked for names its weeks: those the test's own referrals were
submitted in, never "this week", so a run across Monday 00:00 London time
asks about the weeks its data is in.
"""

import csv
import io
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx

from services.audit.domain.reports import IsoWeek
from tests.e2e.test_routing_scenarios import professional_referral, routed
from tests.support.running_stack import audit_trail, bearer, eventually
from toolbox.demo_feedback import worked_to_completion
from toolbox.stack import Stack


def report(stack: Stack, client: str = "operations", **params: Any) -> httpx.Response:
    return httpx.get(
        f"{stack.url('audit')}/v1/reports/weekly",
        params=params,
        headers=bearer(client),
        timeout=10,
    )


def week_of(stack: Stack, referral_id: str) -> IsoWeek:
    """The ISO week a report counts the referral in: that of its ``referral.submitted`` in audit's log."""

    def submitted() -> str | None:
        return next(
            (
                e["occurred_at"]
                for e in audit_trail(stack, referral_id)
                if e["event_type"] == "referral.submitted"
            ),
            None,
        )

    occurred_at: str = eventually(
        submitted, what=f"audit to record {referral_id} as submitted"
    )
    return IsoWeek.of(datetime.fromisoformat(occurred_at))


def spanning(*weeks: IsoWeek) -> dict[str, Any]:
    """The report's parameters for every week from the earliest of ``weeks`` to the latest."""
    first, last = min(weeks), max(weeks)
    count = 1 + (last.start.date() - first.start.date()).days // 7
    return {"week": last.label, "weeks": count}


def summed(weeks: list[dict[str, Any]], figure: str) -> Counter[str]:
    """A breakdown (``by_network`` ...) over several weeks: the data of one test lies in two across Monday 00:00."""
    total: Counter[str] = Counter()
    for week in weeks:
        total.update(week[figure])
    return total


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
    completed_in = week_of(signpost_stack, completed)
    asked = spanning(completed_in, week_of(signpost_stack, home_visit["referral_id"]))

    def counted() -> list[dict[str, Any]] | None:
        weeks: list[dict[str, Any]] = report(signpost_stack, **asked).json()["weeks"]
        done = summed(weeks, "by_outcome")["completed"]
        return weeks if sum(w["assignments"] for w in weeks) == 4 and done else None

    weeks = eventually(
        counted, what="the report to count both referrals and the completion"
    )
    assert weeks[-1]["week"] == asked["week"]
    assert sum(w["referrals"] for w in weeks) == 2
    assert summed(weeks, "by_service_type") == {
        "community_pharmacy": 1,
        "social_services": 1,
        "pic": 1,
        "mdt_huddle": 1,
    }
    assert summed(weeks, "by_network") == {"croydon-north": 4}
    assert summed(weeks, "by_outcome") == {"completed": 1, "open": 3}
    # The completed referral's week holds the only answer, the contact and the completion.
    (week,) = (w for w in weeks if w["week"] == completed_in.label)
    assert week["acceptance_rate"] == 1.0
    assert week["median_hours_to_contact"] is not None
    assert (
        0 <= week["median_hours_to_contact"] <= week["median_hours_to_completion"] < 1
    )
    assert sum(w["escalations"] for w in weeks) == 0


def test_the_csv_carries_the_same_figures_and_the_chart_one_bar_per_service(
    signpost_stack: Stack,
) -> None:
    # The last week named for both reads, so a run across Monday 00:00 compares the same week.
    asked: dict[str, Any] = {"week": IsoWeek.of(datetime.now(UTC)).label, "weeks": 2}
    body = report(signpost_stack, **asked).json()
    assert len(body["weeks"]) == 2
    chart = body["charts"]["service_type"]
    assert chart["labels"] == [w["week"] for w in body["weeks"]]
    assert {s["name"]: s["values"][-1] for s in chart["series"]} == body["weeks"][-1][
        "by_service_type"
    ]

    exported = httpx.get(
        f"{signpost_stack.url('audit')}/v1/reports/weekly.csv",
        params={"week": asked["week"]},
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
