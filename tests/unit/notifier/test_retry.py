"""Webhook retry delays: exponential ceilings, full jitter within them, and when to give up."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.domain.webhooks.retry import RetryPolicy

MINUTES = RetryPolicy(
    initial=timedelta(seconds=30),
    factor=2,
    max_delay=timedelta(minutes=10),
    give_up_after=timedelta(hours=1),
)
DAYS = RetryPolicy(
    initial=timedelta(minutes=5),
    factor=3,
    max_delay=timedelta(hours=12),
    give_up_after=timedelta(days=4),
)


class Highest(random.Random):
    """Always draws the top of the range, so a test can see the ceiling through the jitter."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_ceilings_grow_by_the_factor_until_the_maximum() -> None:
    assert [MINUTES.ceiling(n).total_seconds() for n in range(1, 8)] == [
        30,
        60,
        120,
        240,
        480,
        600,
        600,
    ]


def test_delays_at_the_top_of_their_range_grow_then_level_off() -> None:
    delays = [DAYS.next_attempt_delay(n, Highest()) for n in range(1, 10)]
    assert delays == sorted(delays)
    assert delays[0] == timedelta(minutes=5)
    assert delays[-1] == timedelta(hours=12)


def test_jittered_delays_stay_within_zero_and_the_ceiling() -> None:
    rng = random.Random(7)
    for attempt in range(1, 30):
        delay = MINUTES.next_attempt_delay(attempt, rng)
        assert timedelta(0) <= delay <= MINUTES.ceiling(attempt)


@given(
    rng=st.randoms(use_true_random=False),
    attempt=st.integers(min_value=1, max_value=1_000_000),
    initial_s=st.floats(min_value=0.001, max_value=3600),
    factor=st.floats(min_value=1, max_value=10),
    max_multiple=st.floats(min_value=1, max_value=10_000),
)
def test_full_jitter_is_always_between_zero_and_the_capped_ceiling(
    rng: random.Random,
    attempt: int,
    initial_s: float,
    factor: float,
    max_multiple: float,
) -> None:
    policy = RetryPolicy(
        timedelta(seconds=initial_s),
        factor,
        timedelta(seconds=initial_s * max_multiple),
        timedelta(days=7),
    )
    ceiling = policy.ceiling(attempt)
    assert policy.initial <= ceiling <= policy.max_delay
    assert timedelta(0) <= policy.next_attempt_delay(attempt, rng) <= ceiling


def test_the_millionth_attempt_neither_overflows_nor_stalls() -> None:
    assert DAYS.ceiling(1_000_000) == timedelta(hours=12)


def test_a_factor_of_one_retries_at_a_steady_pace() -> None:
    steady = RetryPolicy(
        timedelta(minutes=1), 1, timedelta(minutes=1), timedelta(hours=1)
    )
    assert steady.ceiling(1) == steady.ceiling(50) == timedelta(minutes=1)


def test_dead_letter_once_failing_for_the_whole_give_up_period() -> None:
    first = datetime(2026, 4, 3, 9, tzinfo=UTC)
    assert not DAYS.should_dead_letter(
        first, first + timedelta(days=4) - timedelta(seconds=1)
    )
    assert DAYS.should_dead_letter(first, first + timedelta(days=4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": timedelta(0)}, "initial"),
        ({"factor": 0.5}, "factor"),
        ({"initial": timedelta(hours=2), "max_delay": timedelta(hours=1)}, "max_delay"),
        ({"give_up_after": timedelta(0)}, "give_up_after"),
    ],
)
def test_a_policy_that_cannot_work_is_refused(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        MINUTES.ceiling(0)
