"""Create ACL bindings on a running broker through Kafka's Java Admin API.

aiokafka 0.14's admin client has no ``create_acls`` (its protocol classes stop
at CreateAcls v1 and only private methods could send them). Kafka's own
``AclCommand`` works but costs a JVM launch per resource/operation group,
about three seconds each here, a minute for the whole policy. So the bindings
go to ``CreateAcls.java``, run in Java's source-file mode against the resolved
Kafka jars, in one ``Admin.createAcls`` call. Creating a binding that already
exists is a no-op on the broker, so provisioning can run on every start.
"""

import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from deploy.kafka import local
from deploy.kafka.acls import AclBinding
from signpost.kafka_security import MECHANISM

if TYPE_CHECKING:
    from deploy.kafka.security import Credential

TOOL = local.HERE / "CreateAcls.java"


def admin_properties(bootstrap: str, admin: "Credential", cafile: Path | None) -> str:
    """The Java admin client's properties: SCRAM as ``admin``, over TLS trusting ``cafile`` when given."""
    module = "org.apache.kafka.common.security.scram.ScramLoginModule"
    props = (
        f"bootstrap.servers={bootstrap}\n"
        f"security.protocol={'SASL_SSL' if cafile else 'SASL_PLAINTEXT'}\n"
        f"sasl.mechanism={MECHANISM}\n"
        f'sasl.jaas.config={module} required username="{admin.username}" password="{admin.password}";\n'
    )
    if cafile:
        props += f"ssl.truststore.type=PEM\nssl.truststore.location={cafile}\n"
    return props


def as_lines(bindings: Iterable[AclBinding]) -> str:
    """The tool's input: one tab-separated binding a line."""
    return "".join(
        f"{b.principal}\t{b.resource_type}\t{b.resource_name}\t{b.pattern_type}\t{b.operation}\n"
        for b in bindings
    )


def create_acls(
    bootstrap: str,
    bindings: Iterable[AclBinding],
    admin: "Credential",
    cafile: Path | None,
    timeout: float = 120.0,
) -> None:
    """Create the bindings as ``admin`` (over TLS trusting ``cafile``); return once the broker has them all."""
    lib = local.resolve()
    # mkstemp creates the file 0600: it holds the admin password.
    fd, name = tempfile.mkstemp(prefix="signpost-acl-", suffix=".properties")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(admin_properties(bootstrap, admin, cafile))
        subprocess.run(
            [
                local._java(),
                "-cp",
                f"{lib}/*",
                f"-Dlog4j2.configurationFile={local.HERE / 'log4j2.properties'}",
                str(TOOL),
                name,
            ],
            input=as_lines(bindings),
            text=True,
            check=True,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(
            f"creating ACLs failed: {exc.stderr.strip()[-2000:]}"
        ) from exc
    finally:
        Path(name).unlink(missing_ok=True)
