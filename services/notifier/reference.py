"""What the notifier needs to know of the service directory: names, coordinators and practices.

Since contract 2.2.0 each ``referral.routed`` carries the assigned services'
names and network coordinators from the directory the router decided with,
and the notifier keeps them with each delivery. The seed files the router
starts from are read only for deliveries routed before that, and for the
practices whose feedback topics a local stack creates.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

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


def service_name(delivery: Mapping[str, Any]) -> str:
    """The name the router's directory gave the service; the seed files' for deliveries from before contract 2.2.0."""
    name = delivery.get("service_name")
    return str(name) if name else reference().service_name(delivery["service_id"], delivery["agency_id"])


def coordinator_of(delivery: Mapping[str, Any]) -> str | None:
    """The agency of the coordinator of the service's network, as routed; the seed files' for older deliveries."""
    if delivery.get("service_name"):  # routed with its context: what the router said stands, even "no coordinator"
        found = delivery.get("coordinator_agency_id")
        return str(found) if found else None
    return reference().coordinators.get(delivery["network_id"] or "")


@lru_cache(maxsize=1)
def reference() -> Reference:
    path = Path(get_settings().directory_path)
    return Reference.of(directory_module.load(path if path.is_absolute() else ROOT / path))


def practice_topic(ods_code: str) -> str:
    return f"practice.{ods_code}.feedback"
