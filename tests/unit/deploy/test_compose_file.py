"""No Docker engine runs here, so the compose file is checked by reading it."""

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import tls
from deploy.kafka import compose_config
from signpost.settings import DEFAULT_PORTS, Settings
from toolbox.stack import SERVICES

REPO = Path(__file__).parents[3]
COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SECRETS = {"SIGNPOST_KAFKA_ADMIN_PASSWORD": "admin-secret-1"} | {
    f"SIGNPOST_KAFKA_PASSWORD_{s.upper()}": f"{s}-secret-1" for s in SERVICES
}


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = COMPOSE["services"][name]
    return found


def test_compose_uses_official_kafka_and_postgres_images() -> None:
    assert service("kafka")["image"].startswith("apache/kafka:4.3")
    assert service("postgres")["image"].startswith("postgres:")


def test_kafka_in_compose_never_creates_topics_on_its_own(broker_config: Path) -> None:
    assert _properties(broker_config)["auto.create.topics.enable"] == "false"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_runs_its_module_with_a_health_check(name: str) -> None:
    svc = service(name)
    assert svc["command"] == ["python", "-m", f"services.{name}"]
    assert "healthcheck" in svc
    assert f":{DEFAULT_PORTS[name]}/readyz" in " ".join(svc["healthcheck"]["test"])
    assert svc["ports"] == [f"{DEFAULT_PORTS[name]}:{DEFAULT_PORTS[name]}"]
    assert svc["build"]["dockerfile"] == "deploy/Dockerfile"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_given_every_setting_the_code_reads_without_a_safe_default(
    name: str,
) -> None:
    env = service(name)["environment"]
    required = {
        "SIGNPOST_KAFKA_BOOTSTRAP",
        "SIGNPOST_DATABASE_URL",
        "SIGNPOST_PSEUDONYM_KEY",
        "SIGNPOST_HTTP_HOST",
    }
    assert required <= set(env)
    assert env[f"SIGNPOST_{name.upper()}_PORT"] == DEFAULT_PORTS[name]
    known = {f"SIGNPOST_{field.upper()}" for field in Settings.model_fields}
    assert set(env) <= known, (
        f"compose sets variables the code never reads: {set(env) - known}"
    )


def test_dockerfile_exists_and_installs_pinned_dependencies() -> None:
    dockerfile = (Path(__file__).parents[3] / "deploy" / "Dockerfile").read_text()
    assert "-c constraints.txt" in dockerfile
    assert "USER signpost" in dockerfile


@pytest.fixture
def broker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What the compose file's kafka-config job writes, from the certificates its tls job makes."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    certs = tls.ensure(tmp_path / "certs", ("kafka",))
    out = tmp_path / "config"
    compose_config.write(out, ["alpha"], certs_dir=certs.directory)
    return out


def _properties(config: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (config / "server.properties").read_text().splitlines()
        if line
    )
    return dict(pairs)  # type: ignore[arg-type]


def test_the_compose_broker_has_only_sasl_ssl_listeners_and_denies_by_default(
    broker_config: Path,
) -> None:
    props = _properties(broker_config)
    protocols = dict(
        pair.split(":") for pair in props["listener.security.protocol.map"].split(",")
    )
    assert set(protocols.values()) == {"SASL_SSL"}
    assert all(
        listener.split("://")[0] in protocols
        for listener in props["listeners"].split(",")
    )
    assert props["advertised.listeners"] == "SASL_SSL://kafka:9092"
    assert (props["ssl.keystore.type"], props["ssl.keystore.location"]) == (
        "PEM",
        "/certs/keystore.pem",
    )
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert "PLAINTEXT://" not in COMPOSE_TEXT


def test_the_compose_broker_knows_each_service_principal_before_its_first_start(
    broker_config: Path,
) -> None:
    args = shlex.split((broker_config / "format-args").read_text())
    names = {re.search(r"name=([^,]+)", a).group(1) for a in args[1::2]}  # type: ignore[union-attr]
    assert names == {"admin", *(f"service-{s}" for s in SERVICES)}
    script = (broker_config / "acls.sh").read_text()
    assert (
        "--allow-principal User:agency-alpha --operation DESCRIBE --operation READ --topic agency.alpha.referrals"
        in script
    )
    assert "admin-secret-1" not in script


def test_the_compose_broker_refuses_to_configure_without_passwords(
    tmp_path: Path,
) -> None:
    with pytest.raises(SystemExit, match="SIGNPOST_KAFKA_ADMIN_PASSWORD is not set"):
        compose_config.write(tmp_path, ["alpha"], certs_dir=tmp_path)


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_encrypted_authenticated_and_given_no_development_identity(
    name: str,
) -> None:
    env = service(name)["environment"]
    assert env["SIGNPOST_KAFKA_SASL_USERNAME"] == f"service-{name}"
    assert env["SIGNPOST_KAFKA_SASL_PASSWORD"].startswith(
        f"${{SIGNPOST_KAFKA_PASSWORD_{name.upper()}:?"
    )
    assert env["SIGNPOST_KAFKA_SSL_CAFILE"] == "/certs/ca.pem"
    assert (env["SIGNPOST_TLS_CERTFILE"], env["SIGNPOST_TLS_KEYFILE"]) == (
        "/certs/server.pem",
        "/certs/server-key.pem",
    )
    assert env["SIGNPOST_PSEUDONYM_KEY"].startswith("${SIGNPOST_PSEUDONYM_KEY:?")
    assert "SIGNPOST_DEVELOPMENT_MODE" not in env
    assert "https://localhost" in " ".join(service(name)["healthcheck"]["test"])
    assert "deploy/dev" not in COMPOSE_TEXT
    assert "dev-only" not in COMPOSE_TEXT


def test_development_keys_stay_out_of_the_image() -> None:
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert "deploy/dev/" in ignored
    assert "**/*.pem" in ignored
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert "test ! -e deploy/dev" in dockerfile
    assert "SIGNPOST_DEVELOPMENT_MODE" not in dockerfile


def test_the_acl_script_grants_exactly_the_policy(broker_config: Path) -> None:
    """Operations and resources are grouped per call only where every pair is in the policy."""
    from deploy.kafka.acls import acl_bindings

    granted = set()
    for line in (broker_config / "acls.sh").read_text().splitlines()[2:]:
        words = shlex.split(line)
        principal = words[words.index("--allow-principal") + 1]
        pattern = words[words.index("--resource-pattern-type") + 1].upper()
        ops = [words[i + 1] for i, w in enumerate(words) if w == "--operation"]
        resources = [
            (w[2:].upper(), words[i + 1])
            for i, w in enumerate(words)
            if w in ("--topic", "--group")
        ]
        granted |= {
            (principal, kind, name, pattern, op)
            for kind, name in resources
            for op in ops
        }
    wanted = {
        (
            b.principal,
            b.resource_type.value,
            b.resource_name,
            b.pattern_type.value,
            b.operation.value,
        )
        for b in acl_bindings(["alpha"])
    }
    assert granted == wanted


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose (Debian's) validates offline; not installed",
)
def test_docker_compose_accepts_the_file_only_with_the_deployers_secrets(
    tmp_path: Path,
) -> None:
    given = {
        **SECRETS,
        "SIGNPOST_CLIENTS_FILE": str(tmp_path / "clients.yaml"),
        "SIGNPOST_PSEUDONYM_KEY": "k" * 40,
        "POSTGRES_PASSWORD": "pg-secret",
    }
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SIGNPOST_", "POSTGRES_"))
    }
    check = ["docker-compose", "-f", str(REPO / "docker-compose.yml"), "config", "-q"]
    assert (
        subprocess.run(
            check, env={**base, **given}, capture_output=True, timeout=60
        ).returncode
        == 0
    )
    refused = subprocess.run(
        check, env=base, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
    assert "set SIGNPOST_" in refused.stderr


def test_audit_relays_to_the_router_and_notifier_containers_by_name_over_https(
    tmp_path: Path,
) -> None:
    """``SIGNPOST_HTTP_HOST`` is 0.0.0.0 in a container: audit must be told where the router and notifier are."""
    from cryptography import x509

    from signpost.service_urls import service_url

    env = {
        k.removeprefix("SIGNPOST_").lower(): v
        for k, v in service("audit")["environment"].items()
    }
    settings = Settings(
        development_mode=True,
        router_url=env["router_url"],
        notifier_url=env["notifier_url"],
    )
    # The certificate the tls job makes is for the names audit calls.
    made = tls.ensure(tmp_path, ("kafka", *SERVICES))
    names = x509.load_pem_x509_certificate(
        made.cert_file.read_bytes()
    ).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    for target in ("router", "notifier"):
        url = service_url(settings, target)
        assert url == f"https://{target}:{DEFAULT_PORTS[target]}"
        assert target in names.value.get_values_for_type(x509.DNSName)
