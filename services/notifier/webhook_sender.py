"""Send waiting webhook deliveries: signed, retried with backoff and jitter, broken off per agency, paused on request.

Deliveries are rows, so a restart loses none. Each round takes the due rows
(``SKIP LOCKED``: two notifiers never send the same one), groups them by
agency and sends the agencies concurrently, each in order, so one slow or
failing agency never holds up another. An agency that keeps failing trips
its circuit breaker and is left alone for a cool-down. After the agency's
``give_up_after`` the delivery becomes a dead letter for operations staff.
The breaker lives in this process; the pause switch is in the database.
"""

import asyncio
import base64
import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import asyncpg
import httpx

from services.notifier.domain import breaker as breakers
from services.notifier.domain.retry import RetryPolicy
from services.notifier.domain.webhook import SIGNATURE_HEADER, sign
from signpost import logs, loops
from signpost.consumer import DEAD_LETTER_TOPIC
from signpost.database import Conn
from signpost.outbox import enqueue

log = logs.get_logger()
CONSUMER = "signpost-notifier-webhook"
ROUND_LIMIT = 200


class Sender:
    def __init__(self, pool: asyncpg.Pool, client: httpx.AsyncClient, rng: random.Random | None = None) -> None:
        self.pool = pool
        self.client = client
        self.rng = rng or random.Random()
        self.breakers: dict[str, breakers.Breaker] = {}

    async def send_due(self) -> int:
        """One round; returns how many deliveries were attempted."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT d.*, w.url, w.secret, w.initial_delay_s, w.max_delay_s, w.give_up_after_s,"
                " coalesce(c.paused, false) AS paused FROM webhook_deliveries d JOIN webhooks w USING (agency_id)"
                " LEFT JOIN agency_controls c USING (agency_id)"
                " WHERE d.status = 'pending' AND d.next_attempt_at <= now() ORDER BY d.next_attempt_at LIMIT $1"
                " FOR UPDATE OF d SKIP LOCKED",
                ROUND_LIMIT,
            )
            by_agency: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                by_agency[row["agency_id"]].append(dict(row))
            results = await asyncio.gather(*(self._agency(agency, queue) for agency, queue in by_agency.items()))
            for updates in results:
                for update in updates:
                    await update(conn)
        return sum(len(q) for q in by_agency.values())

    async def _agency(self, agency: str, queue: list[dict[str, Any]]) -> list[Any]:
        """Try this agency's deliveries in order; stop at the first the pause or the breaker holds back."""
        updates: list[Any] = []
        for index, row in enumerate(queue):
            now = datetime.now(UTC)
            if row["first_attempt_at"] and _policy(row).should_dead_letter(row["first_attempt_at"], now):
                # Out of time, whether or not the breaker or a pause held it back: operations take it from here.
                updates.append(_dead_letter(row, row["attempts"], row["last_error"] or "not delivered in time"))
                continue
            paused = {agency: None} if row["paused"] else {}
            permission = breakers.may_attempt(agency, paused, self.breakers.get(agency), now)
            if not permission.allowed:
                later = permission.not_before or now + timedelta(seconds=5)
                for held in queue[index:]:
                    # Held back, but looked at again by its give-up time at the latest, so it is dead-lettered on time.
                    give_up = (held["first_attempt_at"] or now) + _policy(held).give_up_after
                    updates.append(_postpone(held["copy_id"], min(later, give_up), permission.reason or "held back"))
                break
            breaker = self.breakers.get(agency, breakers.Breaker()).attempt_started(now)
            error = await self._post(row, now)
            self.breakers[agency] = breaker.succeeded(now) if error is None else breaker.failed(now)
            updates.append(_delivered(row) if error is None else self._failed(row, error, now))
        return updates

    async def _post(self, row: dict[str, Any], now: datetime) -> str | None:
        body = bytes(row["body"])
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(row["secret"].encode(), body, now),
                   "Idempotency-Key": str(row["copy_id"])}  # fmt: skip
        try:
            response = await self.client.post(row["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}"
        return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"

    def _failed(self, row: dict[str, Any], error: str, now: datetime) -> Any:
        attempts = row["attempts"] + 1
        first = row["first_attempt_at"] or now
        policy = _policy(row)
        if policy.should_dead_letter(first, now):
            return _dead_letter(row, attempts, error)
        later = now + policy.next_attempt_delay(attempts, self.rng)

        async def update(conn: Conn) -> None:
            await conn.execute(
                "UPDATE webhook_deliveries SET attempts = $2, first_attempt_at = $3, next_attempt_at = $4, last_error = $5"
                " WHERE copy_id = $1",
                row["copy_id"], attempts, first, later, error,
            )  # fmt: skip

        return update


def _policy(row: dict[str, Any]) -> RetryPolicy:
    return RetryPolicy(initial=timedelta(seconds=row["initial_delay_s"]), max_delay=timedelta(seconds=row["max_delay_s"]),
                       give_up_after=timedelta(seconds=row["give_up_after_s"]))  # fmt: skip


def _postpone(copy_id: Any, later: datetime, reason: str) -> Any:
    async def update(conn: Conn) -> None:
        await conn.execute("UPDATE webhook_deliveries SET next_attempt_at = $2, last_error = $3 WHERE copy_id = $1",
                           copy_id, later, reason)  # fmt: skip

    return update


def _delivered(row: dict[str, Any]) -> Any:
    async def update(conn: Conn) -> None:
        await conn.execute("UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), attempts = attempts + 1,"
                           " last_error = NULL WHERE copy_id = $1", row["copy_id"])  # fmt: skip
        delivered = json.loads(row["delivered_event"])
        await enqueue(conn, topic="assignment.delivered", key=row["patient_key"], event=bytes(row["delivered_event"]),
                      event_id=delivered["event_id"], headers={"event-type": "assignment.delivered",
                                                               "correlation-id": delivered["correlation_id"]})  # fmt: skip
        log.info("webhook delivered", agency=row["agency_id"])

    return update


def _dead_letter(row: dict[str, Any], attempts: int, error: str) -> Any:
    async def update(conn: Conn) -> None:
        await conn.execute("UPDATE webhook_deliveries SET status = 'dead_lettered', attempts = $2, last_error = $3"
                           " WHERE copy_id = $1", row["copy_id"], attempts, error)  # fmt: skip
        letter_id = uuid5(NAMESPACE_URL, f"signpost:webhook-dead-letter:{row['copy_id']}")
        letter = {
            "type": "event.dead_lettered", "version": 1, "event_id": str(letter_id), "occurred_at": datetime.now(UTC).isoformat(),
            "consumer": CONSUMER, "original_topic": f"agency.{row['agency_id']}.referrals", "original_partition": 0,
            "original_offset": -1, "reason": f"webhook gave up after {attempts} attempts: {error}"[:2000],
            "payload_base64": base64.b64encode(bytes(row["body"])).decode(), "headers": {"event-type": "agency.referral"},
        }  # fmt: skip
        await enqueue(conn, topic=DEAD_LETTER_TOPIC, key=row["patient_key"], event=json.dumps(letter).encode(),
                      event_id=letter_id, headers={"event-type": "event.dead_lettered"})  # fmt: skip
        log.warning("webhook dead-lettered", agency=row["agency_id"], attempts=attempts)

    return update


def start(pool: asyncpg.Pool, interval_s: float) -> "asyncio.Task[None]":
    # One client for the life of the loop: connections to agencies are kept alive between rounds.
    sender = Sender(pool, httpx.AsyncClient(timeout=httpx.Timeout(5.0)))
    return loops.start("webhooks", sender.send_due, interval_s)


stop = loops.stop
