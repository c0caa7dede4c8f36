"""Background loops in isolation: they outlive any error, say which loop stopped, and never store a row's values."""

import asyncio

import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel, Field, ValidationError

from signpost import loops


class Row(BaseModel):
    patient_key: str = Field(min_length=16)


def errors(loop: str) -> float:
    return (
        REGISTRY.get_sample_value("signpost_loop_errors_total", {"loop": loop}) or 0.0
    )


async def test_a_loop_goes_on_after_any_error() -> None:
    rounds: list[int] = []
    fourth = asyncio.Event()

    async def step() -> int:
        rounds.append(1)
        if len(rounds) >= 4:
            fourth.set()
        if len(rounds) < 3:
            raise KeyError("a bug")
        return 0

    before = errors("unit-survivor")
    task = loops.start("unit-survivor", step, 0.001)
    try:
        async with asyncio.timeout(5):
            await fourth.wait()
        assert not task.done()
        assert errors("unit-survivor") == before + 2
        assert loops.states()["unit-survivor"] == "running"
    finally:
        await loops.stop(task)
    assert "unit-survivor" not in loops.states(), (
        "a loop stopped on purpose is no longer watched"
    )


async def test_a_loop_that_ended_is_named_with_why() -> None:
    async def dies() -> None:
        raise RuntimeError("outside any round")

    task = loops.watch("unit-dead", asyncio.create_task(dies()))
    await asyncio.wait([task])
    try:
        assert loops.states()["unit-dead"] == "stopped: RuntimeError"
    finally:
        loops.forget("unit-dead")


async def test_a_watched_task_that_may_finish_is_forgotten_when_its_work_is_done() -> (
    None
):
    async def done() -> None:
        return None

    task = loops.watch("unit-probe", asyncio.create_task(done()), may_finish=True)
    await task
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert "unit-probe" not in loops.states()


def test_a_parked_reason_names_fields_and_rules_never_values() -> None:
    with pytest.raises(ValidationError) as caught:
        Row(patient_key="9434765919")
    reason = loops.reason(caught.value)
    assert reason.startswith(
        "ValidationError: patient_key: String should have at least 16 characters"
    )
    assert "9434765919" not in reason
    assert loops.reason(ValueError("Harris, 9434765919")) == "ValueError", (
        "other errors by type only"
    )
