"""Explicit topic creation: the broker never creates topics on its own.

Partition counts are chosen per topic: the referral flow topics carry the
whole load and are keyed by patient, so they get more partitions; agency
topics carry one agency's share.
"""

import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

CORE_TOPICS: dict[str, int] = {
    "referral.submitted": 6,
    "referral.routed": 6,
    "referral.unroutable": 3,
    "referral.huddle": 3,
    "referral.cancelled": 3,
    "referral.escalated": 3,
    "assignment.delivered": 6,
    "assignment.outcome": 6,
    "signpost.deadletter": 3,
    "signpost.access": 3,
    "signpost.replays": 1,
}
# One partition per agency topic: an agency's share is small, and over a hundred
# agencies per area would otherwise mean many hundreds of idle partitions.
AGENCY_PARTITIONS = 1


async def ensure_topics(bootstrap: str, topics: dict[str, int], **security: object) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)  # type: ignore[arg-type]
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(name, n, 1) for name, n in topics.items() if name not in existing]
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
        topics[f"agency.{agency}.referrals"] = AGENCY_PARTITIONS
        topics[f"agency.{agency}.outcomes"] = AGENCY_PARTITIONS
    return topics


def practice_topics(ods_codes: Iterable[str]) -> dict[str, int]:
    """Each referring practice hears back on its own topic (the feedback loop)."""
    return {f"practice.{ods}.feedback": AGENCY_PARTITIONS for ods in ods_codes}
