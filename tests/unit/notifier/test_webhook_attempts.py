"""Whether to send, hold or give up a webhook delivery, and when to try again, with the clock passed in."""

import random
from datetime import UTC, datetime, timedelta

from services.notifier.domain.webhooks.attempts import (
    PAUSE_RECHECK,
    Controls,
    Due,
    GiveUp,
    Hold,
    RetryAt,
    Send,
    after_failure,
    before_attempt,
)
from services.notifier.domain.webhooks.breaker import Breaker, BreakerPolicy
from services.notifier.domain.webhooks.retry import RetryPolicy

NOW = datetime(2026, 3, 13, 9, tzinfo=UTC)
AGENCY = "demo-pharmacy"
POLICY = RetryPolicy(
    initial=timedelta(seconds=10),
    max_delay=timedelta(minutes=5),
    give_up_after=timedelta(hours=1),
)
BREAKER = BreakerPolicy(failures_to_open=3, cool_down=timedelta(minutes=2))
NEW = Due(attempts=0, first_attempt_at=None, last_error=None)


class Ceiling(random.Random):
    """Always draws the top of the range, so the backoff's ceiling is what gets scheduled."""

    def uniform(self, a: float, b: float) -> float:
        return b


def opened(at: datetime) -> Breaker:
    breaker = Breaker(BREAKER)
    for _ in range(BREAKER.failures_to_open):
        breaker = breaker.failed(at)
    return breaker


def test_a_new_delivery_to_a_healthy_agency_is_sent() -> None:
    decision = before_attempt(
        AGENCY, NEW, POLICY, Controls(breaker=Breaker(BREAKER)), NOW
    )
    assert decision == Send(Breaker(BREAKER))


def test_a_pause_until_resumed_holds_it_and_stops_the_give_up_clock_even_when_overdue() -> (
    None
):
    overdue = Due(
        attempts=7, first_attempt_at=NOW - timedelta(hours=2), last_error="HTTP 503"
    )
    decision = before_attempt(AGENCY, overdue, POLICY, Controls(paused=True), NOW)
    assert decision == Hold(
        NOW + PAUSE_RECHECK,
        "deliveries to this agency are paused by operations",
        clock_from=None,
    )


def test_a_pause_with_an_end_holds_it_until_then_and_no_longer() -> None:
    until = NOW + timedelta(hours=5)
    held = before_attempt(
        AGENCY, NEW, POLICY, Controls(paused=True, paused_until=until), NOW
    )
    assert isinstance(held, Hold)
    assert (held.until, held.clock_from) == (until, None)
    assert isinstance(
        before_attempt(
            AGENCY, NEW, POLICY, Controls(paused=True, paused_until=until), until
        ),
        Send,
    )


def test_an_open_breaker_holds_it_until_the_probe_and_starts_its_give_up_clock() -> (
    None
):
    breaker = opened(NOW)
    decision = before_attempt(
        AGENCY, NEW, POLICY, Controls(breaker=breaker), NOW + timedelta(seconds=30)
    )
    assert decision == Hold(
        NOW + BREAKER.cool_down,
        "circuit open after repeated failures",
        NOW + timedelta(seconds=30),
    )


def test_a_hold_never_reaches_past_the_give_up_time() -> None:
    started = NOW - timedelta(minutes=59)
    due = Due(attempts=4, first_attempt_at=started, last_error="ConnectError")
    decision = before_attempt(AGENCY, due, POLICY, Controls(breaker=opened(NOW)), NOW)
    assert isinstance(decision, Hold)
    assert decision.until == started + POLICY.give_up_after


def test_out_of_time_behind_an_open_breaker_it_is_given_up_with_the_last_real_error() -> (
    None
):
    due = Due(
        attempts=4, first_attempt_at=NOW - timedelta(hours=1), last_error="ConnectError"
    )
    decision = before_attempt(AGENCY, due, POLICY, Controls(breaker=opened(NOW)), NOW)
    assert decision == GiveUp(4, "webhook gave up after 4 attempts: ConnectError")


def test_half_open_lets_one_probe_through_and_holds_the_next_until_the_probe_is_presumed_lost() -> (
    None
):
    later = NOW + BREAKER.cool_down
    probe = before_attempt(AGENCY, NEW, POLICY, Controls(breaker=opened(NOW)), later)
    assert isinstance(probe, Send)
    assert probe.breaker.probe_started_at == later
    second = before_attempt(
        AGENCY,
        NEW,
        POLICY,
        Controls(breaker=probe.breaker),
        later + timedelta(seconds=1),
    )
    assert isinstance(second, Hold)
    assert second.until == later + BREAKER.cool_down


def test_retries_wait_longer_each_time_up_to_the_ceiling() -> None:
    due, waits = NEW, []
    now = NOW
    for _ in range(7):
        outcome = after_failure(due, POLICY, "HTTP 500", now, Ceiling())
        assert isinstance(outcome, RetryAt)
        waits.append((outcome.at - now).total_seconds())
        due, now = (
            Due(outcome.attempts, outcome.first_attempt_at, "HTTP 500"),
            outcome.at,
        )
    assert waits == [10, 20, 40, 80, 160, 300, 300]


def test_each_wait_is_jittered_between_zero_and_its_ceiling() -> None:
    rng = random.Random(7)
    waits = [
        after_failure(Due(3, NOW, "HTTP 500"), POLICY, "HTTP 500", NOW, rng)
        for _ in range(200)
    ]
    seconds = [(w.at - NOW).total_seconds() for w in waits if isinstance(w, RetryAt)]
    assert len(seconds) == 200
    assert all(0 <= s <= 80 for s in seconds), (
        "the fourth failure waits at most 10 s × 2³"
    )
    assert len({round(s, 3) for s in seconds}) > 150, (
        "agencies failing together are not retried in step"
    )


def test_a_retry_is_never_scheduled_after_the_give_up_time_and_a_failure_then_gives_up() -> (
    None
):
    started = NOW - timedelta(minutes=59, seconds=50)
    outcome = after_failure(
        Due(9, started, "HTTP 500"), POLICY, "HTTP 502", NOW, Ceiling()
    )
    assert outcome == RetryAt(started + POLICY.give_up_after, 10, started)
    given_up = after_failure(
        Due(10, started, "HTTP 502"),
        POLICY,
        "ReadTimeout",
        started + POLICY.give_up_after,
        Ceiling(),
    )
    assert given_up == GiveUp(11, "webhook gave up after 11 attempts: ReadTimeout")


def test_an_agency_that_never_answers_is_given_up_at_its_give_up_time_not_a_backoff_later() -> (
    None
):
    rng, due, now, breaker = random.Random(3), NEW, NOW, Breaker(BREAKER)
    while True:
        decision = before_attempt(AGENCY, due, POLICY, Controls(breaker=breaker), now)
        if isinstance(decision, GiveUp):
            break
        if isinstance(decision, Hold):
            due, now = (
                Due(due.attempts, decision.clock_from, due.last_error),
                decision.until,
            )
            continue
        breaker = decision.breaker.failed(now)
        outcome = after_failure(
            Due(due.attempts, due.first_attempt_at or now, due.last_error),
            POLICY,
            "HTTP 503",
            now,
            rng,
        )
        assert isinstance(outcome, RetryAt)
        due, now = (
            Due(outcome.attempts, outcome.first_attempt_at, "HTTP 503"),
            outcome.at,
        )
    assert now == NOW + POLICY.give_up_after
    assert decision.reason == f"webhook gave up after {due.attempts} attempts: HTTP 503"
    assert 3 <= due.attempts < 60, (
        "the breaker spaced the attempts out to one probe per cool-down"
    )
