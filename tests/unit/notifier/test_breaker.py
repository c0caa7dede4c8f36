"""The per-agency circuit breaker and operator pauses, with the clock passed in."""

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.domain.webhooks.breaker import (
    Breaker,
    BreakerPolicy,
    BreakerState,
    Permission,
    may_attempt,
)

NOW = datetime(2026, 3, 13, 9, tzinfo=UTC)
POLICY = BreakerPolicy(failures_to_open=3, cool_down=timedelta(minutes=5))


def failed_times(n: int, breaker: Breaker | None = None) -> Breaker:
    breaker = breaker or Breaker(POLICY)
    for _ in range(n):
        breaker = breaker.failed(NOW)
    return breaker


def test_a_new_breaker_is_closed_and_lets_deliveries_through() -> None:
    assert Breaker(POLICY).state(NOW) is BreakerState.CLOSED
    assert Breaker(POLICY).allows_attempt(NOW)


def test_it_stays_closed_below_the_failure_threshold() -> None:
    breaker = failed_times(2)
    assert breaker.state(NOW) is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2


def test_a_success_forgets_earlier_failures() -> None:
    breaker = failed_times(2).succeeded(NOW).failed(NOW).failed(NOW)
    assert breaker.state(NOW) is BreakerState.CLOSED


def test_it_opens_after_consecutive_failures_and_refuses_until_the_cool_down_ends() -> (
    None
):
    breaker = failed_times(3)
    assert breaker.state(NOW) is BreakerState.OPEN
    assert not breaker.allows_attempt(NOW + timedelta(minutes=4, seconds=59))
    assert breaker.reopens_at() == NOW + timedelta(minutes=5)


def test_after_the_cool_down_it_is_half_open_and_lets_one_probe_through() -> None:
    later = NOW + timedelta(minutes=5)
    breaker = failed_times(3)
    assert breaker.state(later) is BreakerState.HALF_OPEN
    assert breaker.allows_attempt(later)
    probing = breaker.attempt_started(later)
    assert not probing.allows_attempt(later + timedelta(seconds=1))


def test_a_probe_lost_for_a_whole_cool_down_lets_another_through() -> None:
    later = NOW + timedelta(minutes=5)
    probing = failed_times(3).attempt_started(later)
    assert probing.allows_attempt(later + timedelta(minutes=5))


def test_a_successful_probe_closes_the_breaker() -> None:
    later = NOW + timedelta(minutes=5)
    breaker = failed_times(3).attempt_started(later).succeeded(later)
    assert breaker == Breaker(POLICY)
    assert breaker.state(later) is BreakerState.CLOSED


def test_a_failed_probe_opens_it_again_for_a_fresh_cool_down() -> None:
    later = NOW + timedelta(minutes=5)
    breaker = failed_times(3).attempt_started(later).failed(later)
    assert breaker.state(later) is BreakerState.OPEN
    assert breaker.reopens_at() == later + timedelta(minutes=5)
    assert breaker.probe_started_at is None


def test_starting_an_attempt_while_closed_changes_nothing() -> None:
    assert Breaker(POLICY).attempt_started(NOW) == Breaker(POLICY)


def test_a_breaker_policy_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="failures_to_open"):
        BreakerPolicy(failures_to_open=0)
    with pytest.raises(ValueError, match="cool_down"):
        BreakerPolicy(cool_down=timedelta(0))


def test_an_agency_with_no_breaker_and_no_pause_may_be_tried() -> None:
    assert may_attempt("demo-pharmacy", {}, None, NOW) == Permission(True)


def test_a_pause_until_resumed_refuses_with_no_time_to_look_again() -> None:
    permission = may_attempt(
        "demo-pharmacy", {"demo-pharmacy": None}, Breaker(POLICY), NOW
    )
    assert permission == Permission(
        False, "deliveries to this agency are paused by operations", None
    )


def test_a_timed_pause_refuses_until_it_ends_then_lets_deliveries_through() -> None:
    until = NOW + timedelta(hours=2)
    paused = may_attempt("demo-pharmacy", {"demo-pharmacy": until}, None, NOW)
    assert (paused.allowed, paused.not_before) == (False, until)
    assert may_attempt("demo-pharmacy", {"demo-pharmacy": until}, None, until).allowed


def test_another_agencys_pause_does_not_hold_this_one() -> None:
    assert may_attempt("demo-pharmacy", {"age-uk": None}, None, NOW).allowed


def test_a_pause_wins_over_a_closed_breaker() -> None:
    assert not may_attempt(
        "demo-pharmacy", {"demo-pharmacy": None}, Breaker(POLICY), NOW
    ).allowed


def test_an_open_breaker_refuses_and_says_when_to_look_again() -> None:
    permission = may_attempt("demo-pharmacy", {}, failed_times(3), NOW)
    assert permission == Permission(
        False, "circuit open after repeated failures", NOW + timedelta(minutes=5)
    )


def test_a_half_open_breaker_with_a_probe_in_flight_refuses_others() -> None:
    later = NOW + timedelta(minutes=5)
    probing = failed_times(3).attempt_started(later)
    permission = may_attempt("demo-pharmacy", {}, probing, later)
    assert permission == Permission(
        False, "a probe delivery is in flight", later + timedelta(minutes=5)
    )
    assert may_attempt("demo-pharmacy", {}, failed_times(3), later).allowed
