"""Weekly outcome figures for commissioners and operations, folded from the audit log's own events.

A referral sent to two services is two assignments, and the figures are
about assignments: each says whether that service took the referral on,
reached the patient and finished. A week is an ISO week in UK local time
(Monday 00:00 Europe/London), and an assignment counts in the week its
referral was submitted, whenever its outcomes came in: a report re-run later
sees the same referrals with more of their outcomes.
"""

import csv
import io
import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from math import inf
from statistics import median
from typing import Any, Literal
from zoneinfo import ZoneInfo

from schemas.vocabulary import ServiceType
from signpost.terminology import DEFAULT, Vocabulary

UK = ZoneInfo("Europe/London")
OPEN = "open"
"""The outcome of an assignment no outcome has been reported for yet."""
NO_NETWORK = "(no network)"

SUBMITTED = "referral.submitted"
ROUTED = "referral.routed"
OUTCOME = "assignment.outcome"
ESCALATED = "referral.escalated"

ACCEPTED = "accepted"
DECLINED = "declined"
PATIENT_CONTACTED = "patient_contacted"
COMPLETED = "completed"


@dataclass(frozen=True, order=True)
class IsoWeek:
    year: int
    week: int

    def __post_init__(self) -> None:
        date.fromisocalendar(
            self.year, self.week, 1
        )  # ValueError for a week the year does not have

    @classmethod
    def of(cls, moment: datetime) -> "IsoWeek":
        year, week, _ = moment.astimezone(UK).isocalendar()
        return cls(year, week)

    @property
    def start(self) -> datetime:
        return datetime.combine(
            date.fromisocalendar(self.year, self.week, 1), time(0), tzinfo=UK
        )

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 UK time: a week of 167 or 169 hours when the clocks change in it."""
        return datetime.combine(
            self.start.date() + timedelta(days=7), time(0), tzinfo=UK
        )

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    def __contains__(self, moment: datetime) -> bool:
        # As instants: aware datetimes sharing a zone compare (and subtract) by wall clock.
        return (
            self.start.astimezone(UTC)
            <= moment.astimezone(UTC)
            < self.end.astimezone(UTC)
        )


@dataclass(frozen=True)
class ReferralFacts:
    """One assignment of a referral to a service, and what became of it."""

    referral_id: str
    assignment_id: str
    network_id: str | None
    service_type: str
    agency_id: str
    submitted_at: datetime | None
    accepted_at: datetime | None = None
    declined: bool = False
    contacted_at: datetime | None = None
    completed_at: datetime | None = None
    completion: str | None = None
    """How a completed assignment ended (the outcome event's ``completion``), e.g. advice given."""
    outcome: str | None = None
    """The latest outcome reported; ``None`` while none has been."""
    escalated: bool = False


@dataclass(frozen=True)
class WeeklyReport:
    week: IsoWeek
    referrals: int
    """Distinct referrals submitted in the week; every other count is of their assignments."""
    assignments: int
    by_service_type: Mapping[str, int]
    by_network: Mapping[str, int]
    by_outcome: Mapping[str, int]
    accepted: int
    declined: int
    acceptance_rate: float | None
    """accepted / (accepted + declined); ``None`` when no service has answered yet, which 0.0 would misstate."""
    median_hours_to_contact: float | None
    """Hours from submission to the patient being contacted, over the assignments that reached contact."""
    median_hours_to_completion: float | None
    """Hours from submission to completion, over the completed assignments."""
    escalations: int
    """Assignments an SLA timer escalated at least once."""


def weekly_report(facts: Iterable[ReferralFacts], week: IsoWeek) -> WeeklyReport:
    """The figures for the assignments whose referral was submitted in ``week``."""
    chosen = [f for f in facts if f.submitted_at is not None and f.submitted_at in week]
    accepted = sum(f.accepted_at is not None for f in chosen)
    declined = sum(f.declined for f in chosen)
    return WeeklyReport(
        week=week,
        referrals=len({f.referral_id for f in chosen}),
        assignments=len(chosen),
        by_service_type=_tally(f.service_type for f in chosen),
        by_network=_tally(f.network_id or NO_NETWORK for f in chosen),
        by_outcome=_tally(f.outcome or OPEN for f in chosen),
        accepted=accepted,
        declined=declined,
        acceptance_rate=accepted / (accepted + declined)
        if accepted + declined
        else None,
        median_hours_to_contact=_median_hours(
            (f.submitted_at, f.contacted_at) for f in chosen
        ),
        median_hours_to_completion=_median_hours(
            (f.submitted_at, f.completed_at) for f in chosen
        ),
        escalations=sum(f.escalated for f in chosen),
    )


def _tally(keys: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(keys).items()))


def _median_hours(
    spans: Iterable[tuple[datetime | None, datetime | None]],
) -> float | None:
    hours = [
        _elapsed(start, end) / 3600
        for start, end in spans
        if start is not None and end is not None
    ]
    return median(hours) if hours else None


# --- CSV ------------------------------------------------------------------------------------------------------------

CSV_COLUMNS = ("week", "week_start", "dimension", "key", "value")
"""Long layout, one figure a row, so new service types or networks add rows, never columns.

For each week, in this order: ``total`` (referrals, assignments,
escalations); ``service_type``, ``network`` and ``outcome`` counts, keys
sorted; ``acceptance`` (accepted, declined, rate to 4 places); ``median_hours``
(to_contact, to_completion, to 2 places). A figure with no data has an empty value.
"""
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def to_csv(reports: WeeklyReport | Iterable[WeeklyReport]) -> str:
    """One or more weeks as RFC 4180 CSV, with the header ``CSV_COLUMNS``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for report in [reports] if isinstance(reports, WeeklyReport) else reports:
        for dimension, key, value in _figures(report):
            writer.writerow(
                (
                    report.week.label,
                    report.week.start.date().isoformat(),
                    dimension,
                    _cell(key),
                    value,
                )
            )
    return out.getvalue()


def _figures(report: WeeklyReport) -> Iterable[tuple[str, str, str]]:
    yield "total", "referrals", str(report.referrals)
    yield "total", "assignments", str(report.assignments)
    yield "total", "escalations", str(report.escalations)
    for dimension in BREAKDOWNS:
        for key, count in _breakdown(report, dimension).items():
            yield dimension, key, str(count)
    yield "acceptance", "accepted", str(report.accepted)
    yield "acceptance", "declined", str(report.declined)
    yield "acceptance", "rate", _number(report.acceptance_rate, 4)
    yield "median_hours", "to_contact", _number(report.median_hours_to_contact, 2)
    yield "median_hours", "to_completion", _number(report.median_hours_to_completion, 2)


def _number(value: float | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


def _cell(text: str) -> str:
    # Agency and network ids come from configuration; a leading "=" must not become a spreadsheet formula.
    return "'" + text if text.startswith(_FORMULA_LEADS) else text


# --- chart ----------------------------------------------------------------------------------------------------------

Breakdown = Literal["service_type", "network", "outcome"]
BREAKDOWNS: tuple[Breakdown, ...] = ("service_type", "network", "outcome")


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[int, ...]
    """One per label, zero where the week had none."""
    label: str = ""
    """What a person reads for ``name`` in the report's area, e.g. "virtual ward" for ``mdt_huddle`` in Dorset."""


@dataclass(frozen=True)
class BarChart:
    """Weeks along the axis and one series per key: drawn grouped or stacked."""

    title: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    max_value: int
    """The tallest single bar, to scale a grouped chart."""
    max_total: int
    """The tallest stack (all series in one week), to scale a stacked chart."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the operations page's script."""
        return {
            "title": self.title,
            "labels": list(self.labels),
            "series": [
                {"name": s.name, "label": s.label or s.name, "values": list(s.values)}
                for s in self.series
            ],
            "max_value": self.max_value,
            "max_total": self.max_total,
        }


def chart_series(
    reports: Sequence[WeeklyReport],
    by: Breakdown = "service_type",
    words: Vocabulary = DEFAULT,
) -> BarChart:
    """A bar chart of one breakdown across weeks, in the order the reports are given, titled in ``words``."""
    counts = [_breakdown(report, by) for report in reports]
    keys = sorted({key for week in counts for key in week})
    series = tuple(
        Series(key, tuple(week.get(key, 0) for week in counts), _label(key, by, words))
        for key in keys
    )
    return BarChart(
        title=words.text(f"report_by_{by}"),
        labels=tuple(report.week.label for report in reports),
        series=series,
        max_value=max((max(s.values) for s in series), default=0),
        max_total=max((sum(week.values()) for week in counts), default=0),
    )


def _label(key: str, by: Breakdown, words: Vocabulary) -> str:
    if by != "service_type" or key not in _SERVICE_TYPES:
        return key  # network ids and outcome codes read as they are; so does a service type this version lacks
    return words.label(ServiceType(key))


_SERVICE_TYPES = frozenset(t.value for t in ServiceType)


def in_networks(
    facts: Iterable[ReferralFacts], networks: Collection[str]
) -> list[ReferralFacts]:
    """The assignments of one area: those whose service is in one of its networks (or hubs)."""
    return [f for f in facts if f.network_id in networks]


def _breakdown(report: WeeklyReport, by: Breakdown) -> Mapping[str, int]:
    if by == "service_type":
        return report.by_service_type
    return report.by_network if by == "network" else report.by_outcome


# --- from the audit log ---------------------------------------------------------------------------------------------


@dataclass
class _Assignment:
    referral_id: str
    service_type: str
    agency_id: str
    network_id: str | None
    routed_at: datetime | None


@dataclass
class _Outcomes:
    accepted_at: datetime | None = None
    declined: bool = False
    contacted_at: datetime | None = None
    completed_at: datetime | None = None
    completion: str | None = None
    latest: tuple[datetime, str] | None = None
    escalated: bool = False


@dataclass
class _Fold:
    submitted: dict[str, datetime] = field(default_factory=dict)
    routed: dict[str, _Assignment] = field(default_factory=dict)
    outcomes: dict[str, _Outcomes] = field(default_factory=dict)


def build_facts(events: Iterable[Mapping[str, Any]]) -> list[ReferralFacts]:
    """One ``ReferralFacts`` per routed assignment, from audit-log events in any order.

    Each event is an audit row as the audit API shapes it (``event_type``,
    ``occurred_at``, ``payload`` as a dict or JSON text) or a bare event
    payload (``type``, ``occurred_at``, ...). Audit reads every topic, so an
    outcome may be recorded before the routing it follows: nothing here
    depends on order. An assignment whose ``referral.routed`` is not among
    the events is left out (no service type to count it under); one whose
    ``referral.submitted`` is missing counts from when it was routed. Events
    missing the ids or aware timestamps these figures need are passed over.
    """
    fold = _Fold()
    for event in events:
        payload = event.get("payload", event)
        if isinstance(payload, str | bytes):
            payload = json.loads(payload)
        kind = event.get("event_type") or payload.get("type")
        at = _instant(payload.get("occurred_at") or event.get("occurred_at"))
        referral = payload.get("referral_id") or event.get("referral_id")
        if kind == SUBMITTED and referral and at is not None:
            fold.submitted[str(referral)] = min(
                at, fold.submitted.get(str(referral), at)
            )
        elif kind == ROUTED and referral:
            _fold_routed(
                fold,
                str(referral),
                payload.get("network_id") or event.get("network_id"),
                payload,
                at,
            )
        elif kind in (OUTCOME, ESCALATED) and payload.get("assignment_id"):
            outcomes = fold.outcomes.setdefault(
                str(payload["assignment_id"]), _Outcomes()
            )
            if kind == ESCALATED:
                outcomes.escalated = True
            else:
                _fold_outcome(outcomes, payload, at)
    facts = [
        _facts(fold, assignment_id, routed)
        for assignment_id, routed in fold.routed.items()
    ]
    return sorted(
        facts,
        key=lambda f: (
            f.submitted_at.timestamp() if f.submitted_at else inf,
            f.referral_id,
            f.assignment_id,
        ),
    )


def _fold_routed(
    fold: _Fold,
    referral: str,
    network: str | None,
    payload: Mapping[str, Any],
    at: datetime | None,
) -> None:
    for assignment in payload.get("assignments") or ():
        if not all(
            assignment.get(name)
            for name in ("assignment_id", "service_type", "agency_id")
        ):
            continue
        fold.routed.setdefault(
            str(assignment["assignment_id"]),
            _Assignment(
                referral_id=referral,
                service_type=str(assignment["service_type"]),
                agency_id=str(assignment["agency_id"]),
                network_id=assignment.get("network_id") or network,
                routed_at=at,
            ),
        )


def _fold_outcome(
    outcomes: _Outcomes, payload: Mapping[str, Any], at: datetime | None
) -> None:
    code = payload.get("outcome")
    if not isinstance(code, str) or at is None:
        return
    if code == ACCEPTED:
        outcomes.accepted_at = _earliest(outcomes.accepted_at, at)
    elif code == DECLINED:
        outcomes.declined = True
    elif code == PATIENT_CONTACTED:
        outcomes.contacted_at = _earliest(outcomes.contacted_at, at)
    elif code == COMPLETED:
        outcomes.completed_at = _earliest(outcomes.completed_at, at)
        outcomes.completion = payload.get("completion") or outcomes.completion
    if outcomes.latest is None or at >= outcomes.latest[0]:
        outcomes.latest = (at, code)


def _facts(fold: _Fold, assignment_id: str, routed: _Assignment) -> ReferralFacts:
    outcomes = fold.outcomes.get(assignment_id, _Outcomes())
    return ReferralFacts(
        referral_id=routed.referral_id,
        assignment_id=assignment_id,
        network_id=routed.network_id,
        service_type=routed.service_type,
        agency_id=routed.agency_id,
        submitted_at=fold.submitted.get(routed.referral_id, routed.routed_at),
        accepted_at=outcomes.accepted_at,
        declined=outcomes.declined,
        contacted_at=outcomes.contacted_at,
        completed_at=outcomes.completed_at,
        completion=outcomes.completion,
        outcome=outcomes.latest[1] if outcomes.latest else None,
        escalated=outcomes.escalated,
    )


def _elapsed(start: datetime, end: datetime) -> float:
    """Seconds between two instants, right across a clock change even when both are in UK time."""
    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds()


def _earliest(current: datetime | None, at: datetime) -> datetime:
    return at if current is None else min(current, at)


def _instant(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else None
