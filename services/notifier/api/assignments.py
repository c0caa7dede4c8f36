"""Agencies report outcomes over HTTP: ``POST /v1/assignments/{id}/outcomes``.

The same recording path as the agency's outcomes topic. A report an agency
repeats with the same ``report_id`` gets the first answer again; an illegal
move gets 409 with the reason, another agency's assignment 404.
"""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.events import AgencyOutcome, Note
from schemas.vocabulary import CompletionOutcome, DeclineReason, OutcomeCode
from services.notifier.handlers.outcomes import OutcomeRefused, Refusal, record_outcome
from services.notifier.store import deliveries
from services.notifier.store import outcomes as reports
from services.notifier.store import timers as timer_rows
from signpost.access import record_access
from signpost.auth import Authenticated
from signpost.clients import Principal
from signpost.http import problem
from signpost.service import Runtime

router = APIRouter(prefix="/v1", tags=["outcomes"])


class OutcomeReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    report_id: UUID | None = Field(
        default=None,
        description="the agency's id for this report; repeating it is safe",
    )
    outcome: OutcomeCode
    decline_reason: DeclineReason | None = Field(
        default=None, description="required when declined"
    )
    completion: CompletionOutcome | None = Field(
        default=None, description="required when completed"
    )
    note: Note | None = None
    occurred_at: datetime | None = Field(
        default=None, description="when it happened; defaults to now"
    )


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _agency_of(principal: Principal) -> str | None:
    return principal.agency_id if principal.role == "agency" else None


@router.post("/assignments/{assignment_id}/outcomes", status_code=201)
async def report_outcome(
    assignment_id: Annotated[UUID, Path()],
    body: OutcomeReport,
    request: Request,
    principal: Authenticated,
) -> JSONResponse:
    """Record an agency's outcome on one of its own assignments."""
    agency_id = _agency_of(principal)
    if agency_id is None:
        return problem(
            403,
            "Forbidden",
            "only an agency's own client may report outcomes on its assignments",
        )
    try:
        report = AgencyOutcome(
            event_id=body.report_id or uuid.uuid4(),
            assignment_id=assignment_id,
            outcome=body.outcome,
            decline_reason=body.decline_reason,
            completion=body.completion,
            note=body.note,
            occurred_at=body.occurred_at or datetime.now(UTC),
        )
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(map(str, e["loc"])) or "(body)",
                "rule": e["type"],
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        return problem(
            422,
            "Unprocessable Content",
            "the outcome's detail does not fit the outcome",
            errors=errors,
        )
    try:
        async with _runtime(request).pool.acquire() as conn, conn.transaction():
            recorded = await record_outcome(
                conn,
                report,
                agency_id=agency_id,
                reported_by=principal.client_id,
                channel="http",
            )
    except OutcomeRefused as refused:
        if refused.kind is Refusal.NOT_FOUND:
            return problem(404, "Not Found", refused.reason)
        return problem(
            409,
            "Conflict",
            refused.reason,
            assignment_id=str(assignment_id),
            outcome=body.outcome.value,
        )
    answer: dict[str, Any] = {
        "assignment_id": recorded.assignment_id,
        "report_id": str(report.event_id),
        "previous_state": recorded.previous_state,
        "state": recorded.state,
    }
    return JSONResponse(answer, status_code=200 if recorded.repeat else 201)


@router.get("/assignments/{assignment_id}")
async def assignment(
    assignment_id: Annotated[UUID, Path()], request: Request, principal: Authenticated
) -> JSONResponse:
    """Where an assignment stands, its outcomes and its SLA timers: for its agency and for operations."""
    agency_id = _agency_of(principal)
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        row = await deliveries.assignment(conn, assignment_id)
        shown = (
            row
            if row is not None
            and (principal.role == "operations" or row["agency_id"] == agency_id)
            else None
        )
        await record_access(
            conn,
            producer="notifier",
            principal=principal,
            function="read assignment",
            correlation_id=request.state.correlation_id,
            granted=shown is not None,
            referral_id=shown["referral_id"] if shown else None,
            patient_key=shown["patient_key"] if shown else None,
        )
        if row is None or shown is None:
            return problem(
                404,
                "Not Found",
                f"no assignment {assignment_id} is visible to this client",
            )
        history = await reports.history(conn, assignment_id)
        timers = await timer_rows.of_assignment(conn, assignment_id)
    body = {
        "assignment_id": str(assignment_id),
        "referral_id": str(row["referral_id"]),
        "agency_id": row["agency_id"],
        "service_type": row["service_type"],
        "state": row["state"],
        "accepted": row["accepted"],
        "delivered_at": row["delivered_at"].isoformat(),
        "outcomes": [
            {**dict(h), "recorded_at": h["recorded_at"].isoformat()} for h in history
        ],
        "timers": [
            {
                k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in dict(t).items()
            }
            for t in timers
        ],
    }
    return JSONResponse(body)
