"""The notifier service: delivers assignments to agencies and collects outcomes."""

from pathlib import Path

from fastapi import FastAPI

from schemas.events import ReferralRouted
from services.notifier.delivery import handle_routed
from signpost import consumer
from signpost.service import Runtime, build_app

SERVICE = "notifier"


async def wire(runtime: Runtime) -> None:
    consumer.subscribe(
        runtime.broker,
        "referral.routed",
        group_id="signpost-notifier",
        pool=runtime.pool,
        parse=ReferralRouted.model_validate_json,
        handle=handle_routed,
        event_id=lambda e: e.event_id,
        batch_size=runtime.settings.consumer_batch_size,
    )


def create_app() -> FastAPI:
    return build_app(SERVICE, Path(__file__).parent / "migrations", wire)


app = create_app()
