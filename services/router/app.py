"""The router service: assigns each submitted referral to the right services."""

from pathlib import Path

from fastapi import FastAPI

from schemas.events import OutcomeRecorded, ReferralSubmitted
from services.router import hand_assignment, rerouting
from services.router.inputs import RoutingInputs
from services.router.routing import handler
from signpost import consumer, http
from signpost.service import Runtime, build_app

SERVICE = "router"


async def wire(runtime: Runtime) -> None:
    inputs = RoutingInputs(runtime.settings.directory_path, runtime.settings.rules_path)
    runtime.state["inputs"] = inputs
    consumer.subscribe(
        runtime.broker,
        "referral.submitted",
        group_id="signpost-router",
        pool=runtime.pool,
        parse=ReferralSubmitted.model_validate_json,
        handle=handler(inputs),
        event_id=lambda e: e.event_id,
        batch_size=runtime.settings.consumer_batch_size,
    )
    # Declines come back as recorded outcomes; the router finds the next provider.
    consumer.subscribe(
        runtime.broker,
        "assignment.outcome",
        group_id="signpost-router-reroute",
        pool=runtime.pool,
        parse=OutcomeRecorded.model_validate_json,
        handle=rerouting.handler(inputs),
        event_id=lambda e: e.event_id,
        batch_size=runtime.settings.consumer_batch_size,
    )


def create_app() -> FastAPI:
    app = build_app(SERVICE, Path(__file__).parent / "migrations", wire)
    http.install(app)
    app.include_router(hand_assignment.router)
    return app


app = create_app()
