"""The secured broker's configuration for ``docker-compose.yml``: the same listeners and ACLs as the local one.

The official ``apache/kafka`` image cannot create SCRAM credentials from its
environment, so a one-shot job writes, into a volume the broker mounts:

- ``server.properties``: the properties of ``deploy/kafka/security.py``'s
  secured node (SASL_SSL everywhere, StandardAuthorizer, deny by default) for
  host ``kafka``, with the key and chain read from ``/certs/keystore.pem``;
- ``format-args``: ``--add-scram`` for ``admin`` and each service, with the
  passwords from the environment (``SIGNPOST_KAFKA_ADMIN_PASSWORD``,
  ``SIGNPOST_KAFKA_PASSWORD_<SERVICE>``), so the users exist at first start;
- ``admin.properties``: the admin client's settings (health check, ACL job);
- ``acls.sh``: ``kafka-acls.sh`` calls for every binding of ``deploy/kafka/acls.py``.

Agency principals are the deployer's: ``kafka-configs.sh --alter
--add-config 'SCRAM-SHA-512=[password=...]' --entity-type users
--entity-name agency-<id>``, listing the agency in ``SIGNPOST_KAFKA_AGENCIES``
(comma separated) so that ``acls.sh`` grants it its own topics.

    python -m deploy.kafka.compose_config OUT_DIR
"""

import os
import shlex
import sys
from collections import defaultdict
from pathlib import Path

from deploy import tls
from deploy.kafka import local
from deploy.kafka.acls import SERVICES, acl_bindings
from deploy.kafka.security import ADMIN, Credential, scram_format_args, secured_node

HOST = "kafka"
PORT = 9092
CERTS = Path("/certs")
DATA = Path("/var/lib/kafka")


def _password(variable: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise SystemExit(
            f"deploy.kafka.compose_config: {variable} is not set: give each principal its own random password"
        )
    return value


def credentials() -> tuple[Credential, dict[str, Credential]]:
    admin = Credential(ADMIN, _password("SIGNPOST_KAFKA_ADMIN_PASSWORD"))
    services = {
        s: Credential(f"service-{s}", _password(f"SIGNPOST_KAFKA_PASSWORD_{s.upper()}"))
        for s in SERVICES
    }
    return admin, services


def server_properties(admin: Credential, certs_dir: Path = CERTS) -> dict[str, str]:
    """The broker reads the certificates from /certs; ``certs_dir`` is where they are now (the tls job runs first)."""
    node = secured_node(
        DATA,
        admin,
        port=PORT,
        controller_port=PORT + 1,
        host=HOST,
        certificates=tls.LocalTLS(certs_dir),
    )
    props = local.server_properties(node)
    del props["ssl.keystore.certificate.chain"], props["ssl.keystore.key"]
    mounted = tls.LocalTLS(CERTS)
    props.update(
        {
            "ssl.keystore.location": str(mounted.keystore_file),
            "ssl.truststore.location": str(mounted.ca_file),
            # Bind every interface of the container; clients reach it as kafka:9092.
            "listeners": f"SASL_SSL://0.0.0.0:{PORT},CONTROLLER://{HOST}:{PORT + 1}",
        }
    )
    return props


def admin_properties(admin: Credential) -> str:
    module = "org.apache.kafka.common.security.scram.ScramLoginModule"
    return (
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
        f'sasl.jaas.config={module} required username="{admin.username}" password="{admin.password}";\n'
        f"ssl.truststore.type=PEM\nssl.truststore.location={tls.LocalTLS(CERTS).ca_file}\n"
    )


def acl_script(agencies: list[str]) -> str:
    """One ``kafka-acls.sh`` call per principal, resource type, pattern and set of operations (a JVM start each)."""
    grouped: dict[tuple[str, str, str, tuple[str, ...]], list[str]] = defaultdict(list)
    ops: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for b in acl_bindings(agencies):
        ops[
            (b.principal, b.resource_type.value, b.pattern_type.value, b.resource_name)
        ].add(b.operation.value)
    for (principal, kind, pattern, name), granted in ops.items():
        grouped[(principal, kind, pattern, tuple(sorted(granted)))].append(name)
    lines = ["#!/bin/sh", "set -e"]
    for (principal, kind, pattern, operations), names in sorted(grouped.items()):
        resources = " ".join(
            f"--{kind.lower()} {shlex.quote(n)}" for n in sorted(names)
        )
        lines.append(
            f"/opt/kafka/bin/kafka-acls.sh --bootstrap-server {HOST}:{PORT} --command-config /config/admin.properties "
            f"--add --allow-principal {shlex.quote(principal)} {' '.join(f'--operation {o}' for o in operations)} "
            f"{resources} --resource-pattern-type {pattern.lower()}"
        )
    return "\n".join(lines) + "\n"


def agencies_from_environment() -> list[str]:
    """The agencies to grant (``SIGNPOST_KAFKA_AGENCIES``, comma separated): the deployer creates their principals."""
    return [
        a.strip()
        for a in os.environ.get("SIGNPOST_KAFKA_AGENCIES", "").split(",")
        if a.strip()
    ]


def write(out: Path, agencies: list[str], certs_dir: Path = CERTS) -> None:
    admin, services = credentials()
    out.mkdir(parents=True, exist_ok=True)
    props = server_properties(admin, certs_dir)
    (out / "server.properties").write_text(
        "".join(f"{k}={v}\n" for k, v in props.items())
    )
    (out / "format-args").write_text(
        " ".join(shlex.quote(a) for a in scram_format_args([admin, *services.values()]))
    )
    (out / "admin.properties").write_text(admin_properties(admin))
    (out / "acls.sh").write_text(acl_script(agencies))


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    write(Path(args[0]), agencies_from_environment())
    print(f"broker configuration written to {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
