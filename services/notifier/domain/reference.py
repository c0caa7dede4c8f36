"""What the notifier says of a delivered service: what the router's directory said when it routed.

Each ``referral.routed`` carries the assigned services' names and network
coordinators (contract 2.2.0), and the notifier keeps them with each delivery.
It reads no directory of its own: services that meet only on Kafka share
nothing but the contract. (Deliveries recorded before 2.2.0, on no deployment,
were named from the router's seed files; they now read as their agency id.)
"""

from collections.abc import Mapping
from typing import Any


def service_name(delivery: Mapping[str, Any]) -> str:
    """The name the router's directory gave the service, else its agency id."""
    name = delivery.get("service_name")
    return str(name) if name else str(delivery["agency_id"])


def coordinator_of(delivery: Mapping[str, Any]) -> str | None:
    """The agency of the coordinator of the service's network, as routed: none when the router found none."""
    found = delivery.get("coordinator_agency_id")
    return str(found) if found else None
