"""The stack ``make run`` and ``make demo`` start on this machine: encrypted and authenticated like production.

Kafka is the secured broker (SASL_SSL, SCRAM-SHA-512, the ACLs in
``deploy/kafka/acls.py``), each service connects as its own principal, and
every service serves HTTPS; one local CA (``.signpost/tls/ca.pem``, made by
``deploy/tls.py``) signs the broker's and the services' certificate, and is
what the command line, the demo and the tests trust. Only the identities are
development ones (``deploy/dev/``), hence development mode.

With ``SIGNPOST_KAFKA_BOOTSTRAP`` set, that broker is used as it is (its
credentials, if any, from the environment); with ``SIGNPOST_DATABASE_URL``,
that database.
"""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from deploy import tls
from deploy.kafka import local as kafka_local
from deploy.kafka import security
from deploy.postgres import local as postgres_local
from signpost import service_urls
from signpost.settings import Settings, get_settings
from toolbox.stack import REPO, SERVICES, Stack, create_topics

STATE_DIR = Path(os.environ.get("SIGNPOST_STATE_DIR", REPO / ".signpost"))


def certificates(state: Path = STATE_DIR) -> tls.LocalTLS:
    return tls.ensure(state / "tls")


def development_client(state: Path = STATE_DIR) -> Settings:
    """Settings for the command line driving the local stack: development mode, trusting the local CA."""
    os.environ.setdefault("SIGNPOST_DEVELOPMENT_MODE", "1")
    os.environ.setdefault("SIGNPOST_TLS_CAFILE", str(certificates(state).ca_file))
    get_settings.cache_clear()
    return get_settings()


def _principals_file(state: Path) -> Path:
    return state / "kafka-secure" / "principals.json"


def _principals(state: Path) -> security.Principals:
    """The broker's principals: generated once per state directory (the broker holds them from its first start)."""
    from services.router.inputs import known_agencies

    path = _principals_file(state)
    if not path.exists():
        dev_agencies = security._dev_agencies()  # the development registry's agencies
        security.Principals.generate(
            sorted({*known_agencies(Settings()), *dev_agencies})
        ).save(path)
    return security.Principals.load(path)


def kafka_admin(state: Path = STATE_DIR) -> dict[str, Any]:
    """aiokafka arguments for tooling reads (the demo) on the local secured broker; empty when it has none."""
    path = _principals_file(state)
    if not path.exists():
        return {}
    return security.Principals.load(path).admin.kwargs(certificates(state).ca_file)


def _kafka_port() -> int:
    """The local broker's port (the controller listens on the next one)."""
    return int(os.environ.get("SIGNPOST_KAFKA_PORT", "9092"))


def _bootstrap(settings: Settings) -> str:
    return (
        settings.kafka_bootstrap
        if os.environ.get("SIGNPOST_KAFKA_BOOTSTRAP")
        else f"127.0.0.1:{_kafka_port()}"
    )


def _database_url(settings: Settings, state: Path) -> str:
    if os.environ.get("SIGNPOST_DATABASE_URL"):
        return settings.database_url
    return _postgres_node(state).url


def _postgres_node(state: Path) -> postgres_local.PostgresNode:
    return postgres_local.PostgresNode(
        state / "postgres", port=int(os.environ.get("SIGNPOST_POSTGRES_PORT", "5432"))
    )


def _kafka_node(state: Path, port: int) -> kafka_local.KafkaNode:
    return kafka_local.KafkaNode(
        state / "kafka-secure", port=port, controller_port=port + 1
    )


@contextlib.contextmanager
def started(
    settings: Settings, state: Path = STATE_DIR, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Kafka (secured), PostgreSQL and the four services, stopped again afterwards (what this started)."""
    kafka_port = _kafka_port()
    certs = certificates(state)
    own_kafka = not os.environ.get("SIGNPOST_KAFKA_BOOTSTRAP")
    own_postgres = not os.environ.get("SIGNPOST_DATABASE_URL")
    postgres = _postgres_node(state)
    service_env: dict[str, dict[str, str]] = {}
    try:
        if own_kafka:
            principals = _principals(state)
            bootstrap = security.start(
                state / "kafka-secure", principals, kafka_port, certificates=certs
            ).bootstrap
            service_env = {
                s: {
                    "SIGNPOST_KAFKA_SASL_USERNAME": c.username,
                    "SIGNPOST_KAFKA_SASL_PASSWORD": c.password,
                    "SIGNPOST_KAFKA_SSL_CAFILE": str(certs.ca_file),
                }
                for s, c in principals.services.items()
            }
        else:
            from services.router.inputs import known_agencies

            bootstrap = settings.kafka_bootstrap
            create_topics(bootstrap, known_agencies(Settings()))
        url = postgres_local.start(postgres) if own_postgres else settings.database_url
        ports = {s: settings.port_for(s) for s in SERVICES}
        running = Stack(
            bootstrap,
            url,
            state,
            ports=ports,
            extra_env=dict(extra_env or {}),
            service_env=service_env,
            tls=certs,
        )
        try:
            running.start_all()
            yield running
        finally:
            running.stop_all()
    finally:
        if own_kafka:
            security.stop(_kafka_node(state, kafka_port))
        if own_postgres:
            postgres_local.stop(postgres)


def _answers(url: str, settings: Settings) -> bool:
    try:
        return (
            httpx.get(
                f"{url}/readyz", timeout=2, verify=service_urls.verify(settings)
            ).status_code
            == 200
        )
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def existing_or_started(
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[dict[str, str], str, str]]:
    """The running local stack if its services answer (over HTTPS), else one started here and stopped after.

    Yields (service URLs, Kafka bootstrap, database URL); ``kafka_admin()`` reads its broker.
    """
    settings = development_client()
    urls = {s: service_urls.service_url(settings, s) for s in SERVICES}
    if all(_answers(u, settings) for u in urls.values()):
        yield urls, _bootstrap(settings), _database_url(settings, STATE_DIR)
        return
    print("no running stack found; starting one ...", flush=True)
    with started(settings, extra_env=extra_env) as running:
        yield (
            {s: running.url(s) for s in SERVICES},
            running.kafka_bootstrap,
            running.database_url,
        )
