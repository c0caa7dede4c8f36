"""The inbox's namespace and the order of a cancellation against routing, on a real PostgreSQL.

The end-to-end tests in ``test_hostile_agency`` play the attacker on the real
stack, where the order in which two consumer groups read their topics is not
the test's to choose. Here the handlers are called in each order in turn:
the router's and the notifier's, with the migrations they run in production.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from pydantic import BaseModel

from schemas.events import (
    OutcomeRecorded,
    ReferralCancelled,
    ReferralRouted,
    ReferralSubmitted,
)
from schemas.vocabulary import OutcomeCode, ServiceType
from services.notifier.handlers import routed as delivery
from services.notifier.handlers.cancelled import handle_cancelled as notifier_cancelled
from services.notifier.loops.webhooks import Sender
from services.router.handlers import outcome as on_outcome
from services.router.handlers import submitted as on_submitted
from services.router.handlers.cancelled import handle_cancelled
from services.router.inputs import RoutingInputs
from services.router.store.directory import DirectoryCache, load
from signpost import consumer, database
from signpost.consumer import Incoming
from signpost.database import Conn
from signpost.settings import Settings
from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import _database
from tests.unit.schemas.factories import referral

ROOT = Path(__file__).resolve().parents[2]
E = TypeVar("E", bound=BaseModel)
T = TypeVar("T")
WEDNESDAY_MORNING = datetime(2026, 11, 18, 11, 0, tzinfo=UTC)  # FA001 and others open


def incoming(event: E, topic: str) -> Incoming[E]:
    return Incoming(event, topic, 0, 0, {})


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def database_url(infrastructure: Infrastructure) -> str:
    return _database(infrastructure, "inbox_and_cancellation_order")


async def _pool(url: str, schema: str, migrations: Path) -> asyncpg.Pool:
    pool = await database.connect(url, schema=schema, max_size=2)
    await database.migrate(pool, schema, migrations)
    return pool


# --- the inbox -------------------------------------------------------------------------------------------------------


class Seen(BaseModel):
    event_id: UUID


@pytest.mark.hazard("HAZ-007")
def test_an_id_is_claimed_per_consumer_group_and_topic(database_url: str) -> None:
    async def scenario() -> list[list[str]]:
        pool = await _pool(
            database_url, "inbox_namespace", ROOT / "no-service-migrations"
        )
        shared = Seen(event_id=uuid4())
        answers = []
        try:
            async with pool.acquire() as conn:
                for group, topic in [
                    ("g1", "agency.a.outcomes"),
                    ("g1", "referral.routed"),
                    ("g2", "agency.a.outcomes"),
                    ("g1", "agency.a.outcomes"),
                ]:
                    fresh = await consumer._claim(
                        conn, [incoming(shared, topic)], lambda e: e.event_id, group
                    )
                    answers.append([i.topic for i in fresh])
        finally:
            await pool.close()
        return answers

    assert run(scenario()) == [
        ["agency.a.outcomes"],
        ["referral.routed"],
        ["agency.a.outcomes"],
        [],
    ], (
        "an id on one topic shadows nothing on another, nor another group's; only a repeat is dropped"
    )


def test_ids_handled_before_the_namespace_still_count_as_handled_for_their_topic(
    database_url: str,
) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                'DROP SCHEMA IF EXISTS "inbox_upgrade" CASCADE; CREATE SCHEMA "inbox_upgrade"'
            )
            await conn.execute('SET search_path TO "inbox_upgrade"')
            for name in ("001_outbox_and_inbox.sql", "002_outbox_notify_trigger.sql"):
                await conn.execute((database.RUNTIME_MIGRATIONS / name).read_text())
            handled = uuid4()
            await conn.execute(
                "INSERT INTO processed_events (event_id, topic) VALUES ($1, 'referral.routed')",
                handled,
            )
            await conn.execute(
                (database.RUNTIME_MIGRATIONS / "003_inbox_namespace.sql").read_text()
            )
            again = await consumer._claim(
                conn,
                [incoming(Seen(event_id=handled), "referral.routed")],
                lambda e: e.event_id,
                "signpost-notifier",
            )
            elsewhere = await consumer._claim(
                conn,
                [incoming(Seen(event_id=handled), "agency.a.outcomes")],
                lambda e: e.event_id,
                "signpost-notifier-outcomes",
            )
            return [i.topic for i in again], [i.topic for i in elsewhere]
        finally:
            await conn.close()

    again, elsewhere = run(scenario())
    assert again == [], (
        "a record handled before the upgrade is not handled again after it"
    )
    assert elsewhere == ["agency.a.outcomes"]


# --- cancellation against routing, in each order ---------------------------------------------------------------------


def submitted() -> ReferralSubmitted:
    return ReferralSubmitted(
        event_id=uuid4(),
        occurred_at=WEDNESDAY_MORNING,
        correlation_id="c",
        journey_id=uuid4(),
        producer="intake",
        patient_key="k" * 32,
        referral_id=uuid4(),
        referral=referral(),
    )


def cancelled(of: ReferralSubmitted) -> ReferralCancelled:
    return ReferralCancelled(
        event_id=uuid4(),
        occurred_at=datetime.now(UTC),
        correlation_id="c",
        journey_id=of.journey_id,
        producer="intake",
        patient_key=of.patient_key,
        referral_id=of.referral_id,
        reason="recovered",
        cancelled_by="gp-h81001",
    )


Handle = Callable[[Conn, Sequence[Incoming[Any]]], Awaitable[None]]


class Router:
    """The router's three handlers on its own schema, each run in a transaction as the consumer runs it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        settings = Settings()
        inputs = RoutingInputs(settings.directory_path, settings.rules_path)
        self.pool, self.inputs, self.cache = pool, inputs, DirectoryCache()
        self.submitted = on_submitted.handler(inputs, self.cache)
        self.outcomes = on_outcome.handler(inputs, self.cache)

    async def apply(self, handle: Handle, event: BaseModel, topic: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await handle(conn, [incoming(event, topic)])

    async def routed(self, referral_id: UUID) -> list[ReferralRouted]:
        rows = await self.pool.fetch(
            "SELECT payload FROM outbox WHERE topic = 'referral.routed' ORDER BY id"
        )
        events = [ReferralRouted.model_validate_json(bytes(r["payload"])) for r in rows]
        return [e for e in events if e.referral_id == referral_id]

    async def decline(self, routed: ReferralRouted) -> OutcomeRecorded:
        (first,) = routed.assignments
        return OutcomeRecorded(
            event_id=uuid4(),
            occurred_at=WEDNESDAY_MORNING,
            correlation_id="c",
            journey_id=routed.journey_id,
            producer="notifier",
            patient_key=routed.patient_key,
            referral_id=routed.referral_id,
            assignment_id=first.assignment_id,
            agency_id=first.agency_id,
            service_type=ServiceType.COMMUNITY_PHARMACY,
            outcome=OutcomeCode.DECLINED,
            decline_reason="not_appropriate",
            reported_by=first.agency_id,
            previous_state="delivered",
        )


async def _router(url: str) -> Router:
    pool = await _pool(url, "router", ROOT / "services" / "router" / "migrations")
    router = Router(pool)
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT NOT EXISTS (SELECT 1 FROM directory_loads)"):
            await load(conn, router.inputs.directory, source="test")
    return router


@pytest.mark.hazard("HAZ-011")
def test_a_referral_cancelled_before_the_router_reads_it_is_never_routed(
    database_url: str,
) -> None:
    async def scenario() -> tuple[int, str]:
        router = await _router(database_url)
        try:
            event = submitted()
            await router.apply(handle_cancelled, cancelled(event), "referral.cancelled")
            await router.apply(router.submitted, event, "referral.submitted")
            outcome = await router.pool.fetchval(
                "SELECT outcome FROM decisions WHERE referral_id = $1",
                event.referral_id,
            )
            return len(await router.routed(event.referral_id)), outcome
        finally:
            await router.pool.close()

    assert run(scenario()) == (0, "cancelled")


@pytest.mark.hazard("HAZ-011")
def test_a_decline_the_router_reads_after_the_cancellation_is_not_rerouted_and_one_before_is(
    database_url: str,
) -> None:
    async def scenario(cancel_first: bool) -> int:
        router = await _router(database_url)
        try:
            event = submitted()
            await router.apply(router.submitted, event, "referral.submitted")
            (routed,) = await router.routed(event.referral_id)
            decline = await router.decline(routed)
            steps: list[tuple[Handle, BaseModel, str]] = [
                (handle_cancelled, cancelled(event), "referral.cancelled"),
                (router.outcomes, decline, "assignment.outcome"),
            ]
            for handle, message, topic in steps if cancel_first else reversed(steps):
                await router.apply(handle, message, topic)
            return len(await router.routed(event.referral_id)) - 1
        finally:
            await router.pool.close()

    assert run(scenario(cancel_first=True)) == 0, "a cancelled referral was rerouted"
    # The other order: the router rerouted before it knew (the notifier then withholds it, below).
    assert run(scenario(cancel_first=False)) == 1


class Notifier:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.deliver = delivery.handler(None)

    async def apply(self, handle: Handle, event: BaseModel, topic: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await handle(conn, [incoming(event, topic)])

    async def delivered_by_webhook_then_cancelled(
        self, routed: ReferralRouted, cancel: ReferralCancelled, url: str
    ) -> None:
        """The assignment's agency takes webhooks at ``url``: its delivery waits to be sent when the cancellation comes."""
        await self.pool.execute(
            "INSERT INTO webhooks (agency_id, url, secret, initial_delay_s, max_delay_s, give_up_after_s, updated_by)"
            " VALUES ($1, $2, 's', 1, 60, 3600, 'test') ON CONFLICT (agency_id) DO UPDATE SET url = EXCLUDED.url",
            routed.assignments[0].agency_id,
            url,
        )
        await self.apply(self.deliver, routed, "referral.routed")
        await self.apply(notifier_cancelled, cancel, "referral.cancelled")

    async def agency_copies(self, referral_id: UUID) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT payload FROM outbox WHERE topic LIKE 'agency.%.referrals' ORDER BY id"
        )
        return [
            p
            for p in (json.loads(bytes(r["payload"])) for r in rows)
            if p["referral_id"] == str(referral_id)
        ]


async def _notifier(url: str) -> Notifier:
    return Notifier(
        await _pool(url, "notifier", ROOT / "services" / "notifier" / "migrations")
    )


async def _routed_to(router_url: str) -> tuple[ReferralSubmitted, ReferralRouted]:
    router = await _router(router_url)
    try:
        event = submitted()
        await router.apply(router.submitted, event, "referral.submitted")
        (routed,) = await router.routed(event.referral_id)
        return event, routed
    finally:
        await router.pool.close()


@pytest.mark.hazard("HAZ-011")
def test_the_notifier_never_delivers_an_assignment_of_a_referral_it_knows_is_cancelled(
    database_url: str,
) -> None:
    async def scenario() -> tuple[list[str], int]:
        event, routed = await _routed_to(database_url)
        notifier = await _notifier(database_url)
        try:
            await notifier.apply(
                notifier_cancelled, cancelled(event), "referral.cancelled"
            )
            await notifier.apply(notifier.deliver, routed, "referral.routed")
            kept = await notifier.pool.fetchval(
                "SELECT count(*) FROM deliveries WHERE referral_id = $1",
                event.referral_id,
            )
            return [
                c["type"] for c in await notifier.agency_copies(event.referral_id)
            ], kept
        finally:
            await notifier.pool.close()

    assert run(scenario()) == ([], 0)


@pytest.mark.hazard("HAZ-011")
def test_a_cancellation_after_delivery_cancels_it_tells_the_agency_and_withdraws_a_webhook_not_yet_sent(
    database_url: str,
) -> None:
    async def scenario() -> tuple[list[str], str, str]:
        event, routed = await _routed_to(database_url)
        (assignment,) = routed.assignments
        notifier = await _notifier(database_url)
        try:
            await notifier.delivered_by_webhook_then_cancelled(
                routed, cancelled(event), "https://agency.example/hook"
            )
            state = await notifier.pool.fetchval(
                "SELECT state FROM deliveries WHERE assignment_id = $1",
                assignment.assignment_id,
            )
            webhook = await notifier.pool.fetchval(
                "SELECT status FROM webhook_deliveries WHERE assignment_id = $1",
                assignment.assignment_id,
            )
            await notifier.pool.execute(
                "DELETE FROM webhooks WHERE agency_id = $1", assignment.agency_id
            )
            return (
                [c["type"] for c in await notifier.agency_copies(event.referral_id)],
                state,
                webhook,
            )
        finally:
            await notifier.pool.close()

    notices, state, webhook = run(scenario())
    assert notices == ["referral.cancelled"], (
        "the webhook agency's copy never went to Kafka; its cancellation does"
    )
    assert (state, webhook) == ("cancelled", "cancelled")


@pytest.mark.hazard("HAZ-011")
def test_the_webhook_sender_never_posts_an_assignment_of_a_cancelled_referral(
    database_url: str,
) -> None:
    async def scenario() -> tuple[bool, str, list[str]]:
        event, routed = await _routed_to(database_url)
        (assignment,) = routed.assignments
        notifier = await _notifier(database_url)
        posted: list[str] = []

        def agency(request: httpx.Request) -> httpx.Response:
            posted.append(str(request.url))
            return httpx.Response(200)

        # Loopback over http, as a local stack allows: the address check passes, so only the cancellation stops it.
        sender = Sender(
            notifier.pool,
            httpx.AsyncClient(transport=httpx.MockTransport(agency)),
            allow_private=True,
        )
        try:
            await notifier.delivered_by_webhook_then_cancelled(
                routed, cancelled(event), "http://127.0.0.1/hook"
            )
            # A delivery left waiting from before cancellations withdrew webhooks: due now, still pending.
            await notifier.pool.execute(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now()"
                " WHERE assignment_id = $1",
                assignment.assignment_id,
            )
            stepped = await sender.step(assignment.agency_id)
            status = await notifier.pool.fetchval(
                "SELECT status FROM webhook_deliveries WHERE assignment_id = $1",
                assignment.assignment_id,
            )
            await notifier.pool.execute(
                "DELETE FROM webhooks WHERE agency_id = $1", assignment.agency_id
            )
            return stepped, status, posted
        finally:
            await sender.stop()
            await notifier.pool.close()

    assert run(scenario()) == (True, "cancelled", [])
