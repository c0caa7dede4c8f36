"""What mapping a BaRS message onto a Referral keeps track of as it goes.

Mapping does not stop at the first problem: a sender fixing a referral
wants every problem in one answer. So each step records its issues here,
and where in the Bundle each Referral field came from, so that a rule the
Referral model enforces later can still be reported against the FHIR
element the sender wrote.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.healthcareservice import HealthcareService
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.reference import Reference

from services.intake.domain.fhir.codes import ODS_ORGANISATION, same_system
from services.intake.domain.fhir.message import BarsMessage
from services.intake.domain.fhir.outcome import Issue

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Found:
    value: str
    path: str


@dataclass
class MappingContext:
    message: BarsMessage
    issues: list[Issue] = field(default_factory=list)
    sources: dict[Loc, str] = field(default_factory=dict)
    hints: dict[Loc, str] = field(default_factory=dict)
    failed: set[Loc] = field(default_factory=set)

    def fail(self, issue: Issue, *locs: Loc) -> None:
        """Record an issue; Referral errors at or under ``locs`` are then the same problem and not reported again."""
        self.issues.append(issue)
        self.failed.update(locs)

    def came_from(self, loc: Loc, path: str) -> None:
        self.sources[loc] = path

    def source_of(self, loc: Loc) -> str | None:
        """The FHIRPath recorded for ``loc`` or for its nearest recorded ancestor."""
        for end in range(len(loc), -1, -1):
            path = self.sources.get(loc[:end])
            if path is not None:
                return path
        return None

    def already_failed(self, loc: Loc) -> bool:
        return any(loc[: len(f)] == f for f in self.failed)

    def ods_code(
        self, reference: Reference | None, at: str, depth: int = 0
    ) -> Found | None:
        """The ODS code of the organisation a reference leads to.

        Senders identify organisations either by a logical reference carrying
        the ODS identifier or by an Organization entry; a HealthcareService
        or PractitionerRole stands for the organisation that provides it.
        """
        if reference is None or depth > 2:
            return None
        logical = reference.identifier
        if (
            logical is not None
            and same_system(logical.system, ODS_ORGANISATION)
            and logical.value
        ):
            return Found(logical.value, f"{at}.identifier.value")
        target = self.message.entries.resolve(reference)
        if target is None:
            return None
        resource = target.resource
        if isinstance(resource, Organization):
            for index, identifier in enumerate(resource.identifier or ()):
                if (
                    same_system(identifier.system, ODS_ORGANISATION)
                    and identifier.value
                ):
                    return Found(
                        identifier.value, f"{target.path}.identifier[{index}].value"
                    )
            return None
        if isinstance(resource, HealthcareService):
            return self.ods_code(
                resource.providedBy, f"{target.path}.providedBy", depth + 1
            )
        if isinstance(resource, PractitionerRole):
            return self.ods_code(
                resource.organization, f"{target.path}.organization", depth + 1
            )
        return None


def codings(
    concepts: Iterable[CodeableConcept] | CodeableConcept | None,
) -> list[Coding]:
    if concepts is None:
        return []
    if isinstance(concepts, CodeableConcept):
        concepts = [concepts]
    return [coding for concept in concepts for coding in concept.coding or ()]
