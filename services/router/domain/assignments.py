"""What a decision assigns and tells the notifier, as events: ids derived from the event that caused them.

Pure, and shared by every path that assigns (routing, rerouting after a decline, hand assignment), so a
replayed event yields the very same assignments.
"""

from collections.abc import Mapping
from uuid import UUID

from schemas.events import Assignment, ServiceContext
from schemas.ids import assignment_id
from services.router.domain.decide import Decision
from services.router.domain.directory import Described


def assignments_of(
    source_event_id: UUID, decision: Decision, replaces: UUID | None = None
) -> tuple[Assignment, ...]:
    """The decision's assignments, with ids derived from the event that caused them (so a replay yields the same ids)."""
    return tuple(
        Assignment(
            assignment_id=assignment_id(source_event_id, p.service_id),
            service_id=p.service_id,
            service_type=p.service_type,
            agency_id=p.agency_id,
            network_id=p.network_id,
            needs=p.needs,
            rule_id=p.rule_id,
            reason=p.reason,
            replaces_assignment_id=replaces,
        )
        for p in decision.assignments
    )


def service_contexts(
    services: Mapping[str, Described | None], assignments: tuple[Assignment, ...]
) -> dict[str, ServiceContext]:
    """What the notifier is told of each assigned service (its name, its network's coordinator), as the directory said."""
    return {
        a.service_id: ServiceContext(
            name=d.name, coordinator_agency_id=d.coordinator_agency_id
        )
        for a in assignments
        if (d := services.get(a.service_id)) is not None
    }
