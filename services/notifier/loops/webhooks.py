"""Send waiting webhook deliveries: signed, retried with backoff and jitter, broken off per agency, paused on request.

Deliveries are rows, so a restart loses none. Each agency with something due
gets a task of its own that sends its deliveries one after another, and up to
``concurrency`` agencies are sent to at once: an agency that hangs until the
timeout holds up only itself. No database transaction stays open while a
request is out; the delivery is leased instead (due again after
``LEASE``), so a notifier that dies mid-request loses nothing and the agency,
which may then see the delivery twice, deduplicates on ``Idempotency-Key``.
A delivery whose handling raises (a fault of its row, not a database
outage) is parked with the reason (status ``parked``), so it does not come
first again at every round while the agency's other deliveries wait behind it.
"""

import asyncio
import functools
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import httpx

from services.notifier.domain.webhooks.attempts import (
    GiveUp,
    Hold,
    RetryAt,
    after_failure,
    before_attempt,
)
from services.notifier.domain.webhooks.breaker import BREAKER, BreakerPolicy
from services.notifier.domain.webhooks.receivers import referrer_of
from services.notifier.domain.webhooks.signing import signed_headers
from services.notifier.loops import webhook_reach
from services.notifier.store import webhooks as store
from signpost import logs, loops
from signpost.database import Conn

log = logs.get_logger()
TIMEOUT = httpx.Timeout(
    10.0, connect=5.0
)  # short: a slow agency holds up only its own queue
LEASE = timedelta(seconds=30)  # longer than any one request may take
LOOP = "webhooks"


def _now() -> datetime:
    return datetime.now(UTC)


class Sender:
    def __init__(
        self,
        pool: asyncpg.Pool,
        client: httpx.AsyncClient,
        *,
        concurrency: int = 16,
        breaker: BreakerPolicy | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = _now,
        allow_private: bool = False,
    ) -> None:
        self.pool, self.client, self.clock = pool, client, clock
        self.allow_private = allow_private
        self.breaker = breaker or BREAKER
        self.rng = rng or random.Random()
        self.slots = asyncio.Semaphore(concurrency)
        self.busy: dict[str, asyncio.Task[None]] = {}
        # The delivery each agency's task is dealing with, so that one which raises can be parked.
        self.current: dict[str, UUID] = {}

    async def start_due(self) -> int:
        """One round: start a task for each agency with something due that has none yet; returns how many started."""
        async with self.pool.acquire() as conn:
            agencies = await store.due_agencies(conn, list(self.busy))
        for agency in agencies:
            task = asyncio.create_task(self._drain(agency), name=f"webhooks-{agency}")
            self.busy[agency] = task
            task.add_done_callback(functools.partial(self._forget, agency))
        return len(agencies)

    def _forget(self, agency: str, _: "asyncio.Task[None]") -> None:
        self.busy.pop(agency, None)

    async def stop(self) -> None:
        for task in list(self.busy.values()):
            await loops.stop(task)
        await self.client.aclose()

    async def _drain(self, agency: str) -> None:
        async with self.slots:
            try:
                while await self.step(agency):
                    pass
            except loops.TRANSIENT as exc:
                # Database away: the rows wait, leased or due, for the next round.
                log.warning(
                    "webhook round failed, will retry",
                    agency=agency,
                    error=type(exc).__name__,
                )
            except Exception as exc:  # noqa: BLE001 - one agency's bad row must not stop the others
                await self._park(agency, exc)
            finally:
                self.current.pop(agency, None)

    async def _park(self, agency: str, exc: Exception) -> None:
        reason = loops.parked(LOOP, exc)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await store.park(conn, agency, self.current.get(agency), reason)
        except Exception as again:  # noqa: BLE001 - counted; the row stays due and is tried again next round
            loops.failed(LOOP, again)
            return
        log.error("webhook delivery parked", agency=agency, reason=reason)

    async def step(self, agency: str) -> bool:
        """Deal with the agency's next due delivery; False once nothing is due."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            self.current.pop(agency, None)
            claimed = await store.claim(conn, agency)
            if claimed is None:
                return False
            self.current[agency] = claimed.copy_id
            if claimed.url is None:
                await store.hand_back_to_kafka(conn, agency)
                return True
            if await _withdrawn_if_cancelled(conn, claimed):
                return True
            controls = await store.controls(conn, agency, self.breaker)
            decision = before_attempt(
                agency, claimed.due, claimed.policy, controls, now
            )
            if isinstance(decision, Hold):
                await store.hold(conn, claimed, decision)
                return True
            if isinstance(decision, GiveUp):
                await store.dead_letter(conn, claimed, decision)
                return True
            await store.lease(conn, claimed, now, now + LEASE)
            await store.save_breaker(conn, agency, controls.breaker, decision.breaker)
        error = await self._post(
            claimed.url, claimed.secret, claimed.body, str(claimed.copy_id)
        )
        await self._record(store.with_first_attempt(claimed, now), error)
        return True

    async def _post(
        self, url: str, secret: str, body: bytes, event_id: str
    ) -> str | None:
        """None on 2xx, else what went wrong in a few words (never the body, which names a patient).

        The event id is the ``webhook-id`` and the ``Idempotency-Key``: the same on every retry of one delivery.
        """
        # Checked again at each delivery: the host may resolve elsewhere than when it was registered.
        unreachable = await webhook_reach.refusal(url, allow_private=self.allow_private)
        if unreachable is not None:
            return f"not sent: {unreachable}"
        headers = {
            "Content-Type": "application/json",
            **signed_headers(secret, event_id, body, self.clock()),
            "Idempotency-Key": event_id,
        }
        try:
            # Streamed and never read: an agency's answer body is not ours to buffer, however large.
            async with self.client.stream(
                "POST", url, content=body, headers=headers
            ) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return None if 200 <= status < 300 else f"HTTP {status}"

    async def _record(self, claimed: store.Claimed, error: str | None) -> None:
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            controls = await store.controls(conn, claimed.agency_id, self.breaker)
            breaker = (
                controls.breaker.succeeded(now)
                if error is None
                else controls.breaker.failed(now)
            )
            if error is None:
                await store.delivered(conn, claimed, now)
            else:
                outcome = after_failure(
                    claimed.due, claimed.policy, error, now, self.rng
                )
                if isinstance(outcome, RetryAt):
                    await store.retry(conn, claimed, outcome, error)
                else:
                    await store.dead_letter(conn, claimed, outcome)
            await store.save_breaker(conn, claimed.agency_id, controls.breaker, breaker)


async def _withdrawn_if_cancelled(conn: Conn, claimed: store.Claimed) -> bool:
    """Never send an assignment its referrer has cancelled; withdraw it instead (the cancellation withdraws what
    it finds waiting, and this catches a row it could not: one left pending from before cancellations were kept)."""
    if (
        referrer_of(claimed.agency_id) is not None
    ):  # feedback is news even of a cancelled referral's earlier steps
        return False
    withdrawn = await store.withdraw_if_cancelled(conn, claimed.copy_id)
    if withdrawn:
        log.info("webhook of a cancelled referral withdrawn", agency=claimed.agency_id)
    return withdrawn


def start(
    pool: asyncpg.Pool, interval_s: float, *, allow_private: bool = False
) -> tuple[Sender, "asyncio.Task[None]"]:
    # One client for the life of the sender: connections to agencies are kept alive between deliveries.
    # Redirects are not followed (httpx's default): a 3xx could point anywhere, past the address check.
    sender = Sender(
        pool, httpx.AsyncClient(timeout=TIMEOUT), allow_private=allow_private
    )
    return sender, loops.start(LOOP, sender.start_due, interval_s, parked=store.PARKED)


async def stop(running: tuple[Sender, "asyncio.Task[None]"]) -> None:
    sender, task = running
    await loops.stop(task)
    await sender.stop()
