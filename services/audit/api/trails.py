"""Audit's HTTP API for the log's trails: by referral, by patient, by search, and who viewed a patient.

Operations staff see everything; an agency sees only events about its own
assignments; referrers use intake. Every query is itself recorded as an
access event.
"""

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from schemas.nhs_number import is_valid_nhs_number
from services.audit.store import log as audit_log
from services.audit.store.log import Filters
from signpost.access import record_access
from signpost.auth import Authenticated
from signpost.clients import Principal
from signpost.http import problem
from signpost.pseudonym import patient_key
from signpost.service import Runtime

router = APIRouter(prefix="/v1")
# The log's seq is a PostgreSQL bigint: a larger after_seq is refused as bad input, not sent to the database.
MAX_SEQ = 2**63 - 1


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def agency_scope(principal: Principal, agency: str | None) -> str | None:
    """The agency filter a caller may use: operations any, an agency only its own."""
    if principal.role == "operations":
        return agency
    if (
        principal.role == "agency"
        and principal.agency_id
        and agency in (None, principal.agency_id)
    ):
        return principal.agency_id
    raise HTTPException(
        403,
        "the audit log is open to operations staff, and to agencies for their own assignments",
    )


async def _audited_page(
    request: Request,
    principal: Principal,
    filters: Filters,
    after_seq: int,
    limit: int,
    function: str,
    referral_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A page of the log, recorded as an access. A patient's page covers every key intake linked to theirs."""
    runtime = runtime_of(request)
    linked: list[str] = []
    async with runtime.pool.acquire() as conn, conn.transaction():
        if filters.patient_key:
            linked = await audit_log.linked_keys(conn, filters.patient_key)
        shown = (
            replace(filters, patient_key=None, patient_keys=tuple(linked))
            if linked
            else filters
        )
        events = await audit_log.page(conn, shown, after_seq, limit)
        await record_access(
            conn,
            producer="audit",
            principal=principal,
            function=function,
            correlation_id=request.state.correlation_id,
            granted=True,
            referral_id=filters.referral_id or referral_id,
            patient_key=filters.patient_key,
        )
    body: dict[str, Any] = {
        "events": events,
        "next_after_seq": events[-1]["seq"] if len(events) == limit else None,
    }
    if len(linked) > 1:
        body["patient_keys"] = linked
    return body


@dataclass(frozen=True)
class Paging:
    limit: int
    after_seq: int


def _paging(
    limit: int = Query(default=100, ge=1, le=1000),
    after_seq: int = Query(default=0, ge=0, le=MAX_SEQ),
) -> Paging:
    return Paging(limit, after_seq)


Paged = Annotated[Paging, Depends(_paging)]


@router.get("/referrals/{referral_id}/audit", tags=["audit"])
async def referral_trail(
    referral_id: uuid.UUID, request: Request, principal: Authenticated, paging: Paged
) -> JSONResponse:
    """Every event recorded for one referral, oldest first, paginated by sequence number."""
    agency = agency_scope(principal, None)
    filters = Filters(referral_id=referral_id, agency_id=agency)
    body = await _audited_page(
        request, principal, filters, paging.after_seq, paging.limit, "read audit trail"
    )
    if not body["events"] and paging.after_seq == 0:
        return problem(404, "Not Found", "no audit records for that referral")
    return JSONResponse({"referral_id": str(referral_id), **body})


@router.get("/referrals/{referral_id}/patient-trail", tags=["audit"])
async def patient_trail(
    referral_id: uuid.UUID, request: Request, principal: Authenticated, paging: Paged
) -> JSONResponse:
    """Every event of the referral's patient, oldest first: its own key's and every key intake linked to it.

    So the trail of a referral made before the patient was traced joins the traced referrals' trails,
    and the other way round. For operations staff only: it crosses referrals and agencies.
    """
    if principal.role != "operations":
        return problem(403, "Forbidden", "the patient trail is for operations staff")
    async with runtime_of(request).pool.acquire() as conn:
        key = await audit_log.patient_key_of(conn, referral_id)
    if key is None:
        return problem(404, "Not Found", "no audit records for that referral")
    filters = Filters(patient_key=key)
    body = await _audited_page(
        request,
        principal,
        filters,
        paging.after_seq,
        paging.limit,
        "read patient trail",
        referral_id=referral_id,
    )
    return JSONResponse(
        {
            "referral_id": str(referral_id),
            "patient_keys": body.pop("patient_keys", [key]),
            **body,
        }
    )


class Search(BaseModel):
    """Search the log. The NHS number travels in the body, never in a URL."""

    model_config = ConfigDict(extra="forbid")

    nhs_number: str | None = Field(default=None, pattern=r"^\d{10}$")
    referral_id: uuid.UUID | None = None
    agency_id: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,64}$")
    network_id: str | None = Field(default=None, max_length=64)
    event_types: list[str] = Field(default_factory=list, max_length=20)
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = Field(default=0, ge=0, le=MAX_SEQ)
    limit: int = Field(default=100, ge=1, le=1000)


def _patient(request: Request, nhs_number: str | None) -> str | None:
    if nhs_number is None:
        return None
    if not is_valid_nhs_number(nhs_number):
        raise HTTPException(422, "nhs_number fails the modulus 11 check")
    secret = runtime_of(request).settings.pseudonym_key.get_secret_value().encode()
    return patient_key(secret, nhs_number=nhs_number, local_id=None, organisation="")


@router.post("/audit/search", tags=["audit"])
async def search(
    body: Search, request: Request, principal: Authenticated
) -> JSONResponse:
    """The trail by patient, referral, agency, network, event type or time range, paginated."""
    filters = Filters(
        referral_id=body.referral_id,
        patient_key=_patient(request, body.nhs_number),
        agency_id=agency_scope(principal, body.agency_id),
        network_id=body.network_id,
        event_types=tuple(body.event_types),
        since=body.since,
        until=body.until,
    )
    return JSONResponse(
        await _audited_page(
            request, principal, filters, body.after_seq, body.limit, "search audit log"
        )
    )


class WhoViewed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nhs_number: str = Field(pattern=r"^\d{10}$")


@router.post("/audit/who-viewed", tags=["audit"])
async def who_viewed(
    body: WhoViewed, request: Request, principal: Authenticated
) -> JSONResponse:
    """Who looked at this patient's records: every recorded access, oldest first."""
    if principal.role != "operations":
        raise HTTPException(403, "the who-viewed report is for operations staff")
    filters = Filters(
        patient_key=_patient(request, body.nhs_number), event_types=("access.recorded",)
    )
    page = await _audited_page(
        request, principal, filters, 0, 1000, "who viewed this patient"
    )
    viewers = [
        {
            "when": e["payload"]["occurred_at"],
            "client_id": e["payload"]["client_id"],
            "organisation": e["payload"]["organisation"],
            "role": e["payload"]["role"],
            "function": e["payload"]["function"],
            "outcome": e["payload"]["outcome"],
            "referral_id": e["referral_id"],
        }
        for e in page["events"]
    ]
    return JSONResponse({"accesses": viewers})
