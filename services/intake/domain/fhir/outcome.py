"""How intake answers a FHIR sender: OperationOutcome, as BaRS receivers must.

A refused message gets every problem found, each with the FHIR issue type,
a sentence the sender's developers can act on, and the FHIRPath of the
element at fault. BaRS asks receivers to tag issues with its HTTP error
codes too, so a sender's support desk can tell a bad request from one that
was understood but cannot be accepted. A fault Signpost can wait out (its
database restarting) is 503 with Retry-After and a ``transient`` issue coded
REC_SERVICE_UNAVAILABLE, never a 500 (``api.fhir.unavailable`` answers it).
Pure: the HTTP edge sends what this builds.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from fhir.resources.R4B.operationoutcome import OperationOutcome, OperationOutcomeIssue

from services.intake.domain.fhir.codes import HTTP_ERROR_CODES, SIGNPOST_OUTCOME

IssueCode = Literal[
    "structure",
    "required",
    "value",
    "invalid",
    "not-supported",
    "business-rule",
    "forbidden",
    "conflict",
    "transient",
]
Severity = Literal["fatal", "error", "warning", "information"]

UK_CORE_OPERATION_OUTCOME = (
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-OperationOutcome"
)
FHIR_PREFIX = "/v1/fhir"
FHIR_JSON = "application/fhir+json"
# Understood, but Signpost will not act on it: 422 rather than 400.
_UNPROCESSABLE: frozenset[IssueCode] = frozenset({"not-supported", "business-rule"})
# BaRS's code for each issue type that is not a plain bad request.
_BARS_CODES: dict[str, str] = {
    "not-supported": "REC_UNPROCESSABLE_ENTITY",
    "business-rule": "REC_UNPROCESSABLE_ENTITY",
    "transient": "REC_SERVICE_UNAVAILABLE",
}


@dataclass(frozen=True)
class Issue:
    code: IssueCode
    diagnostics: str
    expression: str | None = None
    severity: Severity = "error"


class FhirRejection(Exception):
    """A BaRS message intake will not accept, with every reason found."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        if not issues:
            raise ValueError("a rejection needs at least one issue")
        self.issues = tuple(issues)
        super().__init__("; ".join(i.diagnostics for i in self.issues))

    @property
    def http_status(self) -> int:
        """400 for a malformed message; 422 when it parsed but asks for something Signpost refuses."""
        return 422 if all(i.code in _UNPROCESSABLE for i in self.issues) else 400


def operation_outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    """The issues as an OperationOutcome (UK Core profile), as JSON-ready data."""
    return _as_json(
        OperationOutcome(
            meta={"profile": [UK_CORE_OPERATION_OUTCOME]},
            issue=[_fhir_issue(i) for i in issues],
        )
    )


def accepted_outcome(referral_id: str | UUID) -> dict[str, Any]:
    """An informational OperationOutcome telling the sender its referral was accepted, and under which id."""
    issue = OperationOutcomeIssue(
        severity="information",
        code="informational",
        details={
            "coding": [
                {
                    "system": SIGNPOST_OUTCOME,
                    "code": "accepted",
                    "display": "Referral accepted",
                }
            ],
            "text": f"Referral {referral_id} accepted",
        },
        diagnostics=f"referral_id={referral_id}",
    )
    return _as_json(
        OperationOutcome(meta={"profile": [UK_CORE_OPERATION_OUTCOME]}, issue=[issue])
    )


def _fhir_issue(issue: Issue) -> OperationOutcomeIssue:
    bars_code = _BARS_CODES.get(issue.code, "REC_BAD_REQUEST")
    return OperationOutcomeIssue(
        severity=issue.severity,
        code=issue.code,
        details={"coding": [{"system": HTTP_ERROR_CODES, "code": bars_code}]},
        diagnostics=issue.diagnostics,
        expression=[issue.expression] if issue.expression else None,
    )


def _as_json(outcome: OperationOutcome) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(outcome.model_dump_json())
    return data
