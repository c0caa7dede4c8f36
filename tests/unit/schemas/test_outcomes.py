"""Outcome reports: a decline says why, a completion says how, and nothing else carries either."""

from datetime import UTC, datetime
from itertools import product
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from schemas.events import AgencyOutcome, FeedbackSummary, OutcomeRecorded
from schemas.outcomes import outcome_detail_problem
from schemas.vocabulary import (
    CompletionOutcome,
    DeclineReason,
    OutcomeCode,
    ServiceType,
)
from tests.unit.schemas.factories import ENVELOPE

REASON = DeclineReason.NOT_AVAILABLE_IN_TIMESCALE
COMPLETION = CompletionOutcome.MEDICINE_SUPPLIED
COMBINATIONS = list(product(OutcomeCode, (None, REASON), (None, COMPLETION)))


def expected_problem(
    outcome: OutcomeCode,
    reason: DeclineReason | None,
    completion: CompletionOutcome | None,
) -> str | None:
    if outcome is OutcomeCode.DECLINED:
        return None if reason and not completion else "declined outcome"
    if outcome is OutcomeCode.COMPLETED:
        return None if completion and not reason else "completed outcome"
    return (
        None
        if not (reason or completion)
        else f"an outcome of {outcome.value} carries neither decline_reason nor completion"
    )


def report(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(UUID(int=1)),
        "assignment_id": str(UUID(int=2)),
        "occurred_at": "2026-01-15T09:30:00Z",
        **fields,
    }


@pytest.mark.parametrize(
    ("outcome", "reason", "completion"), COMBINATIONS, ids=lambda v: str(v)
)
def test_every_combination_of_outcome_and_detail(
    outcome: OutcomeCode,
    reason: DeclineReason | None,
    completion: CompletionOutcome | None,
) -> None:
    data = report(outcome=outcome.value, decline_reason=reason, completion=completion)
    problem = expected_problem(outcome, reason, completion)
    if problem is None:
        parsed = AgencyOutcome.model_validate(data)
        assert (parsed.outcome, parsed.decline_reason, parsed.completion) == (
            outcome,
            reason,
            completion,
        )
    else:
        with pytest.raises(ValidationError, match=problem) as caught:
            AgencyOutcome.model_validate(data)
        assert caught.value.errors()[0]["type"] == "outcome_detail"


@pytest.mark.parametrize(
    ("outcome", "reason", "completion", "message"),
    [
        (OutcomeCode.DECLINED, None, None, "a declined outcome needs a decline_reason"),
        (
            OutcomeCode.DECLINED,
            REASON,
            COMPLETION,
            "a declined outcome cannot have a completion",
        ),
        (OutcomeCode.COMPLETED, None, None, "a completed outcome needs a completion"),
        (
            OutcomeCode.COMPLETED,
            REASON,
            COMPLETION,
            "a completed outcome cannot have a decline_reason",
        ),
        (
            OutcomeCode.ACCEPTED,
            REASON,
            None,
            "an outcome of accepted carries neither decline_reason nor completion",
        ),
    ],
)
def test_each_inconsistency_is_named(
    outcome: OutcomeCode,
    reason: DeclineReason | None,
    completion: CompletionOutcome | None,
    message: str,
) -> None:
    assert outcome_detail_problem(outcome, reason, completion) == message


def test_the_recorded_outcome_obeys_the_same_rule() -> None:
    with pytest.raises(
        ValidationError, match="a declined outcome needs a decline_reason"
    ):
        OutcomeRecorded(
            **ENVELOPE,
            assignment_id=UUID(int=2),
            agency_id="demo-pharmacy",
            service_type=ServiceType.COMMUNITY_PHARMACY,
            outcome=OutcomeCode.DECLINED,
            reported_by="demo-pharmacy-system",
            previous_state="offered",
        )


def test_feedback_summary_obeys_the_rule_only_when_it_names_an_outcome() -> None:
    FeedbackSummary(contacted_at=datetime(2026, 1, 15, tzinfo=UTC))
    with pytest.raises(ValidationError, match="a completed outcome needs a completion"):
        FeedbackSummary(outcome=OutcomeCode.COMPLETED)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"outcome": "accepted", "note": "x" * 2001}, "at most 2000 characters"),
        (
            {"outcome": "accepted", "note": "bad\x00note"},
            "control characters other than newline and tab",
        ),
        (
            {"outcome": "accepted", "agency_id": "someone-else"},
            "Extra inputs are not permitted",
        ),
        ({"outcome": "lost"}, "Input should be 'accepted'"),
        (
            {"outcome": "declined", "decline_reason": "too_busy"},
            "Input should be 'not_available_in_timescale'",
        ),
    ],
)
def test_an_agency_report_is_refused_for_other_faults(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        AgencyOutcome.model_validate(report(**fields))


def test_an_agency_need_not_name_the_message_type() -> None:
    assert (
        AgencyOutcome.model_validate(report(outcome="accepted")).type
        == "agency.outcome"
    )
