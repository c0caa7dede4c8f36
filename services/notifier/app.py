"""The notifier service: delivers assignments to agencies, collects outcomes, and escalates what nobody picks up."""

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from schemas.events import AgencyOutcome, DeadLettered, ReferralCancelled, ReferralRouted
from services.notifier import dead_letters, delivery, timers, webhook_sender
from services.notifier.agency_outcomes import OUTCOMES_PATTERN, handle_cancelled, handle_outcomes
from services.notifier.dead_letters_api import router as dead_letters_router
from services.notifier.outcomes_api import router as outcomes_router
from services.notifier.webhooks_api import router as webhooks_router
from signpost import consumer
from signpost.http import install
from signpost.service import Runtime, build_app

SERVICE = "notifier"


async def wire(runtime: Runtime) -> None:
    settings = runtime.settings

    def follow(topic: str | None, group: str, parse: Any, handle: Any, pattern: str | None = None) -> None:
        """One consumer group per input, so a slow input never holds up another (each event carries its own id)."""
        topics = (topic,) if topic else ()
        consumer.subscribe(runtime.broker, *topics, group_id=group, pool=runtime.pool, parse=parse, handle=handle,
                           event_id=lambda e: e.event_id, batch_size=settings.consumer_batch_size, pattern=pattern)  # fmt: skip

    deliver = delivery.handler(settings.sla_demo_seconds)
    follow("referral.routed", "signpost-notifier", ReferralRouted.model_validate_json, deliver)
    follow(None, "signpost-notifier-outcomes", AgencyOutcome.model_validate_json, handle_outcomes, pattern=OUTCOMES_PATTERN)
    follow("referral.cancelled", "signpost-notifier-cancellations", ReferralCancelled.model_validate_json, handle_cancelled)
    follow("signpost.deadletter", "signpost-notifier-deadletters", DeadLettered.model_validate_json, dead_letters.keep)
    task = timers.start(runtime.pool, settings.sla_check_interval_s)
    sender = webhook_sender.start(runtime.pool, settings.webhook_check_interval_s)

    async def stop_loops() -> None:
        await timers.stop(task)
        await webhook_sender.stop(sender)

    runtime.state.setdefault("on_stop", []).append(stop_loops)


def create_app() -> FastAPI:
    app = build_app(SERVICE, Path(__file__).parent / "migrations", wire)
    install(app)
    app.include_router(outcomes_router)
    app.include_router(dead_letters_router)
    app.include_router(webhooks_router)
    return app


app = create_app()
