"""The audit service: a tamper-evident record of every event, queryable and live."""

from pathlib import Path

from fastapi import FastAPI

from services.audit import recorder, reporting
from services.audit.api import router
from services.audit.web import router as operations_web
from signpost import http
from signpost.service import Runtime, build_app

SERVICE = "audit"
# Every Signpost topic: the flow topics, agency and practice topics, dead letters.
AUDITED_TOPICS = r"^(referral|assignment|agency|practice|signpost)\..+"


async def wire(runtime: Runtime) -> None:
    runtime.follow(group="signpost-audit", parse=recorder.parse, handle=recorder.record, pattern=AUDITED_TOPICS)


def create_app() -> FastAPI:
    app = build_app(SERVICE, Path(__file__).parent / "migrations", wire)
    http.install(app)
    app.include_router(router)
    app.include_router(reporting.router)
    app.include_router(operations_web)
    return app


app = create_app()
