"""The notifier service: delivers assignments to agencies, collects outcomes, and escalates what nobody picks up."""

from pathlib import Path

from fastapi import FastAPI

from schemas.events import AgencyOutcome, ReferralCancelled, ReferralRouted
from services.notifier import delivery, timers
from services.notifier.agency_outcomes import OUTCOMES_PATTERN, handle_cancelled, handle_outcomes
from services.notifier.outcomes_api import router as outcomes_router
from signpost import consumer
from signpost.http import install
from signpost.service import Runtime, build_app

SERVICE = "notifier"


async def wire(runtime: Runtime) -> None:
    settings = runtime.settings
    consumer.subscribe(
        runtime.broker,
        "referral.routed",
        group_id="signpost-notifier",
        pool=runtime.pool,
        parse=ReferralRouted.model_validate_json,
        handle=delivery.handler(settings.sla_demo_seconds),
        event_id=lambda e: e.event_id,
        batch_size=settings.consumer_batch_size,
    )
    consumer.subscribe(
        runtime.broker,
        group_id="signpost-notifier-outcomes",
        pool=runtime.pool,
        parse=AgencyOutcome.model_validate_json,
        handle=handle_outcomes,
        event_id=lambda e: e.event_id,
        batch_size=settings.consumer_batch_size,
        pattern=OUTCOMES_PATTERN,
    )
    consumer.subscribe(
        runtime.broker,
        "referral.cancelled",
        group_id="signpost-notifier-cancellations",
        pool=runtime.pool,
        parse=ReferralCancelled.model_validate_json,
        handle=handle_cancelled,
        event_id=lambda e: e.event_id,
        batch_size=settings.consumer_batch_size,
    )
    task = timers.start(runtime.pool, settings.sla_check_interval_s)

    async def stop_timers() -> None:
        await timers.stop(task)

    runtime.state.setdefault("on_stop", []).append(stop_timers)


def create_app() -> FastAPI:
    app = build_app(SERVICE, Path(__file__).parent / "migrations", wire)
    install(app)
    app.include_router(outcomes_router)
    return app


app = create_app()
