"""A dependency fault is 503 with Retry-After, in the format of the wing asked; a bug is still a 500."""

import asyncpg
import httpx
from fastapi import FastAPI

from services.intake.api.fhir import unavailable  # noqa: F401 - importing registers the FHIR rendering
from signpost import http


def app_raising(exc: Exception) -> FastAPI:
    app = FastAPI()
    http.install(app)

    async def fails() -> None:
        raise exc

    app.add_api_route("/v1/referrals", fails, methods=["POST"])
    app.add_api_route("/v1/fhir/$process-message", fails, methods=["POST"])
    return app


async def post(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://intake"
    ) as client:
        return await client.post(path)


async def test_a_lost_database_connection_is_503_problem_details_with_retry_after() -> (
    None
):
    response = await post(
        app_raising(asyncpg.exceptions.ConnectionDoesNotExistError("gone")),
        "/v1/referrals",
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(http.RETRY_AFTER_S)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "its database" in response.json()["detail"]


async def test_on_the_fhir_endpoint_it_is_an_operation_outcome_with_the_bars_code() -> (
    None
):
    response = await post(
        app_raising(ConnectionRefusedError()), "/v1/fhir/$process-message"
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(http.RETRY_AFTER_S)
    issue = response.json()["issue"][0]
    assert (issue["code"], issue["details"]["coding"][0]["code"]) == (
        "transient",
        "REC_SERVICE_UNAVAILABLE",
    )


async def test_a_bug_is_still_a_500() -> None:
    response = await post(app_raising(KeyError("bug")), "/v1/referrals")
    assert response.status_code == 500
