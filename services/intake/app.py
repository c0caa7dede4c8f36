"""The intake service: referrals in over HTTP, ``referral.submitted`` out through the outbox."""

from pathlib import Path

from fastapi import FastAPI

from services.intake.api import router
from signpost import http
from signpost.service import build_app

SERVICE = "intake"


def create_app() -> FastAPI:
    # Intake stays ready while Kafka is down: the outbox holds accepted
    # referrals and the relay publishes them when the broker returns.
    app = build_app(SERVICE, Path(__file__).parent / "migrations", kafka_required_for_ready=False)
    http.install(app)
    app.include_router(router)
    return app


app = create_app()
