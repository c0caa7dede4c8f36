"""What the notifier needs to know of the service directory: names, coordinators and practices.

Read-only reference data from the same seed files the router starts from.
Service names go into the referrer's feedback; a network's coordinator is
told of every SLA breach in its network.
"""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from schemas.vocabulary import ServiceType
from services.router.domain import directory as directory_module
from services.router.domain.directory import Directory
from services.router.inputs import ROOT
from signpost.settings import get_settings


@dataclass(frozen=True)
class Reference:
    names: dict[str, str]
    """service id -> name"""
    coordinators: dict[str, str]
    """network id -> the agency id of its care coordinator"""
    practices: tuple[str, ...]

    def service_name(self, service_id: str | None, agency_id: str) -> str:
        return self.names.get(service_id or "", agency_id)

    @classmethod
    def of(cls, directory: Directory) -> "Reference":
        coordinators = {
            network: s.agency_id
            for s in directory.services
            if s.service_type is ServiceType.CARE_COORDINATOR
            for network in s.network_ids
        }
        practices = tuple(sorted({ods for n in directory.networks for ods in n.practices}))
        return cls({s.service_id: s.name for s in directory.services}, coordinators, practices)


@lru_cache(maxsize=1)
def reference() -> Reference:
    path = Path(get_settings().directory_path)
    return Reference.of(directory_module.load(path if path.is_absolute() else ROOT / path))


def practice_topic(ods_code: str) -> str:
    return f"practice.{ods_code}.feedback"
