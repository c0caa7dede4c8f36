"""The notifier's wiring map: which handler follows which topic, which routes serve HTTP, which loops run.

Everything the notifier does starts here; ``signpost.service.build_app`` runs
the migrations, the consumers and the outbox relay around it.
"""

from pathlib import Path

from fastapi import FastAPI

from schemas.events import (
    AgencyOutcome,
    DeadLettered,
    ReferralCancelled,
    ReferralRouted,
)
from schemas.topics import (
    AGENCY_OUTCOMES_PATTERN,
    DEAD_LETTER,
    REFERRAL_CANCELLED,
    REFERRAL_ROUTED,
)
from services.notifier.api import assignments
from services.notifier.api import dead_letters as dead_letter_routes
from services.notifier.api import webhooks as webhook_routes
from services.notifier.domain import sla_guard
from services.notifier.handlers import cancelled, dead_letters, outcomes, routed
from services.notifier.loops import feedback_topics, timers, webhooks
from signpost import kafka_security, loops, terminology
from signpost.clients import referrer_organisations
from signpost.http import install
from signpost.service import Runtime, build_app
from signpost.topics import ensure_topics

SERVICE = "notifier"


async def wire(runtime: Runtime) -> None:
    settings = runtime.settings
    # Refuse to run with SLA timers that break a clinical timescale (HAZ-003, HAZ-007) rather than breach quietly.
    sla_guard.require_safe()
    terminology.configured(
        settings.areas_path
    )  # a broken area file stops the notifier here, not in a feedback message

    # Kafka in. One consumer group per input, so a slow input never holds up another.
    runtime.follow(
        REFERRAL_ROUTED,
        group="signpost-notifier",
        parse=ReferralRouted.model_validate_json,
        handle=routed.handler(settings.sla_demo_seconds),
    )
    runtime.follow(
        group="signpost-notifier-outcomes",
        parse=AgencyOutcome.model_validate_json,
        handle=outcomes.handle_outcomes,
        pattern=AGENCY_OUTCOMES_PATTERN,
    )
    runtime.follow(
        REFERRAL_CANCELLED,
        group="signpost-notifier-cancellations",
        parse=ReferralCancelled.model_validate_json,
        handle=cancelled.handle_cancelled,
    )
    runtime.follow(
        DEAD_LETTER,
        group="signpost-notifier-deadletters",
        parse=DeadLettered.model_validate_json,
        handle=dead_letters.keep,
    )

    # Loops on a clock.
    task = timers.start(runtime.pool, settings.sla_check_interval_s)
    sender = webhooks.start(
        runtime.pool,
        settings.webhook_check_interval_s,
        allow_private=settings.webhook_allow_private,
    )
    security = kafka_security.client_kwargs(settings)
    topics = feedback_topics.start(
        lambda wanted: ensure_topics(settings.kafka_bootstrap, wanted, **security),
        referrer_organisations,
        lambda: list(runtime.relay.held),
    )

    async def stop_loops() -> None:
        await timers.stop(task)
        await webhooks.stop(sender)
        await loops.stop(topics)

    runtime.on_stop.append(stop_loops)


def create_app() -> FastAPI:
    app = build_app(SERVICE, Path(__file__).parent / "migrations", wire)
    install(app)
    # HTTP in, one router per resource.
    app.include_router(assignments.router)
    app.include_router(dead_letter_routes.router)
    app.include_router(webhook_routes.router)
    app.include_router(webhook_routes.referrers)
    return app


app = create_app()
