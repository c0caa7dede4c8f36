"""The directory over HTTP: who provides what, and whether they are taking referrals now.

An agency keeps its own services' status current (accepting, free capacity);
operations staff may set any service's. The next routing decision uses it.
A reported status lapses (by default after a day, or at ``until``), so a
"not accepting" that nobody lifts does not hide a service for good.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.vocabulary import ServiceType
from services.router.domain.directory import Service, accepting_at, status_lapsed
from services.router.store import directory as directory_store
from signpost.auth import Authenticated
from signpost.clients import Principal
from signpost.http import problem
from signpost.service import Runtime

router = APIRouter(prefix="/v1/directory", tags=["directory"])
ServiceId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]


class ServiceStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepting: bool = Field(description="whether the service takes new referrals now")
    capacity: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="free slots now; null if not counted",
    )
    until: AwareDatetime | None = Field(
        default=None,
        description="when this status lapses (at most SIGNPOST_DIRECTORY_STATUS_HOURS ahead, the default if absent); "
        "after that the service counts as accepting again, capacity unknown, until it reports afresh",
    )


def lasting(until: datetime | None, now: datetime, limit: timedelta) -> timedelta | str:
    """How long a reported status holds, or why ``until`` is refused."""
    if until is None:
        return limit
    if until <= now:
        return "until must be in the future"
    if until - now > limit:
        return f"until may be at most {limit.total_seconds() / 3600:g} hours ahead; report the status again then"
    return until - now


def may_set_status(principal: Principal, owner: str) -> bool:
    """Operations staff may set any service's status; an agency only its own services' (a referrer none)."""
    return principal.role == "operations" or (
        principal.role == "agency" and principal.agency_id == owner
    )


def _shown(
    service: Service, updated_by: dict[str, str], now: datetime
) -> dict[str, Any]:
    return {
        "service_id": service.service_id,
        "name": service.name,
        "service_type": service.service_type.value,
        "ods_code": service.ods_code,
        "agency_id": service.agency_id,
        "network_ids": list(service.network_ids),
        "hours": service.hours,
        "accepting": service.accepting,
        "capacity": service.capacity,
        "status_updated_at": service.capacity_updated_at.isoformat(),
        "status_updated_by": updated_by.get(service.service_id),
        "status_expires_at": service.status_expires_at.isoformat()
        if service.status_expires_at
        else None,
        # What routing goes by now: a lapsed report counts as accepting, capacity unknown.
        "status_lapsed": status_lapsed(service, now),
        "accepting_now": accepting_at(service, now),
    }


@router.get("/services")
async def services(
    request: Request,
    _: Authenticated,
    network: Annotated[str | None, Query(max_length=63)] = None,
    service_type: Annotated[ServiceType | None, Query(alias="type")] = None,
) -> JSONResponse:
    """Every service in the directory, optionally of one network or one type."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        directory = await runtime.part(directory_store.DirectoryCache).current(conn)
        updated_by = await directory_store.updated_by(conn)
    chosen = [
        _shown(s, updated_by, datetime.now(UTC))
        for s in directory.services
        if (network is None or network in s.network_ids)
        and (service_type is None or s.service_type is service_type)
    ]
    return JSONResponse(
        {"directory_version": directory.content_version, "services": chosen}
    )


@router.get("/services/{service_id}")
async def service(
    service_id: ServiceId, request: Request, _: Authenticated
) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        directory = await runtime.part(directory_store.DirectoryCache).current(conn)
        updated_by = await directory_store.updated_by(conn)
    found = directory.service(service_id)
    if found is None:
        return problem(404, "Not Found", f"no service {service_id} in the directory")
    return JSONResponse(_shown(found, updated_by, datetime.now(UTC)))


@router.put("/services/{service_id}/status")
async def set_status(
    service_id: ServiceId,
    body: ServiceStatus,
    request: Request,
    principal: Authenticated,
) -> JSONResponse:
    """Say whether a service is taking referrals: its own agency, or operations staff."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn, conn.transaction():
        owner = await directory_store.owner(conn, service_id)
        if owner is None:
            return problem(
                404, "Not Found", f"no service {service_id} in the directory"
            )
        if not may_set_status(principal, owner):
            return problem(
                403,
                "Forbidden",
                "only the service's own agency or operations staff may change its status",
            )
        lasts = lasting(
            body.until,
            datetime.now(UTC),
            timedelta(hours=runtime.settings.directory_status_hours),
        )
        if isinstance(lasts, str):
            return problem(422, "Unprocessable Content", lasts)
        row = await directory_store.set_status(
            conn, service_id, body.accepting, body.capacity, principal.client_id, lasts
        )
    assert row is not None  # the row was there a moment ago, under the same transaction
    answer = {
        k: row[k] for k in ("service_id", "accepting", "capacity", "status_updated_by")
    }
    stamps = {k: row[k].isoformat() for k in ("status_updated_at", "status_expires_at")}
    return JSONResponse({**answer, **stamps})
