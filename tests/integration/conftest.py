"""One secured broker (SASL_SSL with SCRAM + ACLs) for every test here that needs one: it takes ten seconds to start.

Its principals cover the directory's agencies (for the stack run on it) and
two test agencies, alpha and beta, plus one user with a password and no grants.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy.kafka import security
from deploy.kafka.security import Credential, Principals
from services.router.inputs import known_agencies
from signpost.settings import Settings

# Below Linux's ephemeral range (32768-60999), where a client's outgoing connection could already hold it.
PORT = int(os.environ.get("SIGNPOST_TEST_SECURE_KAFKA_PORT", "19392"))
ALPHA, BETA = "alpha", "beta"
STRANGER = Credential("stranger", "stranger-password-1")


@dataclass(frozen=True)
class SecuredBroker:
    bootstrap: str
    principals: Principals
    # The local CA that signed the broker's certificate: what every client here trusts.
    cafile: Path

    def agency(self, agency_id: str) -> dict[str, Any]:
        return self.principals.agencies[agency_id].kwargs(self.cafile)

    def service(self, name: str) -> dict[str, Any]:
        return self.principals.services[name].kwargs(self.cafile)

    @property
    def admin(self) -> dict[str, Any]:
        return self.principals.admin.kwargs(self.cafile)


@pytest.fixture(scope="session")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    principals = Principals.generate(sorted({*known_agencies(Settings()), ALPHA, BETA}))
    state = tmp_path_factory.mktemp("kafka-secure")
    node = security.start(state, principals, port=PORT, users_without_acls=[STRANGER])
    try:
        yield SecuredBroker(
            node.bootstrap, principals, security.local_tls(state).ca_file
        )
    finally:
        security.stop(node)
