"""Intake's HTTP API: accept a referral, store it durably, answer 202."""

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from schemas.events import ReferralSubmitted
from schemas.referral import Referral
from services.intake.api.callers import Caller
from services.intake.api.cancellation import CancelRefused, CancelRequest, cancel
from services.intake.domain import patients
from services.intake.domain.access import may_submit, referrer_or_operations, visible_to
from services.intake.store import patient_links, referrals, replays
from signpost import database, logs
from signpost.access import record_access
from signpost.clients import Principal
from signpost.database import Conn
from signpost.http import problem
from signpost.service import Runtime

router = APIRouter(prefix="/v1")
log = logs.get_logger()


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.post("/referrals", status_code=202, tags=["referrals"])
async def submit_referral(
    referral: Referral,
    request: Request,
    principal: Caller,
    x_request_id: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    """Accept a referral. 202 means it is stored and will be routed; it is never lost."""
    refusal = may_submit(principal, referral)
    if refusal:
        return problem(403, "Forbidden", refusal)

    def answer(event: ReferralSubmitted) -> dict[str, Any]:
        return {
            "referral_id": str(event.referral_id),
            "journey_id": str(event.journey_id),
            "status": "submitted",
            "correlation_id": event.correlation_id,
        }

    outcome = await accept(
        request, principal, referral, x_request_id, source="json", answer=answer
    )
    if isinstance(outcome, Conflict):
        return problem(409, "Conflict", outcome.detail)
    status, body = outcome
    return JSONResponse(
        body,
        status_code=status,
        headers={"Location": f"/v1/referrals/{body['referral_id']}"},
    )


@dataclass(frozen=True)
class Conflict:
    detail: str


async def accept(
    request: Request,
    principal: Principal,
    referral: Referral,
    request_id: str | None,
    *,
    source: str,
    answer: Callable[[ReferralSubmitted], dict[str, Any]],
) -> tuple[int, dict[str, Any]] | Conflict:
    """Store the referral and its event in one statement; replay the first answer for a repeated X-Request-Id."""
    runtime = _runtime(request)
    client_id = principal.client_id
    # Serialised once: for the body hash and as the stored version.
    referral_json = referral.model_dump_json()
    body_hash = hashlib.sha256(f"{source}:{referral_json}".encode()).hexdigest()
    identity = patients.identify(
        runtime.settings.pseudonym_key.get_secret_value().encode(), referral
    )
    async with database.statements(runtime.pool) as conn:
        if request_id:
            replay = await _replay(conn, client_id, request_id, body_hash)
            if replay is not None:
                return replay
        referral_id = uuid.uuid4()
        try:
            # No BEGIN/COMMIT round trips: the referral, its event and the first answer to its X-Request-Id are one
            # statement, atomic by itself; a claim whose referral then failed to store only records what that traced
            # referral's own demographics showed.
            travel = await _travel(conn, identity, referral_id)
            event = _submitted_event(
                referral, referral_id, travel, request.state.correlation_id
            )
            body = answer(event)
            await referrals.record_submission(
                conn,
                event,
                client_id=client_id,
                source=source,
                referral_json=referral_json,
                answer=referrals.Answer(request_id, body_hash, 202, body)
                if request_id
                else None,
            )
        except asyncpg.UniqueViolationError:
            # A concurrent request with the same X-Request-Id won; answer as it did.
            replay = await _replay(conn, client_id, request_id or "", body_hash)
            if replay is not None:
                return replay
            raise
    logs.bind(referral_id=str(event.referral_id))
    # Whether it was linked, never by what: the log carries no name, birth date, address or key material.
    log.info(
        "referral accepted",
        source=source,
        untraced=event.untraced,
        linked=bool(event.linked_patient_keys),
    )
    return 202, body


async def _travel(
    conn: Conn, identity: patients.Identity, referral_id: uuid.UUID
) -> patients.Travel:
    """The key the referral travels under: a traced one claims the demographics, an untraced one follows a claim."""
    if identity.demographic_key is None:
        return patients.travel(identity, None)
    link: patients.Link | None
    if identity.traced:
        link = await patient_links.claim_link(
            conn, identity.demographic_key, identity.own_key, referral_id
        )
    else:
        link = await patient_links.find_link(conn, identity.demographic_key)
    return patients.travel(identity, link)


async def _replay(
    conn: Conn, client_id: str, request_id: str, body_hash: str
) -> tuple[int, dict[str, Any]] | Conflict | None:
    previous = await replays.find_replay(conn, client_id, request_id)
    if previous is None:
        return None
    if previous["body_hash"] != body_hash:
        return Conflict("X-Request-Id was already used with a different body")
    return previous["status_code"], json.loads(previous["response"])


def _submitted_event(
    referral: Referral,
    referral_id: uuid.UUID,
    travel: patients.Travel,
    correlation_id: str,
) -> ReferralSubmitted:
    return ReferralSubmitted(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        correlation_id=correlation_id,
        journey_id=uuid.uuid4(),
        producer="intake",
        patient_key=travel.patient_key,
        referral_id=referral_id,
        referral=referral,
        untraced=referral.patient.untraced,
        linked_patient_keys=travel.linked_patient_keys,
    )


@router.get("/referrals/{referral_id}", tags=["referrals"])
async def get_referral(
    referral_id: uuid.UUID, request: Request, principal: Caller
) -> JSONResponse:
    """One referral, as far as the caller may see it.

    The organisation that sent it and operations see its status, every
    assignment and every version. An agency sees only its own open
    assignments, each with the minimised case it was sent (``agency_view``).
    Anyone else, and an agency whose part is over, gets the same 404 as for a
    referral that does not exist, so ids cannot be probed.
    """
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        summary = await referrals.referral_summary(conn, referral_id)
        shown = None if summary is None else visible_to(principal, summary)
        await record_access(
            conn,
            producer="intake",
            principal=principal,
            function="read referral",
            correlation_id=request.state.correlation_id,
            granted=shown is not None,
            referral_id=referral_id,
            patient_key=str(summary["patient_key"])
            if summary and shown is not None
            else None,
        )
    if shown is None:
        return problem(
            404, "Not Found", "no referral with that id is visible to this client"
        )
    return JSONResponse(shown)


@router.post("/referrals/{referral_id}/cancel", status_code=202, tags=["referrals"])
async def cancel_referral(
    referral_id: uuid.UUID,
    body: CancelRequest,
    request: Request,
    principal: Caller,
) -> JSONResponse:
    """Revoke a referral. Only its referrer (or operations) may; a completed referral cannot be cancelled."""
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        summary = await referrals.referral_summary(conn, referral_id)
        if summary is None or visible_to(principal, summary) is None:
            return problem(
                404, "Not Found", "no referral with that id is visible to this client"
            )
        if not referrer_or_operations(principal, summary):
            return problem(
                403,
                "Forbidden",
                "only the referring organisation or operations may cancel a referral",
            )
        try:
            event = await cancel(
                conn,
                referral_id,
                body.reason,
                principal.client_id,
                request.state.correlation_id,
            )
        except CancelRefused as refused:
            return problem(
                refused.status,
                "Conflict" if refused.status == 409 else "Not Found",
                refused.detail,
            )
    logs.bind(referral_id=str(referral_id))
    log.info("referral cancelled")
    return JSONResponse(
        {
            "referral_id": str(referral_id),
            "status": "cancelled",
            "event_id": str(event.event_id),
        },
        status_code=202,
    )
