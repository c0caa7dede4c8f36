"""The SLA policy is refused when it would let a referral wait past its clinical timescale."""

from datetime import timedelta

import pytest

from schemas.vocabulary import ServiceType, Urgency
from services.notifier.domain import sla, sla_guard
from services.notifier.domain.sla import (
    ClockTime,
    OnBreach,
    TimerName,
    TimerRule,
    WorkingDays,
)

URGENT_PHARMACY = (ServiceType.COMMUNITY_PHARMACY, Urgency.URGENT)


def edited(
    key: sla_guard.Key, rules: tuple[TimerRule, ...]
) -> dict[sla_guard.Key, tuple[TimerRule, ...]]:
    return {**sla.POLICY, key: rules}


@pytest.mark.hazard("HAZ-003", "HAZ-007")
def test_the_shipped_policy_keeps_every_clinical_timescale() -> None:
    assert sla_guard.check() == []
    sla_guard.require_safe()


@pytest.mark.hazard("HAZ-003")
def test_a_contact_timer_longer_than_its_timescale_is_refused_with_the_hazard() -> None:
    relaxed = edited(
        URGENT_PHARMACY,
        (
            TimerRule(
                TimerName.FIRST_CONTACT,
                ClockTime(timedelta(hours=3)),
                OnBreach.ESCALATE,
            ),
            TimerRule(
                TimerName.NO_CONTACT_CLOSE, WorkingDays(1), OnBreach.CLOSE_AND_TELL_GP
            ),
        ),
    )
    with pytest.raises(
        sla_guard.UnsafePolicy,
        match=r"HAZ-003: community_pharmacy/urgent: first_contact falls after 3 clock",
    ):
        sla_guard.require_safe(relaxed)


def test_working_days_cannot_keep_a_clock_hour_promise() -> None:
    # "Same working day" can be a Friday afternoon to Monday evening: never within two clock hours.
    assert not sla_guard.within(WorkingDays(0), ClockTime(timedelta(hours=2)))
    assert sla_guard.within(
        ClockTime(timedelta(hours=1)), ClockTime(timedelta(hours=2))
    )
    assert sla_guard.within(ClockTime(timedelta(hours=4)), WorkingDays(0))
    assert not sla_guard.within(WorkingDays(3), WorkingDays(2))


def test_a_service_left_without_an_escalating_timer_is_refused() -> None:
    quiet = edited(
        (ServiceType.SOCIAL_SERVICES, Urgency.ROUTINE),
        (TimerRule(TimerName.ACCEPTANCE, WorkingDays(2), OnBreach.CLOSE_AND_TELL_GP),),
    )
    found = [str(f) for f in sla_guard.check(quiet)]
    assert (
        "HAZ-007: social_services/routine: has no timer that escalates on breach"
        in found
    )
    assert any(
        f.startswith("HAZ-003: social_services/routine: has no first_contact timer")
        for f in found
    )


def test_a_service_with_no_timers_at_all_is_refused() -> None:
    policy = {
        k: v
        for k, v in sla.POLICY.items()
        if k != (ServiceType.MDT_HUDDLE, Urgency.ROUTINE)
    }
    assert [str(f) for f in sla_guard.check(policy)] == [
        "HAZ-007: mdt_huddle/routine: has no SLA timers, so nothing would ever escalate"
    ]
