"""SLA timers: by when an agency must act on an assignment, and what happens if it does not.

The policy is a table per service type and urgency, so a network can read and
change its promises without reading code. Deadlines are either clock time
(urgent pharmacy contact: two hours, whatever the day) or working days
(Monday to Friday in Europe/London, less England and Wales bank holidays).

A referral delivered after ``LATE_RECEIPT`` on a working day, or on a weekend
or bank holiday, counts as received on the next working day, so a referral
sent at ten to six on a Friday is not due by six.
"""

from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import holidays as holiday_calendar

from schemas.vocabulary import OutcomeCode, ServiceType, Urgency
from services.notifier.domain.outcomes import LifecycleEvent, SystemEvent

LONDON = ZoneInfo("Europe/London")
DAY_ENDS = time(18, 0)
LATE_RECEIPT = time(16, 0)

# England and Wales bank holidays, any year, substitute days included (28 Dec 2026 for Boxing Day;
# 27 and 28 Dec 2027). The `holidays` package computes them by rule and carries one-off days (a
# coronation, a state funeral) as they are announced; the tests check it against gov.uk's published list.
BANK_HOLIDAYS: Container[date] = holiday_calendar.country_holidays("GB", subdiv="ENG")


class TimerName(StrEnum):
    ACCEPTANCE = "acceptance"
    FIRST_CONTACT = "first_contact"
    NO_CONTACT_CLOSE = "no_contact_close"
    HUDDLE_AGENDA = "huddle_agenda"


class OnBreach(StrEnum):
    ESCALATE = "escalate"
    CLOSE_AND_TELL_GP = "close_and_tell_gp"


BREACH_EVENTS: Mapping[OnBreach, SystemEvent] = {
    OnBreach.ESCALATE: SystemEvent.SLA_BREACHED,
    OnBreach.CLOSE_AND_TELL_GP: SystemEvent.NO_CONTACT_TIMEOUT,
}
"""The lifecycle event a breached timer feeds to ``outcomes.apply``."""


@dataclass(frozen=True)
class ClockTime:
    """Due this long after delivery, nights and weekends included."""

    after: timedelta


@dataclass(frozen=True)
class WorkingDays:
    """Due at the end of the n-th working day after the day of receipt; 0 is the day of receipt itself."""

    days: int


Deadline = ClockTime | WorkingDays


@dataclass(frozen=True)
class TimerRule:
    name: TimerName
    deadline: Deadline
    on_breach: OnBreach


@dataclass(frozen=True)
class Timer:
    name: TimerName
    due_at: datetime
    on_breach: OnBreach


def _pharmacy_first(first_contact: Deadline) -> tuple[TimerRule, ...]:
    # Pharmacy First: the pharmacy contacts the patient; no contact by the next working day, it closes and tells the GP.
    return (
        TimerRule(TimerName.FIRST_CONTACT, first_contact, OnBreach.ESCALATE),
        TimerRule(
            TimerName.NO_CONTACT_CLOSE, WorkingDays(1), OnBreach.CLOSE_AND_TELL_GP
        ),
    )


def _community(acceptance: Deadline, first_contact: Deadline) -> tuple[TimerRule, ...]:
    return (
        TimerRule(TimerName.ACCEPTANCE, acceptance, OnBreach.ESCALATE),
        TimerRule(TimerName.FIRST_CONTACT, first_contact, OnBreach.ESCALATE),
    )


def _huddle(on_agenda: Deadline) -> tuple[TimerRule, ...]:
    return (TimerRule(TimerName.HUDDLE_AGENDA, on_agenda, OnBreach.ESCALATE),)


_COMMUNITY_BY_URGENCY: Mapping[Urgency, tuple[TimerRule, ...]] = {
    Urgency.ROUTINE: _community(WorkingDays(2), WorkingDays(5)),
    Urgency.URGENT: _community(WorkingDays(1), WorkingDays(2)),
    Urgency.ASAP: _community(ClockTime(timedelta(hours=4)), WorkingDays(1)),
}

POLICY: Mapping[tuple[ServiceType, Urgency], tuple[TimerRule, ...]] = {
    **{
        (service, urgency): rules
        for service in ServiceType
        for urgency, rules in _COMMUNITY_BY_URGENCY.items()
    },
    (ServiceType.COMMUNITY_PHARMACY, Urgency.ROUTINE): _pharmacy_first(WorkingDays(0)),
    (ServiceType.COMMUNITY_PHARMACY, Urgency.URGENT): _pharmacy_first(
        ClockTime(timedelta(hours=2))
    ),
    (ServiceType.COMMUNITY_PHARMACY, Urgency.ASAP): _pharmacy_first(
        ClockTime(timedelta(hours=1))
    ),
    (ServiceType.MDT_HUDDLE, Urgency.ROUTINE): _huddle(WorkingDays(1)),
    (ServiceType.MDT_HUDDLE, Urgency.URGENT): _huddle(WorkingDays(0)),
    (ServiceType.MDT_HUDDLE, Urgency.ASAP): _huddle(WorkingDays(0)),
}
"""Every service type and urgency; ICN pharmacist, PIC, social services and the rest share the community rows."""

_ALL_TIMERS = frozenset(TimerName)
_CLEARED_BY: Mapping[LifecycleEvent, frozenset[TimerName]] = {
    OutcomeCode.ACCEPTED: frozenset({TimerName.ACCEPTANCE, TimerName.HUDDLE_AGENDA}),
    OutcomeCode.PATIENT_CONTACTED: frozenset(
        {TimerName.ACCEPTANCE, TimerName.FIRST_CONTACT, TimerName.NO_CONTACT_CLOSE}
    ),
    OutcomeCode.DECLINED: _ALL_TIMERS,
    OutcomeCode.COMPLETED: _ALL_TIMERS,
    OutcomeCode.DID_NOT_ATTEND: _ALL_TIMERS,
    OutcomeCode.ESCALATED_TO_GP: _ALL_TIMERS,
    SystemEvent.NO_CONTACT_TIMEOUT: _ALL_TIMERS,
    SystemEvent.CANCELLED: _ALL_TIMERS,
    # A breach spends only the timer that fired; the others keep running.
    SystemEvent.SLA_BREACHED: frozenset(),
}


def is_working_day(day: date, holidays: Container[date] = BANK_HOLIDAYS) -> bool:
    return day.weekday() < 5 and day not in holidays


def next_working_day(day: date, holidays: Container[date] = BANK_HOLIDAYS) -> date:
    """The first working day strictly after ``day``."""
    day += timedelta(days=1)
    while not is_working_day(day, holidays):
        day += timedelta(days=1)
    return day


def working_day_end(day: date) -> datetime:
    return datetime.combine(day, DAY_ENDS, tzinfo=LONDON)


def next_working_day_end(
    at: datetime, holidays: Container[date] = BANK_HOLIDAYS
) -> datetime:
    """Close of business on the first working day after ``at``'s date in London."""
    return working_day_end(next_working_day(_london(at).date(), holidays))


def received_on(
    delivered_at: datetime, holidays: Container[date] = BANK_HOLIDAYS
) -> date:
    """The working day a delivery counts as received: today if early enough on a working day, else the next one."""
    local = _london(delivered_at)
    if is_working_day(local.date(), holidays) and local.time() < LATE_RECEIPT:
        return local.date()
    return next_working_day(local.date(), holidays)


def due_at(
    deadline: Deadline,
    delivered_at: datetime,
    holidays: Container[date] = BANK_HOLIDAYS,
) -> datetime:
    """When ``deadline`` falls for an assignment delivered at ``delivered_at``, in UTC."""
    if isinstance(deadline, ClockTime):
        return _london(delivered_at).astimezone(UTC) + deadline.after
    day = received_on(delivered_at, holidays)
    for _ in range(deadline.days):
        day = next_working_day(day, holidays)
    return working_day_end(day).astimezone(UTC)


def timers_for(
    service_type: ServiceType,
    urgency: Urgency,
    delivered_at: datetime,
    *,
    policy: Mapping[tuple[ServiceType, Urgency], tuple[TimerRule, ...]] = POLICY,
    holidays: Container[date] = BANK_HOLIDAYS,
) -> list[Timer]:
    """The timers to start when an assignment is delivered, soonest first."""
    timers = [
        Timer(rule.name, due_at(rule.deadline, delivered_at, holidays), rule.on_breach)
        for rule in policy[service_type, urgency]
    ]
    return sorted(timers, key=lambda timer: timer.due_at)


def timers_cleared_by(event: LifecycleEvent) -> frozenset[TimerName]:
    """The timers an event stops: acceptance stops the acceptance clock, contact the contact clocks, an end stops all."""
    return _CLEARED_BY[event]


def _london(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("SLA times need an aware datetime; got a naive one")
    return at.astimezone(LONDON)


def planned_timers(
    service_type: ServiceType,
    urgency: Urgency,
    delivered_at: datetime,
    demo_seconds: float | None = None,
) -> list[Timer]:
    """The policy's timers; with ``demo_seconds`` (demos only) the same timers in the same order, seconds apart."""
    timers = timers_for(service_type, urgency, delivered_at)
    if demo_seconds is None:
        return timers
    return [
        Timer(
            t.name,
            delivered_at + timedelta(seconds=demo_seconds * (i + 1)),
            t.on_breach,
        )
        for i, t in enumerate(timers)
    ]
