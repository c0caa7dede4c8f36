"""The id scheme is contract: ids that services derive from the events that caused them.

Every consumer is idempotent by event id, and re-processing an event must yield
the same ids, so derived ids are name-based UUIDs (v5) of their source id and a
purpose. Services that meet only on Kafka share this scheme through the
contract, never through each other's modules. The inbox is keyed per consumer
group and topic, so an agency that computes one of these ids and sends it ahead
on its own topic cannot make a service skip the real event.
"""

from uuid import NAMESPACE_URL, UUID, uuid5


def assignment_id(submitted_event_id: UUID, service_id: str) -> UUID:
    """Deterministic, so re-processing the same event yields the same assignment."""
    return uuid5(
        NAMESPACE_URL, f"signpost:assignment:{submitted_event_id}:{service_id}"
    )


def derived_event_id(source_event_id: UUID, purpose: str) -> UUID:
    """The id of the event ``purpose`` that ``source_event_id`` causes, the same on every replay."""
    return uuid5(NAMESPACE_URL, f"signpost:event:{source_event_id}:{purpose}")
