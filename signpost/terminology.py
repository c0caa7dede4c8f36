"""Terminology per area: every text a person reads, in the words of the area that reads it.

Croydon's practices work together in a network, complex cases go to the
network's MDT huddle and a network facilitator keeps it together; Dorset's
work in a hub, with a virtual ward and a health and social care coordinator.
The routing, feedback and reporting logic is the same for both, so each text
is a template filled from the area's vocabulary, and a new area is a YAML
file (``deploy/areas/<area>.yaml``), not code. Where no area claims a network,
or an area says nothing about a text, the default vocabulary here applies.

Files are checked when a service starts: an unknown key, a placeholder no
template knows, a missing word or a network claimed twice fails then, naming
the file and the problem, rather than as a broken feedback message at 2 a.m.
Nothing here touches a service's state, so domain modules take a vocabulary
as a plain argument.
"""

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.text import SINGLE_LINE
from schemas.vocabulary import ServiceType
from signpost.settings import get_settings

Word = Annotated[str, Field(min_length=1, max_length=80), SINGLE_LINE]
Template = Annotated[str, Field(min_length=1, max_length=500), SINGLE_LINE]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Words(Frozen):
    """The area's own nouns; every area file must give all of them."""

    network: Word = Field(
        description="practices and services working together: network, hub"
    )
    huddle: Word = Field(
        description="the multidisciplinary meeting for complex cases: MDT huddle, virtual ward"
    )
    coordinator: Word = Field(
        description="who coordinates the network: network facilitator, health and social care coordinator"
    )


WORDS: frozenset[str] = frozenset(Words.model_fields)
"""Placeholders every template may use: the area's words."""


def placeholders(template: str) -> set[str]:
    """The names a template fills in; ValueError for a malformed one (a lone brace, a format spec, an attribute)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{template!r} is not a valid template: {exc}") from None
    names: set[str] = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            written = (
                name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
            )
            raise ValueError(
                f"{template!r}: write placeholders as plain {{name}}, not {{{written}}}"
            )
        names.add(name)
    return names


def check_template(template: str, known: Iterable[str], where: str) -> None:
    """Refuse a placeholder the template's caller will not fill (a typo would fail only when the text is built)."""
    allowed = set(known) | WORDS
    try:
        unknown = placeholders(template) - allowed
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if unknown:
        raise ValueError(
            f"{where}: unknown placeholder {', '.join('{' + u + '}' for u in sorted(unknown))}"
            f" (known: {', '.join('{' + k + '}' for k in sorted(allowed))})"
        )


DEFAULT_LABELS: Mapping[ServiceType, str] = {
    ServiceType.ICN_PHARMACIST: "ICN pharmacist",
    ServiceType.PIC: "personal independence coordinator",
    ServiceType.SOCIAL_SERVICES: "social services",
    ServiceType.COMMUNITY_NURSING: "community nursing",
    ServiceType.OCCUPATIONAL_THERAPY: "occupational therapy",
    ServiceType.PHYSIOTHERAPY: "physiotherapy",
    ServiceType.MENTAL_HEALTH: "mental health",
    ServiceType.COMMUNITY_PHARMACY: "community pharmacy",
    ServiceType.MDT_HUDDLE: "{huddle}",
    ServiceType.CARE_COORDINATOR: "{coordinator}",
}
"""What each kind of service is called; a label may use the area's words."""


_SAID_OF_THE_SERVICE = (
    "accepted",
    "patient_contacted",
    "did_not_attend",
    "escalated_to_gp",
    "sla_breached",
    "no_contact_timeout",
    "cancelled",
    "rerouted",
)
"""Feedback that says only what happened, of ``{who}``."""


class Texts(Frozen):
    """Every sentence Signpost writes for a person, as templates; an area overrides any of them."""

    # The router: reasons on assignments and unroutable referrals, notes to the referrer.
    reroute: Template = (
        "rerouted after a decline: next {service} in {network} {network_id}"
    )
    coordinator_mode: Template = (
        "this {network} routes every referral through its {coordinator}"
    )
    to_coordinator: Template = "the {coordinator}: {why}"
    no_coordinator: Template = (
        "{why}, and {network} {network_id} has no {coordinator} to take it"
    )
    no_provider: Template = (
        "rule {rule_id}: no accepting {service} in {network} {network_id}"
    )
    declined_by: Template = "declined by {count} providers"
    no_other: Template = "no other {service} in {network} {network_id}"
    no_network: Template = (
        "GP practice {practice} is not in any {network} of this directory"
    )
    no_rule: Template = "no rule matches needs {needs} or red flags {flags}"
    pharmacy_substituted: Template = (
        "chosen pharmacy {chosen} {why}; sent to {sent_to} in the same {network}"
    )
    # The notifier: what the referrer hears, and what an SLA breach says.
    service: Template = "{name} ({label})"
    feedback_accepted: Template = "{who} accepted the referral."
    feedback_declined: Template = (
        "{who} declined the referral{because}. The patient needs another service."
    )
    feedback_patient_contacted: Template = "{who} has contacted the patient."
    feedback_completed: Template = "{who} completed the referral{result}."
    feedback_did_not_attend: Template = "{who} reports that the patient did not attend. The patient may need following up."
    feedback_escalated_to_gp: Template = (
        "{who} has escalated the patient back to the GP for action."
    )
    feedback_sla_breached: Template = "{who} has not responded within the agreed time; the referral has been escalated."
    feedback_no_contact_timeout: Template = (
        "{who} did not contact the patient in time, so the referral is closed."
        " The patient needs following up."
    )
    feedback_cancelled: Template = "The referral to {who} was cancelled."
    feedback_rerouted: Template = "After a decline the referral was passed on to {who}."
    escalation_late: Template = "{who}: not acted on in time (due {due})"
    escalation_closed: Template = (
        "{who}: closed: the patient was not contacted in time;"
        " the GP practice must follow up (due {due})"
    )
    escalation_told: Template = "; the {coordinator} has been told"
    # Audit: the weekly report's charts, on the operations page.
    report_by_service_type: Template = "Assignments by service type"
    report_by_network: Template = "Assignments by {network}"
    report_by_outcome: Template = "Assignments by outcome"

    FILLS: ClassVar[Mapping[str, frozenset[str]]] = {
        "reroute": frozenset({"service", "network_id"}),
        "coordinator_mode": frozenset(),
        "to_coordinator": frozenset({"why"}),
        "no_coordinator": frozenset({"why", "network_id"}),
        "no_provider": frozenset({"rule_id", "service", "network_id"}),
        "declined_by": frozenset({"count"}),
        "no_other": frozenset({"service", "network_id"}),
        "no_network": frozenset({"practice"}),
        "no_rule": frozenset({"needs", "flags"}),
        "pharmacy_substituted": frozenset({"chosen", "why", "sent_to"}),
        "service": frozenset({"name", "label"}),
        **{f"feedback_{event}": frozenset({"who"}) for event in _SAID_OF_THE_SERVICE},
        "feedback_declined": frozenset({"who", "because"}),
        "feedback_completed": frozenset({"who", "result"}),
        "escalation_late": frozenset({"who", "due"}),
        "escalation_closed": frozenset({"who", "due"}),
        "escalation_told": frozenset(),
        "report_by_service_type": frozenset(),
        "report_by_network": frozenset(),
        "report_by_outcome": frozenset(),
    }
    """The placeholders the code fills in for each text, besides the area's words."""

    @model_validator(mode="after")
    def _placeholders_known(self) -> "Texts":
        for name, known in self.FILLS.items():
            check_template(getattr(self, name), known, f"texts.{name}")
        return self


assert set(Texts.FILLS) == set(Texts.model_fields), (
    "every text says which placeholders it is given"
)


class AreaFile(Frozen):
    """One area's file: which networks (or hubs) it covers, its words, and any labels or texts it words its own way."""

    area: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    networks: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        min_length=1,
        description="network ids of the service directory that read in this area's words",
    )
    words: Words
    labels: dict[ServiceType, Template] = Field(default_factory=dict)
    texts: Texts = Field(default_factory=Texts)

    @model_validator(mode="after")
    def _labels_known(self) -> "AreaFile":
        for kind, label in self.labels.items():
            check_template(label, (), f"labels.{kind.value}")
        return self


@dataclass(frozen=True)
class Vocabulary:
    """One area's words, labels and texts, ready to fill in."""

    area: str
    words: Words
    texts: Texts = field(default_factory=Texts)
    labels: Mapping[ServiceType, str] = field(
        default_factory=lambda: dict(DEFAULT_LABELS)
    )

    def text(self, name: str, /, **fills: object) -> str:
        """The named text filled in; the code fills in exactly what ``Texts.FILLS`` names for it."""
        template: str = getattr(self.texts, name)
        return template.format(**self.words.model_dump(), **fills)

    def fill(self, template: str, /, **fills: object) -> str:
        """A template from elsewhere (a routing rule's reason) filled with the area's words and ``fills``."""
        return template.format(**self.words.model_dump(), **fills)

    def label(self, kind: ServiceType) -> str:
        """What this area calls a kind of service, e.g. 'virtual ward' for an MDT huddle in Dorset."""
        return self.labels.get(kind, kind.value.replace("_", " ")).format(
            **self.words.model_dump()
        )

    def service(self, name: str, kind: ServiceType) -> str:
        """A service as a person reads it: 'Purbeck virtual ward (virtual ward)'."""
        return self.text("service", name=name, label=self.label(kind))

    @classmethod
    def of(cls, area: AreaFile) -> "Vocabulary":
        return cls(area.area, area.words, area.texts, {**DEFAULT_LABELS, **area.labels})


DEFAULT = Vocabulary(
    "default",
    Words(network="network", huddle="MDT huddle", coordinator="care coordinator"),
)
"""The words wherever no area file claims the network."""


@dataclass(frozen=True)
class Terminology:
    """Every area's vocabulary, and which area each network belongs to."""

    areas: Mapping[str, Vocabulary] = field(default_factory=dict)
    network_areas: Mapping[str, str] = field(default_factory=dict)
    """network id -> area"""
    default: Vocabulary = DEFAULT

    def for_network(self, network_id: str | None) -> Vocabulary:
        """The vocabulary of the area that claims the network; the default for none or an unclaimed one."""
        area = self.network_areas.get(network_id or "")
        return self.areas[area] if area else self.default

    def for_area(self, area: str) -> Vocabulary | None:
        return self.areas.get(area)

    def networks_of(self, area: str) -> frozenset[str]:
        return frozenset(n for n, a in self.network_areas.items() if a == area)

    @classmethod
    def of(cls, files: Iterable[AreaFile]) -> "Terminology":
        areas: dict[str, Vocabulary] = {}
        claims: dict[str, str] = {}
        problems: list[str] = []
        for file in files:
            if file.area in areas:
                problems.append(f"area {file.area} is given twice")
            areas[file.area] = Vocabulary.of(file)
            for network in file.networks:
                if network in claims and claims[network] != file.area:
                    problems.append(
                        f"network {network} is claimed by both {claims[network]} and {file.area}"
                    )
                claims[network] = file.area
        if problems:
            raise TerminologyError("; ".join(problems))
        return cls(areas, claims)


DEFAULT_TERMINOLOGY = Terminology()
"""No area files: the default words everywhere (unit tests, tools that read no configuration)."""


class TerminologyError(ValueError):
    """An area file that would write wrong or broken texts; the message names the file and each problem."""


def parse(raw: Any, source: str) -> AreaFile:
    """One area file's content, or TerminologyError naming ``source`` and every problem in it."""
    try:
        return AreaFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise TerminologyError(f"{source}: {problems}") from None


def load(path: Path) -> Terminology:
    """Every ``*.yaml`` area file in ``path`` (or the one file it names); a path that is not there is refused too."""
    if not path.exists():
        raise TerminologyError(
            f"{path}: no such area file or folder (SIGNPOST_AREAS_PATH)"
        )
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    parsed: list[AreaFile] = []
    problems: list[str] = []
    for file in files:
        try:
            parsed.append(parse(yaml.safe_load(file.read_text()), str(file)))
        except TerminologyError as exc:
            problems.append(str(exc))
        except yaml.YAMLError as exc:
            problems.append(f"{file}: not YAML: {str(exc).splitlines()[0]}")
    if problems:
        raise TerminologyError("; ".join(problems))
    try:
        return Terminology.of(parsed)
    except TerminologyError as exc:
        raise TerminologyError(f"{path}: {exc}") from None


ROOT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=4)
def configured(path: str | None = None) -> Terminology:
    """The deployment's area files (``SIGNPOST_AREAS_PATH``, relative to the repository), read once per process.

    Each service calls this while it starts, so a broken file stops it there; later calls get the same terminology.
    """
    if path is None:
        path = get_settings().areas_path
    candidate = Path(path)
    return load(candidate if candidate.is_absolute() else ROOT / candidate)
