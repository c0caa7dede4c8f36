"""The intake service: referrals in over HTTP, ``referral.submitted`` out through the outbox."""

from pathlib import Path

from fastapi import FastAPI

from services.intake import fhir_throttle
from services.intake.api.referrals import router
from services.intake.fhir_api import router as fhir_router
from services.intake.handlers import progress
from signpost import http, rate_limit
from signpost.service import Runtime, build_app

SERVICE = "intake"


async def wire(runtime: Runtime) -> None:
    runtime.follow(*progress.TOPICS, group="signpost-intake", parse=progress.parse, handle=progress.handle)


def create_app() -> FastAPI:
    # Intake stays ready while Kafka is down: the outbox holds accepted
    # referrals and the relay publishes them when the broker returns.
    app = build_app(SERVICE, Path(__file__).parent / "migrations", wire, kafka_required_for_ready=False)
    http.install(app)
    # Throttled FHIR senders get an OperationOutcome (BaRS), everyone else problem details.
    app.add_exception_handler(rate_limit.RateLimited, fhir_throttle.refused)
    app.include_router(router)
    app.include_router(fhir_router)
    return app


app = create_app()
