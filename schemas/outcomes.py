"""Outcome details: a decline says why, a completion says how it ended, and no other outcome carries either.

The rule is checked by every model that carries an outcome, and stated again
in their JSON Schema so agencies that validate without Python agree.
"""

from typing import Any

from pydantic_core import PydanticCustomError

from schemas.vocabulary import CompletionOutcome, DeclineReason, OutcomeCode


def outcome_detail_problem(
    outcome: OutcomeCode,
    decline_reason: DeclineReason | None,
    completion: CompletionOutcome | None,
) -> str | None:
    """A decline says why, a completion says how it ended, and no other outcome carries either."""
    if outcome is OutcomeCode.DECLINED:
        if decline_reason is None:
            return "a declined outcome needs a decline_reason"
        if completion is not None:
            return "a declined outcome cannot have a completion"
    elif outcome is OutcomeCode.COMPLETED:
        if completion is None:
            return "a completed outcome needs a completion"
        if decline_reason is not None:
            return "a completed outcome cannot have a decline_reason"
    elif decline_reason is not None or completion is not None:
        return f"an outcome of {outcome.value} carries neither decline_reason nor completion"
    return None


def outcome_detail_json_schema() -> dict[str, Any]:
    """The same rule in JSON Schema, so agencies that validate without Python refuse what Signpost refuses."""
    others = [
        o.value
        for o in OutcomeCode
        if o not in (OutcomeCode.DECLINED, OutcomeCode.COMPLETED)
    ]

    def when(
        outcome: dict[str, Any], details: dict[str, Any], required: list[str]
    ) -> dict[str, Any]:
        return {
            "if": {"properties": {"outcome": outcome}, "required": ["outcome"]},
            "then": {"properties": details, "required": required},
        }

    null, code = {"type": "null"}, {"type": "string"}
    return {
        "allOf": [
            when(
                {"const": OutcomeCode.DECLINED.value},
                {"decline_reason": code, "completion": null},
                ["decline_reason"],
            ),
            when(
                {"const": OutcomeCode.COMPLETED.value},
                {"completion": code, "decline_reason": null},
                ["completion"],
            ),
            when({"enum": others}, {"decline_reason": null, "completion": null}, []),
        ]
    }


def refuse_inconsistent_outcome(
    outcome: OutcomeCode,
    decline_reason: DeclineReason | None,
    completion: CompletionOutcome | None,
) -> None:
    problem = outcome_detail_problem(outcome, decline_reason, completion)
    if problem:
        raise PydanticCustomError("outcome_detail", problem)
