"""When an agency declines, find the next suitable provider; never one that already declined.

The router hears every recorded outcome on ``assignment.outcome`` and acts on
declines only. The choice is the pure ``reroute``; this module gathers who
declined so far, stores the new assignment and publishes it as a
``referral.routed`` whose assignment names the one it replaces. After the
rule set's ``max_declines`` the referral goes to the coordinator, or to the
unroutable queue when there is none. A cancelled referral is never rerouted
(``handlers.cancelled``): its decline is kept, and nothing more is assigned.
"""

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.events import OutcomeRecorded, ReferralRouted, ReferralUnroutable
from schemas.ids import derived_event_id
from schemas.referral import Referral
from schemas.topics import REFERRAL_ROUTED, REFERRAL_UNROUTABLE
from schemas.vocabulary import Need, OutcomeCode, ServiceType
from services.router.domain.assignments import assignments_of, service_contexts
from services.router.domain.decide import Decision, reroute
from services.router.inputs import RoutingInputs
from services.router.store import assignments, cancellations, decisions
from services.router.store.directory import DirectoryCache
from signpost import logs, terminology
from signpost.consumer import Incoming
from signpost.database import Conn
from signpost.outbox import enqueue

log = logs.get_logger()
Handler = Callable[[Conn, Sequence[Incoming[OutcomeRecorded]]], Awaitable[None]]


def handler(inputs: RoutingInputs, directory_cache: DirectoryCache) -> Handler:
    async def handle_outcomes(
        conn: Conn, batch: Sequence[Incoming[OutcomeRecorded]]
    ) -> None:
        _, rules = inputs.current()
        directory = await directory_cache.current(conn)

        def choose(
            referral: Referral,
            declined: frozenset[str],
            now: datetime,
            kind: ServiceType,
            needs: tuple[Need, ...],
        ) -> Decision:
            return reroute(
                referral,
                directory,
                rules,
                now,
                declined,
                kind,
                needs,
                terms=terminology.configured(),
            )

        declines = [
            item for item in batch if item.event.outcome is OutcomeCode.DECLINED
        ]
        await cancellations.lock(conn, (item.event.referral_id for item in declines))
        cancelled = await cancellations.cancelled_among(
            conn, (item.event.referral_id for item in declines)
        )
        for item in declines:
            with logs.handling(
                item.topic,
                item.headers,
                item.event.referral_id,
                item.event.correlation_id,
            ):
                if item.event.referral_id in cancelled:
                    await _after_cancellation(conn, item.event)
                    continue
                await _after_decline(conn, item.event, choose)

    return handle_outcomes


Choose = Callable[
    [Referral, frozenset[str], datetime, ServiceType, tuple[Need, ...]], Decision
]


async def _after_cancellation(conn: Conn, declined: OutcomeRecorded) -> None:
    """The decline of a cancelled referral: kept in the record, never rerouted."""
    await assignments.mark_declined(conn, declined.assignment_id)
    log.info("decline of a cancelled referral; not rerouted")


async def _after_decline(conn: Conn, declined: OutcomeRecorded, choose: Choose) -> None:
    await assignments.mark_declined(conn, declined.assignment_id)
    decision_row = await decisions.referral_for_update(conn, declined.referral_id)
    if decision_row is None:
        log.warning("decline for a referral this router never decided; ignored")
        return
    rows = await assignments.of_referral(conn, declined.referral_id)
    # The part of the referral the decliner was asked to meet; rows from before migration 009 know none.
    declined_needs = next(
        (
            tuple(Need(n) for n in r["needs"] or ())
            for r in rows
            if r["assignment_id"] == declined.assignment_id
        ),
        (),
    )
    decliners = frozenset(r["service_id"] for r in rows if r["status"] == "declined")
    active = {r["service_id"] for r in rows if r["status"] != "declined"}
    referral = Referral.model_validate_json(decision_row["referral"])
    decision = choose(
        referral, decliners, declined.occurred_at, declined.service_type, declined_needs
    )
    # e.g. a coordinator fallback would add the huddle again; the referral already has it.
    new = tuple(
        a
        for a in assignments_of(declined.event_id, decision, declined.assignment_id)
        if a.service_id not in active
    )
    follows: dict[str, Any] = {
        "occurred_at": datetime.now(UTC),
        "correlation_id": declined.correlation_id,
        "journey_id": declined.journey_id,
        "producer": "router",
        "patient_key": declined.patient_key,
        "referral_id": declined.referral_id,
        "rule_set_version": decision.rule_set_version,
        "referral": referral,
    }
    outgoing: ReferralRouted | ReferralUnroutable
    if new:
        outgoing = ReferralRouted(
            event_id=derived_event_id(declined.event_id, "rerouted"),
            assignments=new,
            services=service_contexts(decision.services, new),
            **follows,
        )
        await assignments.add_anew(
            conn,
            [
                (
                    a.assignment_id,
                    declined.referral_id,
                    a.service_id,
                    a.service_type.value,
                    a.agency_id,
                    a.rule_id,
                    a.reason,
                    [n.value for n in a.needs],
                )
                for a in new
            ],
        )
    else:
        reason = (
            decision.unroutable_reason
            or f"every suitable {declined.service_type.value} declined"
        )
        agencies = tuple(
            sorted({r["agency_id"] for r in rows if r["status"] == "declined"})
        )
        outgoing = ReferralUnroutable(
            event_id=derived_event_id(declined.event_id, "unroutable"),
            reason=reason,
            declined_by=agencies,
            **follows,
        )
    await decisions.add_reroute(
        conn,
        declined.referral_id,
        json.dumps(
            [
                {
                    "declined": str(declined.assignment_id),
                    "by": declined.agency_id,
                    "now": [a.model_dump(mode="json") for a in new],
                    "decliners": sorted(decliners),
                }
            ]
        ),
        "routed" if new else "unroutable",
    )
    topic = REFERRAL_ROUTED if new else REFERRAL_UNROUTABLE
    await enqueue(
        conn,
        topic=topic,
        key=declined.patient_key,
        event=outgoing,
        event_id=outgoing.event_id,
        headers={
            "event-type": outgoing.type,
            "correlation-id": outgoing.correlation_id,
        },
    )
    log.info(
        "rerouted after decline" if new else "unroutable after declines",
        declines=len(decliners),
    )
