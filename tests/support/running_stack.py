"""The four services as separate processes against the test infrastructure."""

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.infrastructure import Infrastructure
from toolbox import stack

# Overridable so that two suites (two engineers, two worktrees) can run side by side on one machine.
_BASE = int(os.environ.get("SIGNPOST_TEST_PORT_BASE", "18000"))
TEST_PORTS = {
    "intake": _BASE + 1,
    "router": _BASE + 2,
    "notifier": _BASE + 3,
    "audit": _BASE + 4,
}


# Every stack of a session joins the same consumer groups on the broker, so only one may run at a time: a stack that
# gives way (the shared one, tests/support/shared_stack.py) is stopped before any other starts.
_giving_way: list[Callable[[], None]] = []
_occupying: list[str] = []


@contextlib.contextmanager
def giving_way(stop: Callable[[], None]) -> Iterator[None]:
    """While inside, ``stop`` is called before any stack starts with ``running``."""
    _giving_way.append(stop)
    try:
        yield
    finally:
        _giving_way.remove(stop)


def make_way() -> None:
    for stop in list(_giving_way):
        stop()


def occupied() -> bool:
    """Whether a stack that does not give way is running."""
    return bool(_occupying)


@contextlib.contextmanager
def occupying(name: str) -> Iterator[None]:
    make_way()
    _occupying.append(name)
    try:
        yield
    finally:
        _occupying.remove(name)


@contextlib.contextmanager
def running(
    infra: Infrastructure,
    name: str,
    ports: dict[str, int] | None = None,
    extra_env: dict[str, str] | None = None,
    gives_way: bool = False,
) -> Iterator[stack.Stack]:
    """Start all four services in a database of their own; stop them afterwards.

    ``gives_way``: this stack is stopped by its owner whenever another is to start (the shared stack); any other
    stops those first.
    """
    with (
        contextlib.nullcontext() if gives_way else occupying(name),
        _started(infra, name, ports, extra_env) as started,
    ):
        yield started


@contextlib.contextmanager
def _started(
    infra: Infrastructure,
    name: str,
    ports: dict[str, int] | None,
    extra_env: dict[str, str] | None,
) -> Iterator[stack.Stack]:
    url = _database(infra, name)
    from services.router.inputs import known_agencies
    from signpost.settings import Settings

    stack.create_topics(infra.kafka_bootstrap, known_agencies(Settings()))
    running_stack = stack.Stack(
        infra.kafka_bootstrap,
        url,
        infra.state_dir / name,
        ports=dict(ports or TEST_PORTS),
        extra_env=dict(extra_env or {}),
        # One file for the server's roles, which every test database shares.
        database_roles_file=infra.state_dir / "database-roles.json",
    )
    try:
        running_stack.start_all()
        yield running_stack
    finally:
        running_stack.stop_all()


def _database(infra: Infrastructure, name: str) -> str:
    """A fresh database per stack, so test stacks never see each other's rows."""
    import asyncio

    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(infra.database_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base, _, _ = infra.database_url.rpartition("/")
    return f"{base}/{name}"


def eventually(
    check: Callable[[], Any],
    timeout: float = 30.0,
    interval: float = 0.2,
    what: str = "condition",
) -> Any:
    """Poll until ``check`` returns a truthy value (readiness, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout:.0f}s waiting for {what}; last saw {last!r}"
    )


def audit_trail(stack_: stack.Stack, referral_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{stack_.url('audit')}/v1/referrals/{referral_id}/audit",
        headers=bearer("operations"),
        timeout=5,
    )
    if response.status_code == 404:
        return []
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def log_text(stack_: stack.Stack, service: str) -> str:
    path: Path = stack_.log_file(service)
    return path.read_text() if path.exists() else ""


def bearer(client_id: str = "gp-h81001") -> dict[str, str]:
    from toolbox.tokens import dev_token

    return {"Authorization": f"Bearer {dev_token(client_id)}"}
