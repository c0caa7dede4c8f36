"""A 429 on intake's FHIR endpoints as BaRS senders expect it: an OperationOutcome they retry.

The abuse limits are the runtime library's (signpost/rate_limit.py), which answers RFC 9457 problem details and
knows no FHIR; intake puts this handler in front of it for its FHIR paths.
"""

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from services.intake.domain.fhir.codes import HTTP_ERROR_CODES
from services.intake.domain.fhir.outcome import (
    FHIR_JSON,
    FHIR_PREFIX,
    UK_CORE_OPERATION_OUTCOME,
)
from signpost import rate_limit


def throttled_outcome(detail: str) -> dict[str, Any]:
    """The ``throttled`` issue with BaRS's code, which BaRS senders retry."""
    bars = {
        "system": HTTP_ERROR_CODES,
        "code": "REC_TOO_MANY_REQUESTS",
        "display": "429: Too Many Requests.",
    }
    issue = {
        "severity": "error",
        "code": "throttled",
        "details": {"coding": [bars]},
        "diagnostics": detail,
    }
    return {
        "resourceType": "OperationOutcome",
        "meta": {"profile": [UK_CORE_OPERATION_OUTCOME]},
        "issue": [issue],
    }


async def refused(request: Request, exc: Exception) -> JSONResponse:
    """An OperationOutcome on the FHIR paths, the runtime's problem details elsewhere."""
    if not request.url.path.startswith(f"{FHIR_PREFIX}/"):
        return await rate_limit.refused(request, exc)
    assert isinstance(exc, rate_limit.RateLimited)
    headers = {"Retry-After": str(exc.retry_after_s)}
    return JSONResponse(
        throttled_outcome(str(exc.detail)),
        status_code=429,
        media_type=FHIR_JSON,
        headers=headers,
    )
