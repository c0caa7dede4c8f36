"""Waiting for a condition inside a test's own event loop (readiness, not a fixed sleep)."""

import asyncio
from collections.abc import Awaitable, Callable


async def until(
    check: Callable[[], Awaitable[object]], what: str, within: float = 60.0
) -> None:
    """Poll ``check`` without blocking the loop the code under test runs on; fail naming ``what`` after ``within`` s."""
    try:
        async with asyncio.timeout(within):
            while not await check():  # noqa: ASYNC110 - rows change in PostgreSQL; there is no event to wait on
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(
            f"timed out after {within:.0f}s waiting for {what}"
        ) from None
