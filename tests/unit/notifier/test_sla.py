"""SLA timers on concrete dates: weekends, bank holidays, late receipt, clock changes and urgency."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.vocabulary import OutcomeCode, ServiceType, Urgency
from services.notifier.domain.outcomes import AssignmentState, SystemEvent, apply
from services.notifier.domain.sla import (
    BANK_HOLIDAYS,
    BREACH_EVENTS,
    POLICY,
    OnBreach,
    Timer,
    TimerName,
    WorkingDays,
    is_working_day,
    next_working_day_end,
    received_on,
    timers_cleared_by,
    timers_for,
)

LONDON = ZoneInfo("Europe/London")


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def due(timers: list[Timer]) -> dict[TimerName, datetime]:
    return {timer.name: timer.due_at for timer in timers}


def test_friday_afternoon_pharmacy_referral_is_contacted_today_and_closed_end_of_monday() -> (
    None
):
    timers = timers_for(
        ServiceType.COMMUNITY_PHARMACY, Urgency.ROUTINE, london(2026, 3, 13, 15)
    )
    assert timers == [
        Timer(TimerName.FIRST_CONTACT, london(2026, 3, 13, 18), OnBreach.ESCALATE),
        Timer(
            TimerName.NO_CONTACT_CLOSE,
            london(2026, 3, 16, 18),
            OnBreach.CLOSE_AND_TELL_GP,
        ),
    ]


def test_a_referral_after_late_receipt_on_friday_counts_from_monday() -> None:
    timers = due(
        timers_for(
            ServiceType.COMMUNITY_PHARMACY, Urgency.ROUTINE, london(2026, 3, 13, 17)
        )
    )
    assert timers == {
        TimerName.FIRST_CONTACT: london(2026, 3, 16, 18),
        TimerName.NO_CONTACT_CLOSE: london(2026, 3, 17, 18),
    }


@pytest.mark.hazard("HAZ-009")
def test_easter_bank_holidays_push_the_close_to_tuesday() -> None:
    timers = due(
        timers_for(
            ServiceType.COMMUNITY_PHARMACY, Urgency.ROUTINE, london(2026, 4, 2, 10)
        )
    )
    assert timers[TimerName.FIRST_CONTACT] == london(2026, 4, 2, 18)
    assert timers[TimerName.NO_CONTACT_CLOSE] == london(2026, 4, 7, 18)


def test_a_referral_sent_on_a_bank_holiday_is_received_the_next_working_day() -> None:
    assert received_on(london(2026, 5, 4, 9)) == date(2026, 5, 5)


@pytest.mark.hazard("HAZ-003")
def test_urgent_pharmacy_contact_is_two_clock_hours_even_on_a_saturday() -> None:
    timers = due(
        timers_for(
            ServiceType.COMMUNITY_PHARMACY, Urgency.URGENT, london(2026, 3, 14, 11)
        )
    )
    assert timers[TimerName.FIRST_CONTACT] == london(2026, 3, 14, 13)
    assert timers[TimerName.NO_CONTACT_CLOSE] == london(2026, 3, 17, 18)


def test_asap_pharmacy_contact_is_one_hour() -> None:
    timers = due(
        timers_for(
            ServiceType.COMMUNITY_PHARMACY, Urgency.ASAP, london(2026, 3, 12, 9, 30)
        )
    )
    assert timers[TimerName.FIRST_CONTACT] == london(2026, 3, 12, 10, 30)


@pytest.mark.hazard("HAZ-009")
def test_clock_hours_are_elapsed_time_across_the_spring_clock_change() -> None:
    delivered = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    timers = due(timers_for(ServiceType.COMMUNITY_PHARMACY, Urgency.URGENT, delivered))
    assert timers[TimerName.FIRST_CONTACT] == datetime(2026, 3, 29, 2, 30, tzinfo=UTC)
    assert timers[TimerName.FIRST_CONTACT].astimezone(LONDON).hour == 3


@pytest.mark.hazard("HAZ-009")
def test_close_of_business_stays_at_six_in_london_across_the_autumn_clock_change() -> (
    None
):
    timers = due(
        timers_for(
            ServiceType.COMMUNITY_PHARMACY, Urgency.ROUTINE, london(2026, 10, 23, 15)
        )
    )
    assert timers[TimerName.NO_CONTACT_CLOSE] == datetime(2026, 10, 26, 18, tzinfo=UTC)
    assert timers[TimerName.FIRST_CONTACT] == datetime(2026, 10, 23, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    "service",
    [ServiceType.ICN_PHARMACIST, ServiceType.PIC, ServiceType.SOCIAL_SERVICES],
)
def test_community_services_accept_within_two_working_days_and_contact_within_five(
    service: ServiceType,
) -> None:
    timers = timers_for(service, Urgency.ROUTINE, london(2026, 3, 9, 10))
    assert timers == [
        Timer(TimerName.ACCEPTANCE, london(2026, 3, 11, 18), OnBreach.ESCALATE),
        Timer(TimerName.FIRST_CONTACT, london(2026, 3, 16, 18), OnBreach.ESCALATE),
    ]


def test_christmas_and_new_year_with_substitute_days_stretch_working_days() -> None:
    timers = due(
        timers_for(
            ServiceType.SOCIAL_SERVICES, Urgency.ROUTINE, london(2026, 12, 23, 10)
        )
    )
    assert timers[TimerName.ACCEPTANCE] == london(2026, 12, 29, 18)
    assert timers[TimerName.FIRST_CONTACT] == london(2027, 1, 4, 18)


def test_urgent_community_referrals_are_tighter_than_routine_ones() -> None:
    delivered = london(2026, 3, 9, 10)
    routine = due(timers_for(ServiceType.ICN_PHARMACIST, Urgency.ROUTINE, delivered))
    urgent = due(timers_for(ServiceType.ICN_PHARMACIST, Urgency.URGENT, delivered))
    asap = due(timers_for(ServiceType.ICN_PHARMACIST, Urgency.ASAP, delivered))
    for name in (TimerName.ACCEPTANCE, TimerName.FIRST_CONTACT):
        assert asap[name] < urgent[name] < routine[name]
    assert asap[TimerName.ACCEPTANCE] == london(2026, 3, 9, 14)


def test_a_huddle_referral_is_on_the_agenda_by_the_next_working_day() -> None:
    assert timers_for(
        ServiceType.MDT_HUDDLE, Urgency.ROUTINE, london(2026, 3, 13, 10)
    ) == [Timer(TimerName.HUDDLE_AGENDA, london(2026, 3, 16, 18), OnBreach.ESCALATE)]


@pytest.mark.parametrize(
    ("at", "end"),
    [
        (london(2026, 3, 13, 15), london(2026, 3, 16, 18)),
        (london(2026, 3, 13, 23, 59), london(2026, 3, 16, 18)),
        (london(2026, 3, 14, 9), london(2026, 3, 16, 18)),
        (london(2026, 4, 2, 9), london(2026, 4, 7, 18)),
        (london(2027, 12, 24, 12), london(2027, 12, 29, 18)),
        (datetime(2026, 3, 12, 23, 30, tzinfo=UTC), london(2026, 3, 13, 18)),
    ],
)
def test_next_working_day_end(at: datetime, end: datetime) -> None:
    assert next_working_day_end(at) == end


@pytest.mark.hazard("HAZ-009")
def test_naive_times_are_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="aware"):
        timers_for(ServiceType.PIC, Urgency.ROUTINE, datetime(2026, 3, 9, 10))


# gov.uk/bank-holidays for England and Wales, as published (weekdays only; substitute days included).
GOV_UK = {
    2025: ["01-01", "04-18", "04-21", "05-05", "05-26", "08-25", "12-25", "12-26"],
    2026: ["01-01", "04-03", "04-06", "05-04", "05-25", "08-31", "12-25", "12-28"],
    2027: ["01-01", "03-26", "03-29", "05-03", "05-31", "08-30", "12-27", "12-28"],
}


@pytest.mark.hazard("HAZ-009")
@pytest.mark.parametrize("year", sorted(GOV_UK))
def test_the_working_days_lost_to_bank_holidays_are_exactly_gov_uks(year: int) -> None:
    published = {date.fromisoformat(f"{year}-{day}") for day in GOV_UK[year]}
    every_day = (date(year, 1, 1) + timedelta(days=n) for n in range(366))
    lost = {
        day
        for day in every_day
        if day.year == year and day.weekday() < 5 and not is_working_day(day)
    }
    assert lost == published


@pytest.mark.hazard("HAZ-009")
def test_bank_holidays_do_not_run_out_after_the_years_anyone_typed_in() -> None:
    # Easter 2030 is 21 April: Good Friday the 19th, Easter Monday the 22nd; Christmas 2032 falls on a Saturday.
    assert not is_working_day(date(2030, 4, 19))
    assert not is_working_day(date(2030, 4, 22))
    assert not is_working_day(date(2032, 12, 27)), (
        "the substitute day for Christmas on a Saturday"
    )
    assert not is_working_day(date(2032, 12, 28)), "and for Boxing Day on a Sunday"
    assert is_working_day(date(2032, 12, 29))
    assert date(2028, 4, 14) in BANK_HOLIDAYS


@pytest.mark.hazard("HAZ-007")
def test_every_service_type_and_urgency_has_timers() -> None:
    assert all(
        POLICY[service, urgency] for service in ServiceType for urgency in Urgency
    )


@given(
    service=st.sampled_from(ServiceType),
    urgency=st.sampled_from(Urgency),
    delivered=st.datetimes(
        min_value=datetime(2025, 1, 1),
        max_value=datetime(2027, 11, 30),
        timezones=st.just(UTC),
    ),
)
def test_every_timer_is_due_after_delivery_and_working_day_ones_at_close_of_business(
    service: ServiceType, urgency: Urgency, delivered: datetime
) -> None:
    timers = timers_for(service, urgency, delivered)
    assert [t.due_at for t in timers] == sorted(t.due_at for t in timers)
    for rule, timer in zip(
        sorted(POLICY[service, urgency], key=lambda r: r.name),
        sorted(timers, key=lambda t: t.name),
        strict=True,
    ):
        assert timer.due_at > delivered
        assert timer.due_at - delivered < timedelta(days=14)
        if isinstance(rule.deadline, WorkingDays):
            local = timer.due_at.astimezone(LONDON)
            assert (local.hour, local.minute) == (18, 0)
            assert is_working_day(local.date())


def test_acceptance_stops_the_acceptance_and_agenda_clocks_but_not_contact() -> None:
    assert timers_cleared_by(OutcomeCode.ACCEPTED) == {
        TimerName.ACCEPTANCE,
        TimerName.HUDDLE_AGENDA,
    }


def test_contact_stops_the_contact_clocks() -> None:
    assert {TimerName.FIRST_CONTACT, TimerName.NO_CONTACT_CLOSE} <= timers_cleared_by(
        OutcomeCode.PATIENT_CONTACTED
    )


@pytest.mark.parametrize(
    "event",
    [
        OutcomeCode.DECLINED,
        OutcomeCode.COMPLETED,
        OutcomeCode.DID_NOT_ATTEND,
        OutcomeCode.ESCALATED_TO_GP,
        SystemEvent.NO_CONTACT_TIMEOUT,
        SystemEvent.CANCELLED,
    ],
)
def test_an_ending_stops_every_clock(event: OutcomeCode | SystemEvent) -> None:
    assert timers_cleared_by(event) == set(TimerName)


def test_a_breach_stops_no_other_clock() -> None:
    assert timers_cleared_by(SystemEvent.SLA_BREACHED) == set()


@pytest.mark.hazard("HAZ-007")
def test_a_breached_timer_feeds_an_event_the_lifecycle_accepts_while_waiting() -> None:
    assert (
        apply(AssignmentState.DELIVERED, BREACH_EVENTS[OnBreach.ESCALATE]).after
        is AssignmentState.ESCALATED
    )
    closing = BREACH_EVENTS[OnBreach.CLOSE_AND_TELL_GP]
    assert (
        apply(AssignmentState.ESCALATED, closing, accepted=False).after
        is AssignmentState.CLOSED_NO_CONTACT
    )
