"""The audit service's wiring map: the topics it follows and their handler, its routers, its parts.

Rooms: ``domain/`` pure rules, ``handlers/`` Kafka in, ``api/`` HTTP routers
(``web/`` the operations page's static files), ``store/`` every SQL statement.
"""

from pathlib import Path

from fastapi import FastAPI

from schemas.topics import EVERY_SIGNPOST_TOPIC
from services.audit.api import operations, page, reports, stream, trails
from services.audit.domain.streams import StreamSlots
from services.audit.handlers import recorder
from signpost import database, http, terminology
from signpost.service import Runtime, build_app

SERVICE = "audit"


async def wire(runtime: Runtime) -> None:
    terminology.configured(
        runtime.settings.areas_path
    )  # a broken area file stops audit here, not in a report
    runtime.follow(
        group="signpost-audit",
        parse=recorder.parse,
        handle=recorder.record,
        pattern=EVERY_SIGNPOST_TOPIC,
    )
    # The live streams read through a small pool of their own, so however many are open (at most the caps),
    # they never wait for, or take, a connection the recorder writes with.
    cfg = runtime.settings
    stream_pool = await database.connect(
        cfg.database_url,
        SERVICE,
        max_size=cfg.audit_stream_pool_size,
        application_name=f"signpost-{SERVICE}-stream",
    )
    runtime.provide(
        stream.LiveStreams(
            stream_pool,
            StreamSlots(cfg.audit_streams_per_client, cfg.audit_streams_total),
        )
    )
    runtime.on_stop.append(stream_pool.close)


def create_app() -> FastAPI:
    app = build_app(SERVICE, Path(__file__).parent / "migrations", wire)
    http.install(app)
    for routes in (trails, stream, reports, operations, page):
        app.include_router(routes.router)
    return app


app = create_app()
