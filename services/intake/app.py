"""Intake's wiring map: referrals in over HTTP, ``referral.submitted`` out through the outbox.

Kafka in: ``handlers.progress`` (group signpost-intake) keeps each referral's progress.
HTTP in: ``api.referrals`` (/v1/referrals) and ``api.fhir.messages`` (/v1/fhir, with its reads).
"""

from pathlib import Path

from fastapi import FastAPI

from services.intake.api import referrals
from services.intake.api.fhir import (
    messages,
    throttle,
    unavailable,  # noqa: F401 - importing registers the FHIR paths' 503 OperationOutcome
)
from services.intake.handlers import progress
from signpost import http, rate_limit
from signpost.service import Runtime, build_app

SERVICE = "intake"


async def wire(runtime: Runtime) -> None:
    runtime.follow(
        *progress.TOPICS,
        group="signpost-intake",
        parse=progress.parse,
        handle=progress.handle,
    )


def create_app() -> FastAPI:
    # Intake stays ready while Kafka is down: the outbox holds accepted
    # referrals and the relay publishes them when the broker returns.
    app = build_app(
        SERVICE,
        Path(__file__).parent / "migrations",
        wire,
        kafka_required_for_ready=False,
    )
    http.install(app)
    # Throttled FHIR senders get an OperationOutcome (BaRS), everyone else problem details.
    app.add_exception_handler(rate_limit.RateLimited, throttle.refused)
    app.include_router(referrals.router)
    app.include_router(messages.router)
    return app


app = create_app()
