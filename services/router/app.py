"""The router's wiring map: its inputs, the topics it follows and their handlers, its HTTP routers.

Rooms: ``domain/`` decides (pure), ``handlers/`` hears Kafka, ``api/`` answers HTTP, ``store/`` holds every SQL
statement; ``inputs`` is the directory seed and rule set on disk, reloaded when they change.
"""

from pathlib import Path

from fastapi import FastAPI

from schemas.events import OutcomeRecorded, ReferralCancelled, ReferralSubmitted
from schemas.topics import ASSIGNMENT_OUTCOME, REFERRAL_CANCELLED, REFERRAL_SUBMITTED
from services.router.api import assignments, directory
from services.router.handlers import cancelled, outcome, submitted
from services.router.inputs import RoutingInputs
from services.router.store import directory as directory_store
from signpost import http, terminology
from signpost.service import Runtime, build_app

SERVICE = "router"


async def wire(runtime: Runtime) -> None:
    inputs = RoutingInputs(runtime.settings.directory_path, runtime.settings.rules_path)
    terminology.configured(
        runtime.settings.areas_path
    )  # a broken area file stops the router here, not mid-batch
    runtime.provide(inputs)
    # A fresh database starts from the seed files; after that the directory lives in PostgreSQL.
    async with runtime.pool.acquire() as conn:
        if await directory_store.is_empty(conn):
            await directory_store.load(
                conn, inputs.directory, source=str(inputs.directory_path)
            )
    cache = runtime.provide(directory_store.DirectoryCache())
    runtime.follow(
        REFERRAL_SUBMITTED,
        group="signpost-router",
        parse=ReferralSubmitted.model_validate_json,
        handle=submitted.handler(inputs, cache),
    )
    # Declines come back as recorded outcomes; the router finds the next provider.
    runtime.follow(
        ASSIGNMENT_OUTCOME,
        group="signpost-router-reroute",
        parse=OutcomeRecorded.model_validate_json,
        handle=outcome.handler(inputs, cache),
    )
    # A cancelled referral is never routed, rerouted or assigned again.
    runtime.follow(
        REFERRAL_CANCELLED,
        group="signpost-router-cancellations",
        parse=ReferralCancelled.model_validate_json,
        handle=cancelled.handle_cancelled,
    )


def create_app() -> FastAPI:
    app = build_app(SERVICE, Path(__file__).parent / "migrations", wire)
    http.install(app)
    app.include_router(assignments.router)
    app.include_router(directory.router)
    return app


app = create_app()
