"""The SLA policy held to each pathway's clinical timescale (hazards HAZ-003 and HAZ-007).

The policy in ``sla.py`` is configuration a network may edit. An edit that lets a
timer run past the pathway's clinical timescale, or leaves a service with no
timer that escalates, would let a referral wait unseen; such a policy is refused
when the notifier starts, naming the hazard, rather than discovered in an
incident review.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from schemas.vocabulary import ServiceType, Urgency
from services.notifier.domain.sla import (
    POLICY,
    ClockTime,
    Deadline,
    OnBreach,
    TimerName,
    TimerRule,
    WorkingDays,
)

Key = tuple[ServiceType, Urgency]

_PHARMACY_FIRST: Mapping[Urgency, Mapping[TimerName, Deadline]] = {
    # NHS Pharmacy First: the pharmacy contacts the patient the same working day, within two hours when urgent
    # and within the hour when it cannot wait; no contact by the next working day closes it back to the GP.
    Urgency.ROUTINE: {
        TimerName.FIRST_CONTACT: WorkingDays(0),
        TimerName.NO_CONTACT_CLOSE: WorkingDays(1),
    },
    Urgency.URGENT: {
        TimerName.FIRST_CONTACT: ClockTime(timedelta(hours=2)),
        TimerName.NO_CONTACT_CLOSE: WorkingDays(1),
    },
    Urgency.ASAP: {
        TimerName.FIRST_CONTACT: ClockTime(timedelta(hours=1)),
        TimerName.NO_CONTACT_CLOSE: WorkingDays(1),
    },
}
_COMMUNITY: Mapping[Urgency, Mapping[TimerName, Deadline]] = {
    Urgency.ROUTINE: {
        TimerName.ACCEPTANCE: WorkingDays(2),
        TimerName.FIRST_CONTACT: WorkingDays(5),
    },
    Urgency.URGENT: {
        TimerName.ACCEPTANCE: WorkingDays(1),
        TimerName.FIRST_CONTACT: WorkingDays(2),
    },
    Urgency.ASAP: {
        TimerName.ACCEPTANCE: ClockTime(timedelta(hours=4)),
        TimerName.FIRST_CONTACT: WorkingDays(1),
    },
}
_HUDDLE: Mapping[Urgency, Mapping[TimerName, Deadline]] = {
    # Croydon's huddles are fortnightly, but a referral must be on the agenda by the next working day.
    Urgency.ROUTINE: {TimerName.HUDDLE_AGENDA: WorkingDays(1)},
    Urgency.URGENT: {TimerName.HUDDLE_AGENDA: WorkingDays(0)},
    Urgency.ASAP: {TimerName.HUDDLE_AGENDA: WorkingDays(0)},
}

TIMESCALES: Mapping[Key, Mapping[TimerName, Deadline]] = {
    **{
        (service, urgency): limits
        for service in ServiceType
        for urgency, limits in _COMMUNITY.items()
    },
    **{
        (ServiceType.COMMUNITY_PHARMACY, urgency): limits
        for urgency, limits in _PHARMACY_FIRST.items()
    },
    **{
        (ServiceType.MDT_HUDDLE, urgency): limits for urgency, limits in _HUDDLE.items()
    },
}
"""The latest each timer may fall: the clinical timescale the pathway promises the patient."""

CLOCK_TIME_WITHIN_A_WORKING_DAY = timedelta(hours=8)
"""A clock-time timer counts as no later than a working-day limit when it is at most a working day's hours."""


@dataclass(frozen=True)
class Finding:
    hazard: str
    key: Key
    message: str

    def __str__(self) -> str:
        service, urgency = self.key
        return f"{self.hazard}: {service.value}/{urgency.value}: {self.message}"


def within(deadline: Deadline, limit: Deadline) -> bool:
    """Whether ``deadline`` never falls later than ``limit``."""
    if isinstance(limit, ClockTime):
        # Working days can stretch over a weekend: only clock time can keep a clock-time promise.
        return isinstance(deadline, ClockTime) and deadline.after <= limit.after
    if isinstance(deadline, WorkingDays):
        return deadline.days <= limit.days
    return deadline.after <= CLOCK_TIME_WITHIN_A_WORKING_DAY * (limit.days + 1)


def _describe(deadline: Deadline) -> str:
    if isinstance(deadline, ClockTime):
        return f"{deadline.after.total_seconds() / 3600:g} clock hours"
    return f"{deadline.days} working days"


def check(
    policy: Mapping[Key, tuple[TimerRule, ...]] = POLICY,
    timescales: Mapping[Key, Mapping[TimerName, Deadline]] = TIMESCALES,
) -> list[Finding]:
    """Every way ``policy`` breaks a clinical timescale; empty when it keeps them all."""
    found: list[Finding] = []
    for key, limits in timescales.items():
        rules = policy.get(key)
        if not rules:
            found.append(
                Finding(
                    "HAZ-007", key, "has no SLA timers, so nothing would ever escalate"
                )
            )
            continue
        if not any(r.on_breach is OnBreach.ESCALATE for r in rules):
            found.append(
                Finding("HAZ-007", key, "has no timer that escalates on breach")
            )
        by_name = {r.name: r for r in rules}
        for name, limit in limits.items():
            rule = by_name.get(name)
            if rule is None:
                found.append(
                    Finding(
                        "HAZ-003",
                        key,
                        f"has no {name.value} timer; its timescale is {_describe(limit)}",
                    )
                )
            elif not within(rule.deadline, limit):
                found.append(
                    Finding(
                        "HAZ-003",
                        key,
                        f"{name.value} falls after {_describe(rule.deadline)}, later than its clinical timescale"
                        f" of {_describe(limit)}",
                    )
                )
    return found


class UnsafePolicy(ValueError):
    """The SLA policy breaks a clinical timescale; the notifier refuses to start with it."""


def require_safe(policy: Mapping[Key, tuple[TimerRule, ...]] = POLICY) -> None:
    found = check(policy)
    if found:
        raise UnsafePolicy(
            "the SLA policy breaks clinical timescales: " + "; ".join(map(str, found))
        )
