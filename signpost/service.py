"""One bootstrap for every service: pool, migrations, outbox relay, broker, HTTP.

Each service supplies its name, its migrations folder, its HTTP routes and a
``wire`` function that registers Kafka subscribers. Everything else (start-up
order, readiness, graceful shutdown on SIGTERM, metrics) is the same
everywhere and lives here.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from signpost import (
    consumer,
    database,
    drain,
    http_limits,
    kafka_security,
    logs,
    loops,
    retention,
    startup_checks,
    tracing,
)
from signpost.outbox import OutboxRelay
from signpost.settings import Settings, get_settings

log = logs.get_logger()

Part = TypeVar("Part")

GRACEFUL_S = 8.0
"""How long a stopping consumer waits for its handlers in flight (FastStream's ``graceful_timeout``)."""


@dataclass
class Runtime:
    """What a running service holds; handed to its wiring and its routes."""

    service: str
    settings: Settings
    pool: asyncpg.Pool
    broker: KafkaBroker
    relay: OutboxRelay
    parts: dict[type, object] = field(default_factory=dict)
    """What the wiring built for the routes (a directory cache, a pool of its own), one of each type."""
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run at shutdown after the outbox has flushed, before the pool closes."""
    broker_started: bool = False

    def provide(self, part: Part) -> Part:
        """Keep ``part`` for the routes, found again by its type (so a typo is a type error, not a KeyError)."""
        self.parts[type(part)] = part
        return part

    def part(self, kind: type[Part]) -> Part:
        found = self.parts.get(kind)
        if not isinstance(found, kind):
            raise LookupError(f"{self.service} wired no {kind.__name__}")
        return found

    def follow(
        self,
        *topics: str,
        group: str,
        parse: Any,
        handle: Any,
        pattern: str | None = None,
        gather_ms: int | None = None,
    ) -> None:
        """Consume ``topics`` (or ``pattern``) as consumer group ``group``: idempotent by each event's own id.

        ``gather_ms`` (see ``consumer.fetch_wait``) unset: a pattern's group gathers for ``consumer.PATTERN_GATHER_MS``
        and named topics are read at once. A pattern follows many quiet partitions (audit every topic, the
        notifier every agency's outcomes), and neither is on the way from a referrer to an agency.
        """
        cfg = self.settings
        gather = (
            gather_ms
            if gather_ms is not None
            else (consumer.PATTERN_GATHER_MS if pattern else 0)
        )
        consumer.subscribe(
            self.broker,
            *topics,
            group_id=group,
            pool=self.pool,
            parse=parse,
            handle=handle,
            event_id=lambda e: e.event_id,
            batch_size=cfg.consumer_batch_size,
            pattern=pattern,
            max_event_bytes=cfg.max_event_bytes,
            gather_ms=gather,
        )


Wire = Callable[[Runtime], Awaitable[None]]


def build_app(
    service: str,
    migrations: Path,
    wire: Wire | None = None,
    settings: Settings | None = None,
    title: str | None = None,
    kafka_required_for_ready: bool = True,
) -> FastAPI:
    """Build the service's FastAPI app; routes are added by the caller."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cfg = settings or get_settings()
        logs.configure(service, cfg.log_level)
        tracing.configure(service)
        pool = await database.connect(cfg.database_url, schema=service)
        applied = await database.migrate(pool, service, migrations)
        if applied:
            log.info("migrations applied", names=applied)
        broker = kafka_broker(cfg, client_id=f"signpost-{service}")
        relay = OutboxRelay(
            pool,
            service,
            cfg.kafka_bootstrap,
            client_id=f"signpost-{service}-relay",
            **kafka_security.client_kwargs(cfg),
        )
        runtime = Runtime(service, cfg, pool, broker, relay)
        app.state.runtime = runtime
        if wire:
            await wire(runtime)
        relay.start()
        pruning = loops.start(
            "retention",
            lambda: retention.prune(pool, cfg, datetime.now(UTC)),
            cfg.retention_check_interval_s,
        )
        starter = asyncio.create_task(_start_broker(runtime))
        log.info("started", port=cfg.port_for(service))
        try:
            yield
        finally:
            log.info("draining")
            await _drain(runtime, starter, pruning)
            log.info("stopped")

    app = FastAPI(title=title or f"Signpost {service}", lifespan=lifespan)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process is up and serving HTTP."""
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Readiness: PostgreSQL answers, the Kafka broker is reachable and every background loop runs.

        A loop that is not running (crashed, cancelled) makes the service not
        ready, by name: its work (timers, deliveries, the outbox) would wait
        silently otherwise. Parked rows are shown but leave it ready: the other rows go on.
        """
        runtime: Runtime = app.state.runtime
        checks = {
            "database": await _database_ok(runtime.pool),
            "kafka": await _kafka_ok(runtime),
        }
        running = loops.states()
        stopped = sorted(name for name, state in running.items() if state != "running")
        ready = (
            checks["database"]
            and (checks["kafka"] or not kafka_required_for_ready)
            and not stopped
        )
        body = {
            "ready": ready,
            "service": service,
            "checks": {k: "ok" if v else "down" for k, v in checks.items()},
            # Still ready: the other topics flow. Each held topic says what held it (see OutboxRelay).
            "outbox_held": dict(runtime.relay.held),
            "loops": running,
            "loops_stopped": stopped,
            "parked": await _parked(runtime.pool) if checks["database"] else {},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(
            generate_latest().decode(), media_type=CONTENT_TYPE_LATEST
        )

    return app


# Each drain step's budget (see signpost/drain.py): at most 26 s in all with one on_stop hook, so a service with
# nothing in flight is gone inside the 30 s a supervisor (or the test harness) waits, and one that also spent
# uvicorn's 20 s on requests in flight inside the chart's 60 s.
# Handlers in flight finish first, then each consumer leaves its group.
CONSUMERS_S = GRACEFUL_S + 3.0
FLUSH_S = 6.0
LOOP_S = 2.0
POOL_S = 3.0


async def _drain(
    runtime: Runtime, starter: "asyncio.Task[None]", pruning: "asyncio.Task[None]"
) -> None:
    """Stop taking messages (handlers in flight finish), flush the outbox, stop the loops, close the database.

    In that order, so what the handlers wrote is published before the pool closes. A step that overruns is
    logged and left (signpost/drain.py): nothing is lost by leaving it, and the rest still run.
    """
    starter.cancel()
    await drain.step("kafka connect", LOOP_S, lambda: asyncio.wait({starter}))
    await drain.step("consumers", CONSUMERS_S, runtime.broker.stop)
    await drain.step("outbox flush", FLUSH_S, runtime.relay.stop)
    await drain.step("retention loop", LOOP_S, lambda: loops.stop(pruning))
    for hook in runtime.on_stop:
        await drain.step(getattr(hook, "__qualname__", "on_stop"), LOOP_S, hook)
    if not await drain.step("database pool", POOL_S, runtime.pool.close):
        runtime.pool.terminate()  # a connection still held: close them all now rather than be killed holding them


def kafka_broker(cfg: Settings, client_id: str = "signpost") -> KafkaBroker:
    """The service's consumers; a short metadata age so pattern subscribers (audit) notice new agency topics soon.

    Consumers only: a service publishes through its outbox relay alone. FastStream's own producer was
    never used, and each ``start()`` that could not connect left one behind unclosed ("Unclosed
    AIOKafkaProducer", at every retry while the broker was away); its admin client was a connection more.
    ``client_id`` names the service to the broker (its request log, quotas, a group's members), which
    otherwise saw every service as FastStream's default ``faststream-<version>``.
    """
    return KafkaBroker(
        cfg.kafka_bootstrap,
        client_id=client_id,
        graceful_timeout=GRACEFUL_S,
        logger=None,
        metadata_max_age_ms=10_000,
        consumer_only=True,
        security=kafka_security.broker_security(cfg),
    )


async def _start_broker(runtime: Runtime) -> None:
    """Connect to Kafka, retrying: a service may start before the broker does."""
    delay = 0.5
    while True:
        try:
            await runtime.broker.start()
            runtime.broker_started = True
            log.info("kafka connected")
            return
        except Exception as exc:  # noqa: BLE001 - any connection failure means retry
            log.warning(
                "kafka not reachable yet", error=type(exc).__name__, retry_in_s=delay
            )
            with contextlib.suppress(Exception):
                await runtime.broker.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def _database_ok(pool: asyncpg.Pool) -> bool:
    try:
        async with asyncio.timeout(2):
            return bool(await pool.fetchval("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure is "not ready"
        return False


async def _parked(pool: asyncpg.Pool) -> dict[str, int]:
    try:
        async with asyncio.timeout(2):
            return await loops.parked_counts(pool)
    except Exception:  # noqa: BLE001 - readiness must answer; the counts are detail
        return {}


async def _kafka_ok(runtime: Runtime) -> bool:
    if not runtime.broker_started:
        return False
    try:
        # The relay's producer is the service's link to write to Kafka (the broker only consumes): ask through it.
        async with asyncio.timeout(2):
            return await runtime.relay.reachable()
    except Exception:  # noqa: BLE001 - any failure is "not ready"
        return False


def run(service: str, app: FastAPI) -> None:
    """Serve until SIGTERM/SIGINT; uvicorn then runs the lifespan shutdown (drain).

    First the settings must pass the production checks (no committed identity, encrypted and authenticated
    connections) unless development mode is on; otherwise the process exits naming why.
    """
    cfg = get_settings()
    startup_checks.enforce(service, cfg)
    tls = (
        {"ssl_certfile": cfg.tls_certfile, "ssl_keyfile": cfg.tls_keyfile}
        if cfg.tls_certfile and cfg.tls_keyfile
        else {}
    )
    uvicorn.run(
        app,
        host=cfg.http_host,
        port=cfg.port_for(service),
        log_config=None,
        access_log=False,
        # uvloop and httptools: the C event loop and HTTP parser roughly halve the CPU per request here;
        # the protocol adds a read deadline per request (slow clients, see signpost/http_limits.py).
        loop="uvloop",
        http=http_limits.with_read_timeout(cfg.http_read_timeout_s),
        timeout_graceful_shutdown=20,
        # Clients keep connections open between referrals; 5 s (uvicorn's default) closed them under load mid-reuse.
        timeout_keep_alive=cfg.http_timeout_keep_alive_s,
        limit_concurrency=cfg.http_limit_concurrency,
        backlog=cfg.http_backlog,
        **tls,  # type: ignore[arg-type]
    )
