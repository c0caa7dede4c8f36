"""A drain step ends within its budget even when what it waits on ignores cancellation, and says which step."""

import asyncio
import time

from structlog.testing import capture_logs

from signpost import drain


async def test_a_step_that_swallows_its_cancellation_is_left_at_its_budget_by_name() -> (
    None
):
    release = asyncio.Event()

    async def stubborn() -> None:
        # As aiokafka's coordinator close can: catch the cancellation and go on waiting.
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    started = time.monotonic()
    with capture_logs() as said:
        finished = await drain.step("consumers", 0.2, stubborn)
    waited = time.monotonic() - started
    release.set()
    assert finished is False
    assert waited < 5, f"the drain waited {waited:.1f} s on a step with a 0.2 s budget"
    assert {
        "event": "drain step overran, left",
        "step": "consumers",
        "budget_s": 0.2,
    } in [{k: e[k] for k in ("event", "step", "budget_s") if k in e} for e in said]


async def test_a_failing_step_is_named_by_its_error_type_only() -> None:
    async def failing() -> None:
        raise RuntimeError("row 7 for 943 476 5919 would not go")

    with capture_logs() as said:
        finished = await drain.step("outbox flush", 1.0, failing)
    assert finished is False
    [line] = said
    assert line["step"] == "outbox flush"
    assert line["error"] == "RuntimeError"
    assert "943" not in repr(line)


async def test_a_step_that_finishes_in_time_is_clean() -> None:
    async def quick() -> None:
        await asyncio.sleep(0)

    with capture_logs() as said:
        assert await drain.step("database pool", 1.0, quick) is True
    assert said == []


async def test_an_overrun_names_where_the_step_and_the_task_it_waits_on_hang() -> None:
    # As FastStream's broker stop does: the step waits on a task group, and a child hangs in a library call.
    never = asyncio.Event()

    async def socket_goodbye() -> None:
        await never.wait()

    async def close_connections() -> None:
        await socket_goodbye()

    async def stop_subscribers() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(close_connections())

    with capture_logs() as said:
        assert await drain.step("consumers", 0.2, stop_subscribers) is False
    [line] = [e for e in said if e["event"] == "drain step overran, left"]
    assert line["awaiting"].startswith(f"{__name__}:")
    assert "stop_subscribers" in line["awaiting"]
    [child] = [t for t in line["tasks"] if "close_connections" in t]
    assert child.index("close_connections") < child.index("socket_goodbye")
    assert "asyncio.locks" in child  # down to the Event it waits on
