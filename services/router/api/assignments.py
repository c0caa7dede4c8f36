"""Operations staff route an unroutable referral by hand: ``POST /v1/referrals/{id}/assignments``.

The router still owns every assignment, so a hand assignment is made here,
stored with the decision and published as an ordinary ``referral.routed``
(rule ``hand-assignment``, the reason naming who chose it and why). The
notifier delivers it like any other. Only a referral that is unroutable now
can be assigned by hand; the action is recorded as an access, with its reason.
"""

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Assignment, ReferralRouted
from schemas.ids import derived_event_id
from schemas.referral import Referral
from schemas.text import SINGLE_LINE
from schemas.topics import REFERRAL_ROUTED
from services.router.domain.assignments import service_contexts
from services.router.domain.directory import described
from services.router.inputs import RoutingInputs
from services.router.store import assignments, cancellations, decisions
from services.router.store.directory import DirectoryCache
from signpost import logs
from signpost.access import record_access
from signpost.auth import Authenticated
from signpost.http import problem
from signpost.outbox import enqueue
from signpost.service import Runtime

RULE_ID = "hand-assignment"
router = APIRouter(prefix="/v1", tags=["operations"])
log = logs.get_logger()


class HandAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="a service in the directory"
    )
    reason: Annotated[str, SINGLE_LINE] = Field(
        min_length=3, max_length=500, description="why this service, for the record"
    )


@router.post("/referrals/{referral_id}/assignments", status_code=201)
async def assign_by_hand(
    referral_id: Annotated[UUID, Path()],
    body: HandAssignment,
    request: Request,
    principal: Authenticated,
) -> JSONResponse:
    """Assign an unroutable referral to a service chosen by operations staff."""
    runtime: Runtime = request.app.state.runtime
    if principal.role != "operations":
        return problem(
            403, "Forbidden", "only operations staff may assign a referral by hand"
        )
    inputs = runtime.part(RoutingInputs)
    _, rules = inputs.current()
    async with runtime.pool.acquire() as conn, conn.transaction():
        directory = await runtime.part(DirectoryCache).current(conn)
        service = directory.service(body.service_id)
        if service is None:
            return problem(
                422,
                "Unprocessable Content",
                f"service {body.service_id} is not in the directory",
            )
        await cancellations.lock(conn, [referral_id])
        row = await decisions.for_update(conn, referral_id)
        await record_access(
            conn,
            producer="router",
            principal=principal,
            function="assign by hand",
            correlation_id=request.state.correlation_id,
            granted=row is not None and row["outcome"] == "unroutable",
            referral_id=referral_id,
            patient_key=row["patient_key"] if row else None,
            detail=f"{body.service_id}: {body.reason}",
        )
        if row is None:
            return problem(
                404, "Not Found", f"the router has no referral {referral_id}"
            )
        if row[
            "outcome"
        ] == cancellations.CANCELLED or await cancellations.cancelled_among(
            conn, [referral_id]
        ):
            return problem(
                409,
                "Conflict",
                "the referral was cancelled by its referrer; it is not assigned again",
            )
        if row["outcome"] != "unroutable":
            return problem(
                409,
                "Conflict",
                "the referral is already routed; only an unroutable referral is assigned by hand",
            )
        assignment = Assignment(
            assignment_id=uuid5(
                NAMESPACE_URL,
                f"signpost:hand-assignment:{referral_id}:{service.service_id}",
            ),
            service_id=service.service_id,
            service_type=service.service_type,
            agency_id=service.agency_id,
            network_id=service.network_ids[0],
            rule_id=RULE_ID,
            reason=f"assigned by hand by {principal.client_id}: {body.reason}",
        )
        routed = ReferralRouted(
            event_id=derived_event_id(assignment.assignment_id, "hand-routed"),
            occurred_at=datetime.now(UTC),
            correlation_id=row["correlation_id"] or request.state.correlation_id,
            journey_id=row["journey_id"] or derived_event_id(referral_id, "journey"),
            producer="router",
            patient_key=row["patient_key"],
            referral_id=referral_id,
            rule_set_version=rules.version,
            assignments=(assignment,),
            services=service_contexts(
                {
                    service.service_id: described(
                        directory, service.service_id, assignment.network_id
                    )
                },
                (assignment,),
            ),
            referral=Referral.model_validate_json(row["referral"]),
        )
        await assignments.add_by_hand(
            conn,
            (
                assignment.assignment_id,
                referral_id,
                service.service_id,
                service.service_type.value,
                service.agency_id,
                RULE_ID,
                assignment.reason,
            ),
        )
        await decisions.set_outcome(conn, referral_id, "routed")
        await enqueue(
            conn,
            topic=REFERRAL_ROUTED,
            key=row["patient_key"],
            event=routed,
            event_id=routed.event_id,
            headers={
                "event-type": routed.type,
                "correlation-id": routed.correlation_id,
            },
        )
    log.info("assigned by hand", agency=service.agency_id)
    answer: dict[str, Any] = {
        "referral_id": str(referral_id),
        "assignment": assignment.model_dump(mode="json"),
    }
    return JSONResponse(answer, status_code=201)
