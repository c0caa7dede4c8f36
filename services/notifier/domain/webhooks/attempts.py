"""What to do with one due webhook delivery, before trying it and after it failed.

Pure: the sender reads the delivery, the agency's pause and its breaker from
the database, asks here, and writes the answer back. The give-up clock starts
when Signpost first tries the delivery (or is first held back by the breaker),
and an operator's pause stops it: a delivery held over a weekend's planned
outage gets its full retry window once the pause ends, instead of being
dead-lettered the moment it comes back.
"""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.notifier.domain.webhooks.breaker import Breaker, may_attempt
from services.notifier.domain.webhooks.retry import RetryPolicy

# A pause until someone resumes has no end to wait for; resume makes the deliveries due at once anyway.
PAUSE_RECHECK = timedelta(hours=1)


@dataclass(frozen=True)
class Due:
    attempts: int
    first_attempt_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Controls:
    """The agency's pause switch and circuit breaker, as stored."""

    paused: bool = False
    paused_until: datetime | None = None
    breaker: Breaker = field(default_factory=Breaker)


@dataclass(frozen=True)
class Send:
    breaker: Breaker  # with this attempt noted: in half-open it is the one probe


@dataclass(frozen=True)
class Hold:
    until: datetime
    reason: str
    clock_from: (
        datetime | None
    )  # the give-up clock's new start; None while paused, so it starts again afterwards


@dataclass(frozen=True)
class RetryAt:
    at: datetime
    attempts: int
    first_attempt_at: datetime


@dataclass(frozen=True)
class GiveUp:
    attempts: int
    reason: str


def gave_up(attempts: int, error: str) -> str:
    return f"webhook gave up after {attempts} attempts: {error}"[:2000]


def before_attempt(
    agency_id: str, due: Due, policy: RetryPolicy, controls: Controls, now: datetime
) -> Send | Hold | GiveUp:
    paused = {agency_id: controls.paused_until} if controls.paused else {}
    permission = may_attempt(agency_id, paused, controls.breaker, now)
    reason = permission.reason or "held back"
    if controls.paused and (
        controls.paused_until is None or now < controls.paused_until
    ):
        return Hold(
            controls.paused_until or now + PAUSE_RECHECK, reason, clock_from=None
        )
    first = due.first_attempt_at
    if first is not None and policy.should_dead_letter(first, now):
        # Out of time even if the breaker held it back: operations take it from here.
        return GiveUp(due.attempts, gave_up(due.attempts, due.last_error or reason))
    if not permission.allowed:
        clock_from = first or now
        # Looked at again by its give-up time at the latest, so it is dead-lettered on time.
        until = min(
            permission.not_before or now + policy.initial,
            clock_from + policy.give_up_after,
        )
        return Hold(until, reason, clock_from)
    return Send(controls.breaker.attempt_started(now))


def after_failure(
    due: Due, policy: RetryPolicy, error: str, now: datetime, rng: random.Random
) -> RetryAt | GiveUp:
    """Back off with full jitter; never past the give-up time, where ``before_attempt`` dead-letters it."""
    attempts = due.attempts + 1
    first = due.first_attempt_at or now
    give_up_at = first + policy.give_up_after
    if now >= give_up_at:
        return GiveUp(attempts, gave_up(attempts, error))
    return RetryAt(
        min(now + policy.next_attempt_delay(attempts, rng), give_up_at), attempts, first
    )
