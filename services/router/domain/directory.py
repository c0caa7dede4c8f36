"""The service directory: who provides what, where, and when they are open.

Shaped after Open Referral UK (organisations, services, service areas) and
the NHS Directory of Services (opening times, accepting status). Lookups the
router makes for every referral are indexed once when the directory loads.
"""

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from hashlib import sha256
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.vocabulary import ServiceType

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
AGENCY_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"
SPAN = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$"


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Organisation(Frozen):
    ods_code: str = Field(pattern=r"^[A-Z0-9]{3,9}$")
    name: str
    kind: Literal["gp_practice", "community_pharmacy", "provider", "voluntary"]


class Network(Frozen):
    network_id: str = Field(pattern=AGENCY_ID)
    name: str
    mode: Literal["network", "coordinator"] = "network"
    practices: tuple[str, ...]


class Service(Frozen):
    service_id: str = Field(pattern=AGENCY_ID)
    name: str
    service_type: ServiceType
    ods_code: str
    agency_id: str = Field(pattern=AGENCY_ID)
    network_ids: tuple[str, ...] = Field(min_length=1)
    hours: (
        Literal["always"]
        | dict[
            Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], tuple[str, ...]
        ]
    )
    accepting: bool = True
    capacity: int | None = Field(
        default=None,
        ge=0,
        description="free slots as the service last reported; None = unknown",
    )
    capacity_updated_at: datetime = datetime(2026, 11, 1, tzinfo=UTC)
    # When a status the service reported about itself lapses; None for a status from the seed files.
    status_expires_at: datetime | None = None

    @model_validator(mode="after")
    def _spans(self) -> "Service":
        if self.hours != "always":
            for day, spans in self.hours.items():
                for span in spans:
                    if not re.match(SPAN, span) or span[:5] >= span[6:]:
                        raise ValueError(
                            f"service {self.service_id}: opening span {span!r} on {day} is not HH:MM-HH:MM"
                        )
        return self


@dataclass(frozen=True)
class Described:
    """What the notifier is told of an assigned service: its name, and who coordinates its network."""

    name: str
    coordinator_agency_id: str | None


def described(
    directory: "Directory", service_id: str, network_id: str | None
) -> Described | None:
    service = directory.service(service_id)
    if service is None:
        return None
    coordinators = (
        directory.services_in(network_id, ServiceType.CARE_COORDINATOR)
        if network_id
        else []
    )
    return Described(service.name, coordinators[0].agency_id if coordinators else None)


def status_lapsed(service: Service, at: datetime) -> bool:
    """The service's own report of its status is too old to go on (DoS-style freshness limit)."""
    return service.status_expires_at is not None and at >= service.status_expires_at


def accepting_at(service: Service, at: datetime) -> bool:
    """Taking referrals at ``at``: as last reported, unless that report lapsed (then yes, as by default)."""
    return service.accepting or status_lapsed(service, at)


def capacity_at(service: Service, at: datetime) -> int | None:
    """Free slots as last reported; unknown once the report lapsed."""
    return None if status_lapsed(service, at) else service.capacity


def is_open(service: Service, at: datetime, within: timedelta = timedelta(0)) -> bool:
    """Open now and not closing within ``within`` (Pharmacy First: not in the last 30 minutes)."""
    if service.hours == "always":
        return True
    local = at.astimezone(LONDON)
    day = WEEKDAYS[local.weekday()]
    now = local.time()
    for span in service.hours.get(day, ()):  # type: ignore[call-overload]
        opens, closes = time.fromisoformat(span[:5]), _closing(span[6:])
        closing_at = (
            datetime.combine(local.date(), closes, LONDON)
            if closes
            else datetime.combine(local.date(), time(0), LONDON) + timedelta(days=1)
        )
        if opens <= now and local + within < closing_at:
            return True
    return False


def _closing(text: str) -> time | None:
    return None if text == "24:00" else time.fromisoformat(text)


class Directory(Frozen):
    area: str
    version: str
    organisations: tuple[Organisation, ...]
    networks: tuple[Network, ...]
    services: tuple[Service, ...]

    @model_validator(mode="after")
    def _references(self) -> "Directory":
        problems: list[str] = []
        ods = {o.ods_code for o in self.organisations}
        network_ids = {n.network_id for n in self.networks}
        for kind, ids in (
            ("service", [s.service_id for s in self.services]),
            ("network", [n.network_id for n in self.networks]),
        ):
            duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
            if duplicates:
                problems.append(f"duplicate {kind} ids: {', '.join(duplicates)}")
        for service in self.services:
            if service.ods_code not in ods:
                problems.append(
                    f"service {service.service_id}: organisation {service.ods_code} is not in the directory"
                )
            for net in service.network_ids:
                if net not in network_ids:
                    problems.append(
                        f"service {service.service_id}: network {net} is not in the directory"
                    )
        practices = [p for n in self.networks for p in n.practices]
        if len(practices) != len(set(practices)):
            problems.append("a GP practice belongs to more than one network")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @cached_property
    def content_version(self) -> str:
        return sha256(self.model_dump_json().encode()).hexdigest()[:16]

    @cached_property
    def _network_of_practice(self) -> dict[str, Network]:
        return {p: n for n in self.networks for p in n.practices}

    @cached_property
    def _by_network_and_type(
        self,
    ) -> dict[tuple[str, ServiceType], tuple[Service, ...]]:
        index: dict[tuple[str, ServiceType], list[Service]] = defaultdict(list)
        for service in self.services:
            for net in service.network_ids:
                index[(net, service.service_type)].append(service)
        return {
            k: tuple(sorted(v, key=lambda s: s.service_id)) for k, v in index.items()
        }

    @cached_property
    def _by_id(self) -> dict[str, Service]:
        return {s.service_id: s for s in self.services}

    @cached_property
    def _pharmacy_by_ods(self) -> dict[str, Service]:
        return {
            s.ods_code: s
            for s in self.services
            if s.service_type is ServiceType.COMMUNITY_PHARMACY
        }

    def network_of(self, practice_ods: str) -> Network | None:
        return self._network_of_practice.get(practice_ods)

    def services_in(
        self, network_id: str, service_type: ServiceType
    ) -> tuple[Service, ...]:
        return self._by_network_and_type.get((network_id, service_type), ())

    def service(self, service_id: str) -> Service | None:
        return self._by_id.get(service_id)

    def pharmacy(self, ods_code: str) -> Service | None:
        return self._pharmacy_by_ods.get(ods_code)

    def agency_ids(self) -> list[str]:
        return sorted({s.agency_id for s in self.services})


def merge(directories: list[Directory]) -> Directory:
    """One directory over several areas (the router serves them all)."""
    return Directory(
        area="+".join(d.area for d in directories),
        version="+".join(d.version for d in directories),
        organisations=tuple(o for d in directories for o in d.organisations),
        networks=tuple(n for d in directories for n in d.networks),
        services=tuple(s for d in directories for s in d.services),
    )


def load(path: Path) -> Directory:
    """A seed file, or every ``*.yaml`` seed in a folder, merged."""
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return merge(
        [Directory.model_validate(yaml.safe_load(f.read_text())) for f in files]
    )
