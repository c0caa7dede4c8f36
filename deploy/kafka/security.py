"""A local Kafka broker with the security the real deployment has: SCRAM principals and ACLs.

DESIGN.md promises that an agency reads only its own topic; that promise is
kept by the broker, not by Signpost's code, so it is tested on a broker
configured like production.

Listener choice (Kafka 4.3, KRaft, one combined node):

- Every listener is TLS (``SASL_SSL``): the broker presents a certificate for
  127.0.0.1/localhost signed by a local CA that ``deploy/tls.py`` makes in the
  state directory (``tls/ca.pem`` is what clients trust). Kafka reads the key
  and chain as PEM from its properties (``ssl.keystore.type=PEM`` with
  ``ssl.keystore.key`` / ``ssl.keystore.certificate.chain``) and trusts the
  CA from a PEM file (``ssl.truststore.type=PEM``) for its own connections to
  itself (inter-broker and controller).
- Clients and the broker itself authenticate with SCRAM-SHA-512.
  Credentials are written into the metadata log at format time
  (``StorageTool format --add-scram``, KIP-900), so the broker's own ``admin``
  user exists before the broker first starts and no PLAINTEXT port is needed.
- The ``CONTROLLER`` listener uses SASL PLAIN (inside TLS) with a static ``admin`` entry in
  its JAAS config: a controller cannot authenticate SCRAM on its own listener
  (the SCRAM credentials live in the metadata log the controller serves), and a
  PLAINTEXT controller listener would make ``User:ANONYMOUS`` the principal the
  authorizer must trust for broker registration, i.e. a super user reachable
  by anyone who can open the port.
- ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false``: a
  principal with no matching ACL gets nothing; only ``User:admin`` is super.

    python -m deploy.kafka.security start|stop|status [--principals FILE] [--agency ID ...]
"""

import argparse
import asyncio
import json
import os
import re
import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy import tls
from deploy.kafka import local
from deploy.kafka.acl_admin import create_acls
from deploy.kafka.acls import (
    SERVICES,
    acl_bindings,
    agency_user,
    check_agency_id,
    service_user,
)
from deploy.processes import port_open, read_pid
from signpost.kafka_security import security_kwargs
from signpost.topics import CORE_TOPICS, agency_topics, ensure_topics, practice_topics

MECHANISM = "SCRAM-SHA-512"
ADMIN = "admin"
DEFAULT_PORT = 9192
# Passwords travel inside StorageTool's ``--add-scram`` syntax and JAAS strings,
# where quotes, commas, brackets and '=' would change the meaning.
_SAFE_SECRET = re.compile(r"[A-Za-z0-9_.~-]{8,}")


@dataclass(frozen=True)
class Credential:
    username: str
    password: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.username):
            raise ValueError(
                f"SCRAM user name {self.username!r} must be letters, digits, '-' or '_'"
            )
        if not _SAFE_SECRET.fullmatch(self.password):
            raise ValueError(
                f"password for {self.username} must be 8+ characters from [A-Za-z0-9_.~-]"
            )

    def kwargs(self, cafile: Path | str | None) -> dict[str, Any]:
        """aiokafka keyword arguments for this principal: SASL_SSL trusting ``cafile`` (SASL_PLAINTEXT without one)."""
        return security_kwargs(
            self.username, self.password, str(cafile) if cafile else None
        )


@dataclass(frozen=True)
class Principals:
    """Every SCRAM identity on the broker: the admin, one per service, one per agency."""

    admin: Credential
    services: dict[str, Credential]
    agencies: dict[str, Credential]

    @classmethod
    def generate(
        cls, agencies: Iterable[str], services: Iterable[str] = SERVICES
    ) -> "Principals":
        """Fresh random passwords: used for the dev broker, never committed."""

        def new(user: str) -> Credential:
            return Credential(user, secrets.token_urlsafe(24))

        return cls(
            admin=new(ADMIN),
            services={s: new(service_user(s)) for s in services},
            agencies={check_agency_id(a): new(agency_user(a)) for a in agencies},
        )

    @classmethod
    def load(cls, path: Path) -> "Principals":
        raw = json.loads(path.read_text())

        def creds(section: dict[str, dict[str, str]]) -> dict[str, Credential]:
            return {key: Credential(**value) for key, value in section.items()}

        return cls(
            Credential(**raw["admin"]), creds(raw["services"]), creds(raw["agencies"])
        )

    def save(self, path: Path) -> None:
        def plain(c: Credential) -> dict[str, str]:
            return {"username": c.username, "password": c.password}

        data = {
            "admin": plain(self.admin),
            "services": {k: plain(v) for k, v in self.services.items()},
            "agencies": {k: plain(v) for k, v in self.agencies.items()},
        }
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=2)

    def all(self) -> list[Credential]:
        return [self.admin, *self.services.values(), *self.agencies.values()]


def scram_format_args(credentials: Iterable[Credential]) -> list[str]:
    """StorageTool arguments that create these SCRAM credentials at format time."""
    args: list[str] = []
    for cred in credentials:
        args += [
            "--add-scram",
            f"{MECHANISM}=[name={cred.username},password={cred.password}]",
        ]
    return args


def local_tls(state_dir: Path) -> tls.LocalTLS:
    """The secured broker's CA and certificate, made on first use in its state directory."""
    return tls.ensure(state_dir / "tls")


def _inline_pem(path: Path) -> str:
    """A PEM file as one properties value (java.util.Properties turns each ``\\n`` back into a newline)."""
    return path.read_text().strip().replace("\n", "\\n")


def secured_node(
    state_dir: Path,
    admin: Credential,
    port: int = DEFAULT_PORT,
    controller_port: int | None = None,
    host: str = "127.0.0.1",
    certificates: tls.LocalTLS | None = None,
) -> local.KafkaNode:
    """A ``KafkaNode`` whose properties replace the PLAINTEXT listeners with encrypted, authenticated ones."""
    cport = controller_port or port + 1
    user, password = admin.username, admin.password
    scram_login = f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";'
    plain_login = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{user}" password="{password}" user_{user}="{password}";'
    )
    certs = certificates or local_tls(state_dir)
    props = {
        "listeners": f"SASL_SSL://{host}:{port},CONTROLLER://{host}:{cport}",
        "advertised.listeners": f"SASL_SSL://{host}:{port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": _inline_pem(certs.cert_file),
        "ssl.keystore.key": _inline_pem(certs.key_file),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(certs.ca_file),
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram_login,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain_login,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{user}",
        "allow.everyone.if.no.acl.found": "false",
    }
    return local.KafkaNode(
        state_dir, port=port, controller_port=cport, host=host, extra_properties=props
    )


def start(
    state_dir: Path,
    principals: Principals,
    port: int = DEFAULT_PORT,
    controller_port: int | None = None,
    users_without_acls: Iterable[Credential] = (),
    certificates: tls.LocalTLS | None = None,
) -> local.KafkaNode:
    """Start (or find running) a secured broker, then create the topics and ACLs for its principals.

    ``users_without_acls`` get a SCRAM credential and no grant at all (an
    account not yet provisioned; tests use one to show that authenticating
    alone opens nothing). Credentials are written only when the state
    directory is first formatted; changing them needs a fresh state directory.
    ``certificates`` default to a local CA in the state directory.
    """
    # server.properties holds the admin password and the server key: keep the directory private.
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    certs = certificates or local_tls(state_dir)
    node = secured_node(
        state_dir, principals.admin, port, controller_port, certificates=certs
    )
    local.start(
        node, format_args=scram_format_args([*principals.all(), *users_without_acls])
    )
    try:
        asyncio.run(provision(node.bootstrap, principals, certs.ca_file))
    except BaseException:
        local.stop(node)
        raise
    return node


async def provision(bootstrap: str, principals: Principals, cafile: Path) -> None:
    """Create the core and agency topics, then every principal's ACLs (both idempotent)."""
    admin = principals.admin.kwargs(cafile)
    from services.router.inputs import known_practices
    from signpost.clients import referrer_organisations
    from signpost.settings import Settings

    referrers = sorted({*known_practices(Settings()), *referrer_organisations()})
    topics = {
        **CORE_TOPICS,
        **agency_topics(principals.agencies),
        **practice_topics(referrers),
    }
    await ensure_topics(bootstrap, topics, **admin)
    bindings = acl_bindings(principals.agencies, principals.services)
    await asyncio.to_thread(create_acls, bootstrap, bindings, principals.admin, cafile)


def stop(node: local.KafkaNode) -> None:
    local.stop(node)


def _dev_agencies() -> list[str]:
    registry = (
        yaml.safe_load((local.REPO / "deploy" / "dev" / "clients.yaml").read_text())
        or {}
    )
    return [
        c["agency_id"] for c in registry.get("clients", []) if c.get("role") == "agency"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deploy.kafka.security",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument(
        "--principals",
        type=Path,
        help="principals JSON (default: generated in the state directory)",
    )
    parser.add_argument(
        "--agency",
        action="append",
        help="agency id (default: the agencies in deploy/dev/clients.yaml)",
    )
    args = parser.parse_args(argv)
    state = (
        Path(os.environ.get("SIGNPOST_STATE_DIR", local.REPO / ".signpost"))
        / "kafka-secure"
    )
    port = int(os.environ.get("SIGNPOST_SECURE_KAFKA_PORT", str(DEFAULT_PORT)))
    path: Path = args.principals or state / "principals.json"
    # Stopping and status only need the pid file and the port, not credentials.
    node = local.KafkaNode(state, port=port, controller_port=port + 1)
    if args.command == "start":
        if not path.exists():
            Principals.generate(args.agency or _dev_agencies()).save(path)
        start(state, Principals.load(path), port)
        print(
            f"secured kafka on SASL_SSL/{MECHANISM} {node.bootstrap}; principals in {path}, "
            f"CA {local_tls(state).ca_file} (log: {node.log_file})"
        )
    elif args.command == "stop":
        stop(node)
        print("secured kafka stopped")
    else:
        running = read_pid(node.pid_file) is not None and port_open(
            node.host, node.port
        )
        print(
            f"secured kafka {'running on ' + node.bootstrap if running else 'stopped'}"
        )
        return 0 if running else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
