"""Per-client rate limits: 429 with ``Retry-After`` once a client is over its allowance.

Keyed by the authenticated client (the verified token's client id), never by
address: a practice's reception desks share one address and one client.
Each role has its own allowance, and a deployer can give one client another
(a federation's system that submits for many practices). Limits use the
``limits`` package's sliding window counter: the previous window's count,
weighted by how much of it the last full window still covers, counts with
the current one, so a client is never let through twice its allowance
across a window boundary, as a fixed window would.

The counts are kept in this process's memory: with several instances of a
service, a client gets its allowance at each instance, unless the limiter
is given a shared storage (``limits`` has Redis and Memcached backends).
"""

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from prometheus_client import Counter

from signpost.clients import Principal

# By client: the registry bounds the label's values, and operations want to know which system is hammering.
REFUSED = Counter(
    "signpost_rate_limited_total",
    "Requests refused with 429 over the client's rate limit",
    ["client_id"],
)


class RateLimited(HTTPException):
    """A client over its allowance. An HTTPException, so any handler renders it as 429 with Retry-After."""

    def __init__(self, retry_after_s: int, detail: str) -> None:
        super().__init__(429, detail, headers={"Retry-After": str(retry_after_s)})
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Allowances:
    """Which limits apply to whom: by role, unless the client has its own."""

    by_role: Mapping[
        str, tuple[RateLimitItem, ...]
    ]  # by role: referrer, agency, operations
    by_client: Mapping[str, tuple[RateLimitItem, ...]]

    @classmethod
    def parse(
        cls, by_role: Mapping[str, str], by_client: Mapping[str, str]
    ) -> "Allowances":
        """From the settings' strings, such as ``"300/minute"`` or ``"20/second;300/minute"`` (each must hold)."""
        roles = {role: tuple(parse_many(rate)) for role, rate in by_role.items()}
        return cls(
            roles,
            {client: tuple(parse_many(rate)) for client, rate in by_client.items()},
        )

    def of(self, principal: Principal) -> tuple[RateLimitItem, ...]:
        return self.by_client.get(principal.client_id) or self.by_role.get(
            principal.role, ()
        )


def describe(item: RateLimitItem) -> str:
    """``3 requests a minute``, ``20 requests per 5 seconds``: the limit as a client's developer would say it."""
    unit = item.GRANULARITY.name
    per = f"a {unit}" if item.multiples == 1 else f"per {item.multiples} {unit}s"
    return f"{item.amount} requests {per}"


def retry_after(reset_at: float, now: float) -> int:
    """Whole seconds until the window has room again; at least one, so a client never retries at once."""
    return max(1, math.ceil(reset_at - now))


class RateLimiter:
    """One service instance's counts. A request over any of its client's limits is refused, and not counted.

    The asyncio flavour of ``limits``: its in-memory storage expires old hits from a task on the service's event
    loop. The threaded one started a new ``threading.Timer`` thread on nearly every request (393 threads per 400
    requests 15 ms apart, about 0.4 ms of CPU each; 7% of intake's profile). A sliding window counter, not the
    moving window: the moving window keeps every hit and, after each request, bisects each client's hits in a
    worker thread (``asyncio.to_thread``) to expire them, about 0.35 ms of process CPU per request
    (``python -m benchmarks.limiter``); two counters per client and limit need no such pass.
    """

    def __init__(self, allowances: Allowances, storage: Storage | None = None) -> None:
        self.allowances = allowances
        self._window = SlidingWindowCounterRateLimiter(storage or MemoryStorage())

    async def check(self, principal: Principal) -> None:
        """Count one request, or raise ``RateLimited`` naming the limit and when to come back."""
        limits = self.allowances.of(principal)
        if not limits:
            return
        # One hit for the usual single limit (not a test, then a hit); with several, the others are tested first
        # so that a refusal by any of them counts against none.
        *others, last = limits
        for item in others:
            if not await self._window.test(item, principal.client_id):
                await self._refuse(item, principal.client_id)
        if not await self._window.hit(last, principal.client_id):
            await self._refuse(last, principal.client_id)
        for item in others:
            await self._window.hit(item, principal.client_id)

    async def _refuse(self, item: RateLimitItem, client_id: str) -> NoReturn:
        REFUSED.labels(client_id).inc()
        stats = await self._window.get_window_stats(item, client_id)
        wait = retry_after(stats.reset_time, time.time())
        raise RateLimited(
            wait, f"over this client's limit of {describe(item)}; retry after {wait} s"
        )


def limiter_for(request: Request) -> RateLimiter:
    """The app's limiter, made on first use from the app's settings."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        runtime = getattr(state, "runtime", None)
        if runtime is not None:
            settings = runtime.settings
        else:
            from signpost.settings import get_settings

            settings = get_settings()
        limiter = RateLimiter(
            Allowances.parse(
                settings.rate_limits_by_role(), settings.rate_limit_clients
            )
        )
        state.rate_limiter = limiter
    return limiter


async def refused(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler: RFC 9457 problem details with Retry-After. A service with FHIR endpoints (intake) puts its
    own handler in front for them, so this library needs no FHIR code system."""
    assert isinstance(exc, RateLimited)
    from signpost.http import problem

    headers = {"Retry-After": str(exc.retry_after_s)}
    response = problem(429, "Too Many Requests", str(exc.detail))
    response.headers.update(headers)
    return response
