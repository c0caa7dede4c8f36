"""SLA timers: set when an assignment is delivered, fired by a loop when nobody acted in time.

Timers are rows, not in-memory callbacks, so a restart loses none: the loop
picks up whatever fell due while the notifier was down. Each firing runs in
its own transaction with the row locked (``SKIP LOCKED``), so two notifier
instances never fire the same timer twice. A timer whose firing raises (a
fault of its row, not a database outage) is parked with the reason, inside
the same transaction, so the timers behind it still fire and it does not come
first again (see ``signpost.loops``).
"""

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
from prometheus_client import Counter

from schemas.events import ReferralEscalated
from schemas.ids import derived_event_id
from schemas.topics import REFERRAL_ESCALATED, agency_referrals
from schemas.vocabulary import ServiceType
from services.notifier.domain import outcomes, sla
from services.notifier.domain.envelope import following
from services.notifier.domain.escalation import escalation_reason
from services.notifier.domain.outcomes import AssignmentState, IllegalTransition
from services.notifier.domain.reference import coordinator_of, service_name
from services.notifier.handlers.practice_feedback import tell_referrer
from services.notifier.store import timers as timer_rows
from services.notifier.store.deliveries import lock_assignment, store_move
from signpost import logs, loops, terminology
from signpost.database import Conn
from signpost.outbox import enqueue

LOOP = "sla-timers"
BREACHES = Counter("signpost_sla_breaches_total", "SLA timers that fired", ["timer"])
log = logs.get_logger()


async def fire_due(
    pool: asyncpg.Pool, now: datetime | None = None, limit: int = 100
) -> int:
    """Fire every timer due by ``now``; returns how many fired."""
    fired = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            due = await timer_rows.lock_due(conn, now or datetime.now(UTC), limit)
            for timer in due:
                try:
                    async with conn.transaction():  # a savepoint: a timer that raises takes back only its own writes
                        fired += await _fire(conn, dict(timer))
                except loops.TRANSIENT:
                    raise  # the database is away: the whole round waits, nothing is parked
                except Exception as exc:  # noqa: BLE001 - one bad timer must not stop the others
                    await _park(conn, timer, loops.parked(LOOP, exc))
        if len(due) < limit:
            return fired


async def _park(conn: Conn, timer: asyncpg.Record, reason: str) -> None:
    await timer_rows.park(conn, timer["assignment_id"], timer["name"], reason)
    log.error("SLA timer parked", timer=timer["name"], reason=reason)


async def _fire(conn: Conn, timer: dict[str, Any]) -> int:
    delivery = await lock_assignment(conn, timer["assignment_id"])
    if (
        delivery is None
    ):  # the timers table references deliveries, so this cannot happen; say so if it does
        raise LookupError(f"timer {timer['name']} has no assignment")
    event = sla.BREACH_EVENTS[sla.OnBreach(timer["on_breach"])]
    now = datetime.now(UTC)
    try:
        move = outcomes.apply(
            AssignmentState(delivery["state"]), event, accepted=delivery["accepted"]
        )
    except IllegalTransition as stale:
        # The assignment moved on without clearing this timer (e.g. contacted, so no escalation); it no longer applies.
        await timer_rows.clear(conn, timer["assignment_id"], timer["name"], now)
        log.info("timer no longer applies", timer=timer["name"], reason=stale.reason)
        return 0
    await timer_rows.fired(conn, timer["assignment_id"], timer["name"], now)
    await store_move(conn, delivery, move, event, now)
    escalated = _escalation(delivery, timer, now)
    headers = {"event-type": escalated.type, "correlation-id": escalated.correlation_id}
    await enqueue(
        conn,
        topic=REFERRAL_ESCALATED,
        key=delivery["patient_key"],
        event=escalated,
        event_id=escalated.event_id,
        headers=headers,
    )
    coordinator = coordinator_of(delivery)
    if coordinator and coordinator != delivery["agency_id"]:
        # The coordinator hears on its own agency topic, the only one it reads.
        copy_id = derived_event_id(escalated.event_id, f"to:{coordinator}")
        await enqueue(
            conn,
            topic=agency_referrals(coordinator),
            key=delivery["patient_key"],
            event=escalated.model_copy(update={"event_id": copy_id}),
            event_id=copy_id,
            headers=headers,
        )
    await tell_referrer(conn, delivery, event, escalated.event_id, at=now)
    BREACHES.labels(timer["name"]).inc()
    log.warning(
        "SLA timer fired",
        timer=timer["name"],
        agency=delivery["agency_id"],
        state=move.after.value,
    )
    return 1


def _escalation(
    delivery: dict[str, Any], timer: dict[str, Any], now: datetime
) -> ReferralEscalated:
    coordinator = coordinator_of(delivery)
    reason = escalation_reason(
        service_name(delivery),
        ServiceType(delivery["service_type"]),
        closing=timer["on_breach"] == sla.OnBreach.CLOSE_AND_TELL_GP.value,
        due_at=timer["due_at"],
        coordinator_told=coordinator is not None
        and coordinator != delivery["agency_id"],
        words=terminology.configured().for_network(delivery["network_id"]),
    )
    return ReferralEscalated(
        event_id=derived_event_id(delivery["assignment_id"], f"timer:{timer['name']}"),
        occurred_at=now,
        **following(delivery),
        assignment_id=delivery["assignment_id"],
        agency_id=delivery["agency_id"],
        network_id=delivery["network_id"],
        timer=timer["name"],
        due_at=timer["due_at"],
        reason=reason,
        notify=tuple(x for x in (delivery["referrer_ods"], coordinator) if x),
    )


def start(pool: asyncpg.Pool, interval_s: float) -> "asyncio.Task[None]":
    return loops.start(
        LOOP, lambda: fire_due(pool), interval_s, parked=timer_rows.PARKED
    )


stop = loops.stop
