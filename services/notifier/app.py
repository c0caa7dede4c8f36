"""The notifier service: delivers assignments to agencies, collects outcomes, and escalates what nobody picks up."""

from pathlib import Path

from fastapi import FastAPI

from schemas.events import AgencyOutcome, DeadLettered, ReferralCancelled, ReferralRouted
from services.notifier import feedback_topics, timers, webhook_sender
from services.notifier.api.assignments import router as outcomes_router
from services.notifier.api.dead_letters import router as dead_letters_router
from services.notifier.api.webhooks import referrers as referrer_webhooks_router
from services.notifier.api.webhooks import router as webhooks_router
from services.notifier.domain import sla_guard
from services.notifier.handlers import dead_letters, routed
from services.notifier.handlers.cancelled import handle_cancelled
from services.notifier.handlers.outcomes import OUTCOMES_PATTERN, handle_outcomes
from signpost import kafka_security, loops, terminology
from signpost.auth import referrer_organisations
from signpost.http import install
from signpost.service import Runtime, build_app
from signpost.topics import ensure_topics

SERVICE = "notifier"


async def wire(runtime: Runtime) -> None:
    settings = runtime.settings
    # Refuse to run with SLA timers that break a clinical timescale (HAZ-003, HAZ-007) rather than breach quietly.
    sla_guard.require_safe()
    terminology.configured(settings.areas_path)  # a broken area file stops the notifier here, not in a feedback message

    deliver = routed.handler(settings.sla_demo_seconds)
    # One consumer group per input, so a slow input never holds up another.
    runtime.follow("referral.routed", group="signpost-notifier", parse=ReferralRouted.model_validate_json, handle=deliver)
    runtime.follow(group="signpost-notifier-outcomes", parse=AgencyOutcome.model_validate_json, handle=handle_outcomes,
                   pattern=OUTCOMES_PATTERN)  # fmt: skip
    runtime.follow("referral.cancelled", group="signpost-notifier-cancellations",
                   parse=ReferralCancelled.model_validate_json, handle=handle_cancelled)  # fmt: skip
    runtime.follow("signpost.deadletter", group="signpost-notifier-deadletters",
                   parse=DeadLettered.model_validate_json, handle=dead_letters.keep)  # fmt: skip
    task = timers.start(runtime.pool, settings.sla_check_interval_s)
    sender = webhook_sender.start(runtime.pool, settings.webhook_check_interval_s, allow_private=settings.webhook_allow_private)
    security = kafka_security.client_kwargs(settings)
    topics = feedback_topics.start(lambda wanted: ensure_topics(settings.kafka_bootstrap, wanted, **security),
                                   referrer_organisations, lambda: list(runtime.relay.held))  # fmt: skip

    async def stop_loops() -> None:
        await timers.stop(task)
        await webhook_sender.stop(sender)
        await loops.stop(topics)

    runtime.on_stop.append(stop_loops)


def create_app() -> FastAPI:
    app = build_app(SERVICE, Path(__file__).parent / "migrations", wire)
    install(app)
    app.include_router(outcomes_router)
    app.include_router(dead_letters_router)
    app.include_router(webhooks_router)
    app.include_router(referrer_webhooks_router)
    return app


app = create_app()
