"""Per-agency circuit breaker and operator pause: whether a delivery to an agency may be tried now.

When an agency's endpoint keeps failing, hammering it helps nobody: after
``failures_to_open`` consecutive failures the breaker opens and deliveries
wait; after ``cool_down`` one probe is let through (half-open); its success
closes the breaker, its failure opens it again for another cool-down. The
breaker is a value: every method takes the time and returns a new breaker,
so the notifier can store it in a row and tests never sleep.

Operations staff can also pause an agency (say, during its planned outage);
a pause wins over the breaker.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failures_to_open: int = 5
    cool_down: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if self.failures_to_open < 1:
            raise ValueError("failures_to_open must be at least 1")
        if self.cool_down <= timedelta(0):
            raise ValueError("cool_down must be positive")


@dataclass(frozen=True)
class Breaker:
    policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    consecutive_failures: int = 0
    opened_at: datetime | None = None
    probe_started_at: datetime | None = None

    def state(self, now: datetime) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if now < self.opened_at + self.policy.cool_down:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def reopens_at(self) -> datetime | None:
        """When an open breaker lets its next probe through; ``None`` when closed."""
        return (
            None if self.opened_at is None else self.opened_at + self.policy.cool_down
        )

    def allows_attempt(self, now: datetime) -> bool:
        state = self.state(now)
        if state is BreakerState.HALF_OPEN:
            return not self._probe_in_flight(now)
        return state is BreakerState.CLOSED

    def attempt_started(self, now: datetime) -> "Breaker":
        """Note an attempt; in half-open this is the one probe, and others wait for its result."""
        if self.state(now) is BreakerState.HALF_OPEN:
            return replace(self, probe_started_at=now)
        return self

    def succeeded(self, now: datetime) -> "Breaker":
        """Any success proves the agency is reachable: close and forget past failures."""
        return Breaker(self.policy)

    def failed(self, now: datetime) -> "Breaker":
        failures = self.consecutive_failures + 1
        if self.opened_at is not None or failures >= self.policy.failures_to_open:
            return replace(
                self,
                consecutive_failures=failures,
                opened_at=now,
                probe_started_at=None,
            )
        return replace(self, consecutive_failures=failures)

    def _probe_in_flight(self, now: datetime) -> bool:
        # A probe that never reported back within a cool-down is presumed lost, so another may go.
        started = self.probe_started_at
        return started is not None and now < started + self.policy.cool_down


@dataclass(frozen=True)
class Permission:
    allowed: bool
    reason: str | None = None
    not_before: datetime | None = None
    """When to look again; ``None`` when allowed, or when paused until an operator resumes."""


def may_attempt(
    agency_id: str,
    paused: Mapping[str, datetime | None],
    breaker: Breaker | None,
    now: datetime,
) -> Permission:
    """Whether a delivery to ``agency_id`` may be tried at ``now``.

    ``paused`` maps each paused agency to when its pause ends, or ``None`` for
    a pause that lasts until someone resumes it.
    """
    if agency_id in paused:
        until = paused[agency_id]
        if until is None:
            return Permission(
                False, "deliveries to this agency are paused by operations"
            )
        if now < until:
            return Permission(
                False,
                f"deliveries to this agency are paused until {until.isoformat()}",
                until,
            )
    if breaker is None:
        return Permission(True)
    state = breaker.state(now)
    if state is BreakerState.OPEN:
        return Permission(
            False, "circuit open after repeated failures", breaker.reopens_at()
        )
    if not breaker.allows_attempt(now):
        probe = breaker.probe_started_at
        return Permission(
            False,
            "a probe delivery is in flight",
            None if probe is None else probe + breaker.policy.cool_down,
        )
    return Permission(True)


BREAKER = (
    BreakerPolicy()
)  # opens after 5 failures in a row, probes again after a minute
