"""BaRS over FHIR: ``$process-message`` takes a servicerequest-request Bundle.

The Bundle is mapped onto the same internal referral the JSON API takes and
stored the same way (one transaction, outbox, X-Request-Id replay). Answers
and errors are FHIR OperationOutcome, as BaRS receivers expect.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from schemas.events import ReferralSubmitted
from services.intake.api.callers import Caller
from services.intake.api.fhir.reads import router as read_router
from services.intake.api.referrals import Conflict, accept
from services.intake.domain.access import may_submit
from services.intake.domain.fhir import (
    FhirRejection,
    Issue,
    accepted_outcome,
    operation_outcome,
    parse_bundle,
    to_referral,
)
from services.intake.domain.fhir.outcome import FHIR_JSON

router = APIRouter(prefix="/v1/fhir", tags=["fhir"])

_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            FHIR_JSON: {
                "schema": {
                    "type": "object",
                    "description": "BaRS servicerequest-request message Bundle",
                }
            }
        },
    }
}


@router.post("/$process-message", status_code=202, openapi_extra=_BODY)
async def process_message(
    request: Request,
    principal: Caller,
    x_request_id: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    """Accept a BaRS referral message. 202 with an informational OperationOutcome carrying the referral id."""
    try:
        referral = to_referral(parse_bundle(await request.body()))
    except FhirRejection as rejection:
        return _outcome(rejection.http_status, operation_outcome(rejection.issues))
    refusal = may_submit(principal, referral)
    if refusal:
        return _outcome(
            403, operation_outcome([Issue(code="forbidden", diagnostics=refusal)])
        )

    def answer(event: ReferralSubmitted) -> dict[str, Any]:
        return accepted_outcome(event.referral_id)

    outcome = await accept(
        request, principal, referral, x_request_id, source="fhir", answer=answer
    )
    if isinstance(outcome, Conflict):
        return _outcome(
            409, operation_outcome([Issue(code="conflict", diagnostics=outcome.detail)])
        )
    status, body = outcome
    return _outcome(status, body)


def _outcome(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


# The referrer's reads (ServiceRequest, Task) under the same FHIR base.
router.include_router(read_router)
