"""The date a referral is judged on.

Eligibility and "not born in the future" depend on the date. A referral
arriving over HTTP is judged on today's date in England. A referral inside an
event is judged on the date of that event: a UTI referral for a woman of 64,
accepted the day before her 65th birthday, must still parse when the router
reads it the next morning, or when an event is replayed a year later.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

_judged_on: ContextVar[date | None] = ContextVar(
    "signpost_referral_judged_on", default=None
)


def london_today() -> date:
    return datetime.now(LONDON).date()


def london_date(moment: datetime) -> date:
    """The calendar date in England at ``moment``; a naive time is taken as UTC, as every producer writes UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(LONDON).date()


@contextmanager
def judged_on(day: date) -> Iterator[None]:
    """Validate referrals as of ``day`` instead of today, within this block."""
    token = _judged_on.set(day)
    try:
        yield
    finally:
        _judged_on.reset(token)


def reference_date() -> date:
    """The date referral rules use now: the enclosing ``judged_on`` day, else today in London."""
    return _judged_on.get() or london_today()
