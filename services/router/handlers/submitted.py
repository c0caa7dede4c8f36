"""The router's handler: a submitted referral in, a decision and its events out.

The decision itself is pure (``services.router.domain``); this module only
loads inputs, stores the decision and writes the events to the outbox, all
in the consumer's transaction.
"""

import json
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from schemas.events import ReferralRouted, ReferralSubmitted, ReferralUnroutable
from schemas.ids import derived_event_id
from schemas.topics import REFERRAL_ROUTED, REFERRAL_UNROUTABLE
from services.router.domain.assignments import assignments_of, service_contexts
from services.router.domain.decide import Decision, decide
from services.router.domain.directory import Directory
from services.router.domain.rules import RuleSet
from services.router.inputs import RoutingInputs
from services.router.store import assignments as assignments_store
from services.router.store import cancellations, decisions
from services.router.store.directory import DirectoryCache
from signpost import logs, terminology
from signpost.consumer import Incoming
from signpost.database import Conn
from signpost.outbox import OutboxRow, enqueue_many, outbox_row
from signpost.terminology import DEFAULT_TERMINOLOGY, Terminology

log = logs.get_logger()


Handler = Callable[[Conn, Sequence[Incoming[ReferralSubmitted]]], Awaitable[None]]


def handler(inputs: RoutingInputs, directory_cache: DirectoryCache) -> Handler:
    async def handle_submitted(
        conn: Conn, batch: Sequence[Incoming[ReferralSubmitted]]
    ) -> None:
        # Rules come from their YAML file (reloaded on change); the directory from PostgreSQL, with live status.
        _, rules = inputs.current()
        directory = await directory_cache.current(conn)
        await cancellations.lock(conn, (item.event.referral_id for item in batch))
        cancelled = await cancellations.cancelled_among(
            conn, (item.event.referral_id for item in batch)
        )
        await _store(
            conn,
            _planned(
                batch, cancelled, directory, rules, terms=terminology.configured()
            ),
        )

    return handle_submitted


@dataclass(frozen=True)
class _Writes:
    """The rows one decision adds: written for the whole batch at once, a round trip per table, not per referral."""

    decision: tuple[Any, ...]
    assignments: list[tuple[Any, ...]]
    event: OutboxRow | None


def _planned(
    batch: Sequence[Incoming[ReferralSubmitted]],
    cancelled: Collection[UUID],
    directory: Directory,
    rules: RuleSet,
    *,
    terms: Terminology = DEFAULT_TERMINOLOGY,
) -> list[_Writes]:
    """The batch's writes, decided from what was loaded: pure, so it is tested without a database."""
    writes = []
    for item in batch:
        with logs.handling(
            item.topic, item.headers, item.event.referral_id, item.event.correlation_id
        ):
            if item.event.referral_id in cancelled:
                # Cancelled before the router read it: remembered, never routed.
                writes.append(_withheld(item.event, rules.version))
                continue
            writes.append(
                _decided(
                    item.event,
                    decide(
                        item.event.referral,
                        directory,
                        rules,
                        item.event.occurred_at,
                        terms=terms,
                    ),
                )
            )
    return writes


def _decided(event: ReferralSubmitted, decision: Decision) -> _Writes:
    """The decision's rows and event; the time decided is the event's, so replays agree."""
    assignments = assignments_of(event.event_id, decision)
    # Both outcomes follow the submitted event: same journey, correlation, patient key and referral.
    follows: dict[str, Any] = {
        "occurred_at": datetime.now(UTC),
        "correlation_id": event.correlation_id,
        "journey_id": event.journey_id,
        "producer": "router",
        "patient_key": event.patient_key,
        "referral_id": event.referral_id,
        "rule_set_version": decision.rule_set_version,
        "referral": event.referral,
    }
    outgoing: ReferralRouted | ReferralUnroutable
    if assignments:
        outgoing = ReferralRouted(
            event_id=derived_event_id(event.event_id, "routed"),
            assignments=assignments,
            services=service_contexts(decision.services, assignments),
            notes_to_referrer=decision.notes_to_referrer,
            **follows,
        )
    else:
        outgoing = ReferralUnroutable(
            event_id=derived_event_id(event.event_id, "unroutable"),
            reason=decision.unroutable_reason or "no rule produced an assignment",
            **follows,
        )
    explanation = {
        "directory_version": decision.directory_version,
        "assignments": [a.model_dump(mode="json") for a in assignments],
        "notes_to_referrer": list(decision.notes_to_referrer),
        "unroutable_reason": decision.unroutable_reason,
    }
    outcome = "routed" if assignments else "unroutable"
    log.info(
        f"referral {outcome}",
        assignments=len(assignments),
        rule_set_version=decision.rule_set_version,
    )
    return _Writes(
        decision=(
            event.referral_id,
            event.event_id,
            event.patient_key,
            outcome,
            decision.rule_set_version,
            json.dumps(explanation),
            event.referral.model_dump_json(),
            event.journey_id,
            event.correlation_id,
        ),
        assignments=[
            (
                a.assignment_id,
                event.referral_id,
                a.service_id,
                a.service_type.value,
                a.agency_id,
                a.rule_id,
                a.reason,
                [n.value for n in a.needs],
            )
            for a in assignments
        ],
        event=outbox_row(
            topic=REFERRAL_ROUTED if assignments else REFERRAL_UNROUTABLE,
            key=event.patient_key,
            event=outgoing,
            event_id=outgoing.event_id,
            headers={
                "event-type": outgoing.type,
                "correlation-id": outgoing.correlation_id,
            },
        ),
    )


def _withheld(event: ReferralSubmitted, rule_set_version: str) -> _Writes:
    """A decision row saying the referral was cancelled before it was routed; no event, no assignment."""
    log.info("referral cancelled before routing; not routed")
    explanation = {"cancelled_before_routing": True, "assignments": []}
    return _Writes(
        decision=(
            event.referral_id,
            event.event_id,
            event.patient_key,
            cancellations.CANCELLED,
            rule_set_version,
            json.dumps(explanation),
            event.referral.model_dump_json(),
            event.journey_id,
            event.correlation_id,
        ),
        assignments=[],
        event=None,
    )


async def _store(conn: Conn, writes: list[_Writes]) -> None:
    """Store a batch's decisions in the consumer's transaction."""
    await decisions.add(conn, [w.decision for w in writes])
    assignments = [row for w in writes for row in w.assignments]
    if assignments:
        await assignments_store.add(conn, assignments)
    await enqueue_many(conn, [w.event for w in writes if w.event is not None])
