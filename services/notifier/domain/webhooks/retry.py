"""When to try a failed webhook delivery again, and when to stop and dead-letter it.

Delays grow exponentially up to a ceiling, and each is drawn uniformly from
zero to that ceiling ("full jitter"), so agencies that fail together do not
all get retried in the same second when they come back. A pharmacy closed for
a bank holiday weekend needs retries spread over days; a flaky endpoint needs
minutes: both are the same policy with different numbers.
"""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    initial: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    max_delay: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(days=3)

    def __post_init__(self) -> None:
        if self.initial <= timedelta(0):
            raise ValueError("initial retry delay must be positive")
        if self.factor < 1:
            raise ValueError("retry factor must be at least 1, or delays would shrink")
        if self.max_delay < self.initial:
            raise ValueError("max_delay must be at least the initial delay")
        if self.give_up_after <= timedelta(0):
            raise ValueError("give_up_after must be positive")

    def ceiling(self, attempt: int) -> timedelta:
        """The longest wait after the ``attempt``-th failure (1 for the first): initial × factor^(attempt−1), capped."""
        if attempt < 1:
            raise ValueError("attempts are counted from 1")
        initial, cap = self.initial.total_seconds(), self.max_delay.total_seconds()
        # Compare exponents in logs, so the thousandth attempt neither overflows a float nor builds a huge integer.
        if self.factor > 1 and attempt - 1 >= math.log(cap / initial, self.factor):
            return self.max_delay
        return timedelta(
            seconds=min(initial * float(self.factor) ** (attempt - 1), cap)
        )

    def next_attempt_delay(self, attempt: int, rng: random.Random) -> timedelta:
        """How long to wait after the ``attempt``-th failure: uniform between zero and ``ceiling(attempt)``."""
        return timedelta(seconds=rng.uniform(0, self.ceiling(attempt).total_seconds()))

    def should_dead_letter(self, first_attempt_at: datetime, now: datetime) -> bool:
        """Whether the delivery has been failing for long enough to stop and hand it to operations."""
        return now - first_attempt_at >= self.give_up_after
