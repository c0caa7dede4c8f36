"""Explicit topic creation: the broker never creates topics on its own.

Partition counts are chosen per topic: the referral flow topics carry the
whole load and are keyed by patient, so they get more partitions; agency
topics carry one agency's share.
"""

import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.topics import (
    ACCESS,
    ASSIGNMENT_DELIVERED,
    ASSIGNMENT_OUTCOME,
    DEAD_LETTER,
    REFERRAL_CANCELLED,
    REFERRAL_ESCALATED,
    REFERRAL_HUDDLE,
    REFERRAL_ROUTED,
    REFERRAL_SUBMITTED,
    REFERRAL_UNROUTABLE,
    REPLAYS,
    agency_outcomes,
    agency_referrals,
    practice_feedback,
)

CORE_TOPICS: dict[str, int] = {
    REFERRAL_SUBMITTED: 6,
    REFERRAL_ROUTED: 6,
    REFERRAL_UNROUTABLE: 3,
    REFERRAL_HUDDLE: 3,
    REFERRAL_CANCELLED: 3,
    REFERRAL_ESCALATED: 3,
    ASSIGNMENT_DELIVERED: 6,
    ASSIGNMENT_OUTCOME: 6,
    DEAD_LETTER: 3,
    ACCESS: 3,
    REPLAYS: 1,
}
# One partition per agency topic: an agency's share is small, and over a hundred
# agencies per area would otherwise mean many hundreds of idle partitions.
AGENCY_PARTITIONS = 1


async def ensure_topics(
    bootstrap: str, topics: dict[str, int], **security: object
) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)  # type: ignore[arg-type]
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, n, 1) for name, n in topics.items() if name not in existing
        ]
        if wanted:
            # Another starter may get there first; that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        return [t.name for t in wanted]
    finally:
        await admin.close()


def agency_topics(agency_ids: Iterable[str]) -> dict[str, int]:
    topics: dict[str, int] = {}
    for agency in agency_ids:
        topics[agency_referrals(agency)] = AGENCY_PARTITIONS
        topics[agency_outcomes(agency)] = AGENCY_PARTITIONS
    return topics


def practice_topics(ods_codes: Iterable[str]) -> dict[str, int]:
    """Each referring practice hears back on its own topic (the feedback loop)."""
    return {practice_feedback(ods): AGENCY_PARTITIONS for ods in ods_codes}
