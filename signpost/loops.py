"""Background loops over durable work (timers, webhook deliveries): started with the service, stopped with it.

The work lives in PostgreSQL, so a round that fails because the database is
away (a restart, a failover) loses nothing: the loop logs and tries again.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg

from signpost import logs

log = logs.get_logger()


def start(name: str, step: Callable[[], Awaitable[int]], interval_s: float) -> "asyncio.Task[None]":
    """Run ``step`` again at once while it finds work, else after ``interval_s``."""

    async def run() -> None:
        while True:
            try:
                done = await step()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("background round failed, will retry", loop=name, error=type(exc).__name__)
                done = 0
            if not done:
                await asyncio.sleep(interval_s)

    return asyncio.create_task(run(), name=name)


async def stop(task: "asyncio.Task[None]") -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
