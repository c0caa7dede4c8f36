"""The drain on SIGTERM ends in a known time: each step has a budget, and a step that overruns is named and left.

A process that outlives its stop timeout is SIGKILLed (the chart gives 60 s, of which uvicorn keeps up to 20 s
for requests in flight; a supervisor or the test harness gives 30 s), and a drain that hung (a consumer's
leave-group held up by a rebalance, a pooled connection never given back) used to be killed without a word
about which step held it. Leaving a step loses nothing: offsets are committed only after their effect is
durable, so a batch a handler had not finished is read again by the group's next member, and an outbox row
not yet published stays in the table for the next relay.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from signpost import logs

log = logs.get_logger()

SLOW_S = 2.0
"""A step slower than this is logged with its time even when it finishes: the next hang is then foreseen."""


async def step(
    name: str, budget_s: float, run: Callable[[], Awaitable[object]]
) -> bool:
    """Run one drain step for at most ``budget_s``; True when it finished cleanly.

    The step runs as its own task and is waited on with ``asyncio.wait``, not ``asyncio.timeout``: a timeout
    only works if the step lets its cancellation through, and the libraries under a drain (aiokafka's
    coordinator, asyncpg's pool) catch it in places. Here an overrun step is cancelled and not awaited again.
    """
    started = time.monotonic()
    task = asyncio.ensure_future(run())
    done, _ = await asyncio.wait({task}, timeout=budget_s)
    if not done:
        # Where it hung, read before the cancel unwinds it: the step's own await chain and every other task's
        # (a step that waits on a task group, as FastStream's broker stop does, hangs in one of those).
        where = awaiting(task)
        others = sorted(
            {awaiting(t) for t in asyncio.all_tasks() if t is not task} - {""}
        )
        task.cancel()
        log.warning(
            "drain step overran, left",
            step=name,
            budget_s=budget_s,
            awaiting=where,
            tasks=others,
        )
        return False
    if task.cancelled():
        return True  # a step that was itself a cancellation (the broker's starter) is done when cancelled
    if (exc := task.exception()) is not None:
        # The type only: a message may quote a row.
        log.warning("drain step failed", step=name, error=type(exc).__name__)
        return False
    took = time.monotonic() - started
    if took > SLOW_S:
        log.info("drain step slow", step=name, seconds=round(took, 1))
    return True


def awaiting(task: "asyncio.Future[Any]") -> str:
    """Where a task waits: each coroutine it awaits through, outermost first, as ``file:line function``.

    ``Task.get_stack`` gives a suspended coroutine's own frame only; the await chain (``cr_await``) reaches
    the library call that never returned, which is what whoever reads the overrun needs. Code locations
    only, never a value.
    """
    coro: Any = task.get_coro() if isinstance(task, asyncio.Task) else None
    chain: list[str] = []
    while isinstance(coro, Coroutine) and len(chain) < 30:
        frame = getattr(coro, "cr_frame", None)
        if frame is None:
            break
        module = frame.f_globals.get("__name__", "?")
        chain.append(f"{module}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None)
    return " > ".join(chain)
