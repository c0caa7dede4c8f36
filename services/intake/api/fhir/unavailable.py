"""A fault Signpost can wait out, on intake's FHIR paths: 503 with Retry-After as an OperationOutcome.

This module registers that rendering for the FHIR wing with ``signpost.http`` when it is imported.
"""

from fastapi.responses import JSONResponse

from services.intake.domain.fhir.outcome import (
    FHIR_JSON,
    FHIR_PREFIX,
    Issue,
    operation_outcome,
)
from signpost import http


def unavailable(retry_after_s: int, detail: str) -> JSONResponse:
    """503 as an OperationOutcome: a ``transient`` issue, BaRS code REC_SERVICE_UNAVAILABLE, said in words too."""
    body = operation_outcome([Issue(code="transient", diagnostics=detail)])
    return JSONResponse(
        body,
        status_code=503,
        media_type=FHIR_JSON,
        headers={"Retry-After": str(retry_after_s)},
    )


http.render_unavailable(FHIR_PREFIX, unavailable)
