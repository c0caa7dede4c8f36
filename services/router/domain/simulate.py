"""What-if: the same stored referrals through a candidate rule set, compared decision by decision."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from schemas.referral import Referral
from services.router.domain.decide import Decision, decide
from services.router.domain.directory import Directory
from services.router.domain.rules import RuleSet


@dataclass(frozen=True)
class Change:
    referral_id: UUID
    before: tuple[str, ...]
    after: tuple[str, ...]
    responsible: tuple[
        str, ...
    ]  # rule ids of the candidate decision, or the unroutable reason

    @property
    def becomes_unroutable(self) -> bool:
        return bool(self.before) and not self.after


def summary(decision: Decision) -> tuple[str, ...]:
    return tuple(f"{a.service_type.value}:{a.agency_id}" for a in decision.assignments)


def compare(
    stored: Iterable[tuple[UUID, Referral, datetime]],
    directory: Directory,
    current: RuleSet,
    candidate: RuleSet,
) -> list[Change]:
    """Each referral decided at its original time under both rule sets; only the decisions that differ."""
    changes = []
    for referral_id, referral, at in stored:
        old, new = (
            decide(referral, directory, current, at),
            decide(referral, directory, candidate, at),
        )
        if summary(old) != summary(new):
            responsible = tuple(a.rule_id for a in new.assignments) or (
                new.unroutable_reason or "unroutable",
            )
            changes.append(Change(referral_id, summary(old), summary(new), responsible))
    return changes
