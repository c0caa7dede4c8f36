"""Background loops over durable work (timers, webhook deliveries, the outbox relay): they survive any error.

The work lives in PostgreSQL, so a round that fails because the database is
away (a restart, a failover) loses nothing: the loop logs and tries again.
Any other error is counted too (``signpost_loop_errors_total``) and the loop
goes on: a loop that died quietly once stopped every SLA timer behind one bad
row. The row that raised is parked by its loop (marked with the reason, no
longer picked first), so the rows behind it go on and operations can see it
(``/readyz`` lists parked rows per loop, ``signpost_loop_parked_total``
counts them as they are parked).

Every loop a service runs is registered here, by name, so that ``/readyz``
can report one that is not running. A process runs one service, so one
registry per process is one per service.
"""

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
from pydantic import ValidationError

from signpost import logs
from signpost.metrics import LOOP_ERRORS, LOOP_PARKED

log = logs.get_logger()

# "The world is briefly broken" (the database or the network is away): retry quietly, park nothing.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)

_running: dict[str, "asyncio.Task[None]"] = {}
# For each loop that parks rows, the query that counts them in the service's own schema.
_parked: dict[str, str] = {}


def start(
    name: str,
    step: Callable[[], Awaitable[int]],
    interval_s: float,
    *,
    parked: str | None = None,
) -> "asyncio.Task[None]":
    """Run ``step`` again at once while it finds work, else after ``interval_s``; whatever it raises.

    ``parked`` is the query that counts the rows this loop has parked (for ``/readyz``).
    """

    async def run() -> None:
        while True:
            try:
                done = await step()
            except Exception as exc:  # noqa: BLE001 - a loop that dies stops everything behind it, silently
                failed(name, exc)
                done = 0
            if not done:
                await asyncio.sleep(interval_s)

    if parked is not None:
        register_parked(name, parked)
    return watch(name, asyncio.create_task(run(), name=name))


def watch(
    name: str, task: "asyncio.Task[None]", *, may_finish: bool = False
) -> "asyncio.Task[None]":
    """Register a loop for ``/readyz``; with ``may_finish``, one that ends cleanly (its work done) is forgotten."""
    _running[name] = task
    if may_finish:

        def done(finished: "asyncio.Task[None]") -> None:
            if (
                not finished.cancelled()
                and finished.exception() is None
                and _running.get(name) is finished
            ):
                forget(name)

        task.add_done_callback(done)
    return task


def register_parked(name: str, query: str) -> None:
    """``query`` counts the rows loop ``name`` has parked, in the service's own schema."""
    _parked[name] = query


def forget(name: str) -> None:
    _running.pop(name, None)
    _parked.pop(name, None)


def states() -> dict[str, str]:
    """Each registered loop: ``running``, or ``stopped`` with why (cancelled, ended, or the error's type)."""
    out = {}
    for name, task in sorted(_running.items()):
        if not task.done():
            out[name] = "running"
        elif task.cancelled():
            out[name] = "stopped: cancelled"
        elif (exc := task.exception()) is not None:
            out[name] = f"stopped: {type(exc).__name__}"
        else:
            out[name] = "stopped: ended"
    return out


async def parked_counts(pool: asyncpg.Pool) -> dict[str, int]:
    """Rows each loop has parked and nobody has dealt with yet (only loops that have some)."""
    out = {}
    for name, query in sorted(_parked.items()):
        try:
            count = int(await pool.fetchval(query))
        except asyncpg.UndefinedTableError:
            continue  # a loop of another service's kind; this schema has no such rows
        if count:
            out[name] = count
    return out


def failed(name: str, exc: BaseException) -> None:
    """Log and count one failed round (the error's type only: a message may quote a row's personal data)."""
    LOOP_ERRORS.labels(name).inc()
    if isinstance(exc, TRANSIENT):
        log.warning(
            "background round failed, will retry", loop=name, error=type(exc).__name__
        )
    else:
        log.error(
            "background round failed unexpectedly, going on",
            loop=name,
            error=type(exc).__name__,
        )


def parked(name: str, exc: BaseException) -> str:
    """Count a parked row and return the reason to store with it."""
    failed(name, exc)
    LOOP_PARKED.labels(name).inc()
    return reason(exc)


def reason(exc: BaseException) -> str:
    """Why a row was parked, fit to store and show: field names and rules, never the values that broke them."""
    if isinstance(exc, ValidationError):
        fields = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        return f"ValidationError: {fields}"[:500]
    return type(exc).__name__


async def stop(task: "asyncio.Task[None]") -> None:
    for name, running in list(_running.items()):
        if running is task:
            forget(name)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception as exc:  # noqa: BLE001 - stopping: it ended badly before, and /readyz said so then
        log.warning("loop had stopped with an error", error=type(exc).__name__)
