"""What a service's wiring builds reaches its routes by type, and a part never wired is a named error."""

from dataclasses import dataclass
from typing import Any, cast

import pytest

from signpost import consumer
from signpost.service import Runtime
from signpost.settings import Settings


@dataclass
class Cache:
    entries: int = 0


@dataclass
class Slots:
    free: int = 3


def runtime() -> Runtime:
    unused = cast(Any, None)  # no pool, broker or relay: only the parts are exercised
    return Runtime("router", Settings(), unused, unused, unused)


def test_a_provided_part_is_found_by_its_type() -> None:
    running = runtime()
    cache = running.provide(Cache(entries=7))
    running.provide(Slots())
    assert running.part(Cache) is cache
    assert running.part(Slots).free == 3


def test_a_part_never_wired_names_the_service_and_the_type() -> None:
    running = runtime()
    running.provide(Slots())
    with pytest.raises(LookupError, match="router wired no Cache"):
        running.part(Cache)


def test_stop_hooks_start_empty_for_each_runtime() -> None:
    first, second = runtime(), runtime()

    async def hook() -> None:
        return None

    first.on_stop.append(hook)
    assert second.on_stop == []


def test_a_service_hands_its_own_event_size_limit_to_every_consumer_it_follows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The limit comes from the service's settings, not from the environment when signpost.consumer was imported.
    subscribed: list[dict[str, Any]] = []
    monkeypatch.setattr(
        consumer, "subscribe", lambda *_, **kwargs: subscribed.append(kwargs)
    )
    running = Runtime(
        "router",
        Settings(max_event_bytes=2048),
        cast(Any, None),
        cast(Any, None),
        cast(Any, None),
    )
    running.follow("referral.submitted", group="g", parse=None, handle=None)
    assert subscribed[0]["max_event_bytes"] == 2048


def _followed(monkeypatch: pytest.MonkeyPatch, **follow: Any) -> dict[str, Any]:
    subscribed: list[dict[str, Any]] = []
    monkeypatch.setattr(
        consumer, "subscribe", lambda *_, **kwargs: subscribed.append(kwargs)
    )
    runtime().follow(group="g", parse=None, handle=None, **follow)
    return subscribed[0]


def test_a_group_that_follows_by_pattern_gathers_and_one_that_names_its_topics_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (
        _followed(monkeypatch, pattern=r"^agency\..+")["gather_ms"]
        == consumer.PATTERN_GATHER_MS
        > 0
    )
    assert _followed(monkeypatch)["gather_ms"] == 0
    assert (
        _followed(monkeypatch, pattern=r"^agency\..+", gather_ms=0)["gather_ms"] == 0
    ), "a service may say otherwise"
