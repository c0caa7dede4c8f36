"""Weekly outcome reports over HTTP: JSON for the operations page's chart, CSV for commissioners.

The figures are folded by the pure ``domain.reports`` from the audit log's
own events. Each assignment counts in the ISO week (UK time) its referral was
submitted, with whatever outcomes it has now. Reading a report is recorded
as an access, like every other audit read, though it names no patient.

``?area=dorset`` reports one area (``deploy/areas/``): only the assignments of
services in its networks (or hubs), with chart titles and service labels in
its words ("Assignments by hub", "virtual ward"). Without it, every area in
the default words.
"""

import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from services.audit.domain import reports
from services.audit.domain.reports import BREAKDOWNS, IsoWeek, WeeklyReport
from services.audit.store.reports import events_of_referrals_submitted
from signpost import terminology
from signpost.access import record_access
from signpost.auth import Authenticated
from signpost.database import Conn
from signpost.http import problem
from signpost.service import Runtime

router = APIRouter(prefix="/v1/reports", tags=["reports"])
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
EVENTS = (reports.SUBMITTED, reports.ROUTED, reports.OUTCOME, reports.ESCALATED)
Week = Annotated[
    str | None,
    Query(description="ISO week, e.g. 2026-W48 (default: this week)", max_length=8),
]
Weeks = Annotated[
    int, Query(ge=1, le=26, description="how many weeks, ending with `week`")
]
Area = Annotated[
    str | None,
    Query(
        description="one area's networks, in its words (an area file's `area`); default: all",
        max_length=63,
    ),
]


def parse_week(text: str | None, now: datetime | None = None) -> IsoWeek:
    if text is None:
        return IsoWeek.of(now or datetime.now(UTC))
    match = _WEEK.match(text)
    if match is None:
        raise ValueError(f"week {text!r} is not an ISO week like 2026-W48")
    try:
        return IsoWeek(int(match[1]), int(match[2]))
    except ValueError:
        raise ValueError(
            f"week {text!r} does not exist: {match[1]} has no week {int(match[2])}"
        ) from None


def weeks_ending(last: IsoWeek, count: int) -> list[IsoWeek]:
    weeks = [last]
    while len(weeks) < count:
        weeks.insert(0, IsoWeek.of(weeks[0].start - timedelta(days=1)))
    return weeks


async def _reports(
    conn: Conn, weeks: list[IsoWeek], networks: frozenset[str] | None
) -> list[WeeklyReport]:
    rows = await events_of_referrals_submitted(
        conn, EVENTS, reports.SUBMITTED, weeks[0].start, weeks[-1].end
    )
    facts = reports.build_facts(rows)
    if networks is not None:
        facts = reports.in_networks(facts, networks)
    return [reports.weekly_report(facts, week) for week in weeks]


async def _read(
    request: Request,
    principal: Any,
    week: str | None,
    count: int,
    what: str,
    area: str | None,
) -> list[WeeklyReport] | JSONResponse:
    if principal.role != "operations":
        return problem(403, "Forbidden", "outcome reports are for operations staff")
    terms = terminology.configured()
    if area is not None and terms.for_area(area) is None:
        return problem(
            422,
            "Unprocessable Content",
            f"no area {area!r} (areas: {', '.join(sorted(terms.areas)) or 'none'})",
        )
    try:
        weeks = weeks_ending(parse_week(week), count)
    except ValueError as exc:
        return problem(422, "Unprocessable Content", str(exc))
    runtime: Runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn, conn.transaction():
        found = await _reports(
            conn, weeks, terms.networks_of(area) if area is not None else None
        )
        await record_access(
            conn,
            producer="audit",
            principal=principal,
            function=what,
            correlation_id=request.state.correlation_id,
            granted=True,
            detail=f"{weeks[0].label}..{weeks[-1].label}"
            + (f" {area}" if area else ""),
        )
    return found


def as_json(report: WeeklyReport) -> dict[str, Any]:
    shown = asdict(report)
    shown["week"] = report.week.label
    return shown


@router.get("/weekly")
async def weekly(
    request: Request,
    principal: Authenticated,
    week: Week = None,
    weeks: Weeks = 1,
    area: Area = None,
) -> JSONResponse:
    """Referrals by service, network and outcome; acceptance rate; median hours to contact and completion; escalations."""
    found = await _read(request, principal, week, weeks, "read weekly report", area)
    if isinstance(found, JSONResponse):
        return found
    terms = terminology.configured()
    words = terms.for_area(area) if area is not None else None
    charts = {
        by: reports.chart_series(found, by, words or terms.default).as_dict()
        for by in BREAKDOWNS
    }
    return JSONResponse(
        {
            "weeks": [as_json(r) for r in found],
            "charts": charts,
            "area": area,
            "areas": sorted(terms.areas),
        }
    )


@router.get("/weekly.csv", response_class=Response)
async def weekly_csv(
    request: Request,
    principal: Authenticated,
    week: Week = None,
    weeks: Weeks = 1,
    area: Area = None,
) -> Response:
    """The same figures as RFC 4180 CSV, one row per figure (codes and ids, not words: it is for spreadsheets)."""
    found = await _read(request, principal, week, weeks, "export weekly report", area)
    if isinstance(found, JSONResponse):
        return found
    name = (
        f"signpost-weekly-{f'{area}-' if area else ''}{found[0].week.label}"
        + (f"-to-{found[-1].week.label}" if len(found) > 1 else "")
        + ".csv"
    )
    return Response(
        reports.to_csv(found),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
