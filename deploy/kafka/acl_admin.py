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
from collections.abc import Iterable, Mapping
from pathlib import Path

from deploy.kafka import local
from deploy.kafka.acls import AclBinding

TOOL = local.HERE / "CreateAcls.java"


def admin_properties(bootstrap: str, security: Mapping[str, str]) -> str:
    """The Java admin client's properties for aiokafka-style security keyword arguments."""
    user, password = security["sasl_plain_username"], security["sasl_plain_password"]
    module = "org.apache.kafka.common.security.scram.ScramLoginModule"
    return (
        f"bootstrap.servers={bootstrap}\n"
        f"security.protocol={security['security_protocol']}\n"
        f"sasl.mechanism={security['sasl_mechanism']}\n"
        f'sasl.jaas.config={module} required username="{user}" password="{password}";\n'
    )


def as_lines(bindings: Iterable[AclBinding]) -> str:
    """The tool's input: one tab-separated binding a line."""
    return "".join(f"{b.principal}\t{b.resource_type}\t{b.resource_name}\t{b.pattern_type}\t{b.operation}\n" for b in bindings)


def create_acls(bootstrap: str, bindings: Iterable[AclBinding], security: Mapping[str, str], timeout: float = 120.0) -> None:
    """Create the bindings as the principal in ``security`` (aiokafka-style kwargs); return once the broker has them all."""
    lib = local.resolve()
    # mkstemp creates the file 0600: it holds the admin password.
    fd, name = tempfile.mkstemp(prefix="signpost-acl-", suffix=".properties")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(admin_properties(bootstrap, security))
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
        raise RuntimeError(f"creating ACLs failed: {exc.stderr.strip()[-2000:]}") from exc
    finally:
        Path(name).unlink(missing_ok=True)
