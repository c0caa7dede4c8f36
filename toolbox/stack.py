"""Start and stop the whole system: Kafka, PostgreSQL, topics and the four services.

``make run`` uses it in the foreground; end-to-end tests use it with their
own ports and state directory. Infrastructure comes from, in order: URLs in
the environment (``SIGNPOST_KAFKA_BOOTSTRAP`` / ``SIGNPOST_DATABASE_URL``),
otherwise the local launchers under ``deploy/``.
"""

import asyncio
import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deploy import tls as local_tls
from deploy.kafka import local as kafka_local
from deploy.postgres import local as postgres_local
from deploy.processes import read_pid
from signpost.settings import DEFAULT_PORTS
from signpost.topics import CORE_TOPICS, ensure_topics

SERVICES = ("intake", "router", "notifier", "audit")
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Stack:
    """A running set of services and where they listen."""

    kafka_bootstrap: str
    database_url: str
    state_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    extra_env: dict[str, str] = field(default_factory=dict)
    # Per service, on top of extra_env: e.g. each service's own Kafka principal.
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Given, every service serves HTTPS with this certificate and clients verify it against its CA.
    tls: local_tls.LocalTLS | None = None
    # Each service's own PostgreSQL login (signpost/database_roles.py); database_url stays the admin's, for tools.
    database_urls: dict[str, str] = field(default_factory=dict)
    database_roles_file: Path | None = (
        None  # their passwords; default: the state dir's database-roles.json
    )
    # Named instances (scale-out: several processes of one service in its consumer groups): instance -> its port.
    # The default instance of a service is named as the service and listens on ``ports[service]``.
    instance_ports: dict[str, int] = field(default_factory=dict)
    instance_of: dict[str, str] = field(default_factory=dict)
    """instance -> service, for every named instance started."""

    def url(self, service: str) -> str:
        """A service's (default instance's) URL, or a named instance's."""
        port = self.instance_ports.get(service) or self.ports[service]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client passes as ``verify=`` to talk to these services."""
        return (
            ssl.create_default_context(cafile=str(self.tls.ca_file))
            if self.tls
            else True
        )

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SIGNPOST_KAFKA_BOOTSTRAP=self.kafka_bootstrap,
            SIGNPOST_DATABASE_URL=self.database_url,
            **{
                f"SIGNPOST_{name.upper()}_PORT": str(port)
                for name, port in self.ports.items()
            },
            # A local stack's webhook receivers (examples, tests) run on this machine, over http.
            SIGNPOST_WEBHOOK_ALLOW_PRIVATE="true",
            # A local stack signs in with the committed development identities (deploy/dev/).
            SIGNPOST_DEVELOPMENT_MODE="1",
            # Tools run against this stack (toolbox/cli.py) find its roles, not a roles file left elsewhere.
            SIGNPOST_DATABASE_ROLES_FILE=str(self.roles_file),
        )
        if self.tls:
            env.update(
                SIGNPOST_TLS_CERTFILE=str(self.tls.cert_file),
                SIGNPOST_TLS_KEYFILE=str(self.tls.key_file),
                SIGNPOST_TLS_CAFILE=str(self.tls.ca_file),
            )
        env.update(self.extra_env)
        return env

    @property
    def roles_file(self) -> Path:
        """Where this stack's PostgreSQL roles' passwords are kept."""
        return self.database_roles_file or self.state_dir / "database-roles.json"

    def log_file(self, service: str) -> Path:
        return self.state_dir / "logs" / f"{service}.log"

    def provision_database(self) -> None:
        """Each service's role and schema (idempotent, as the admin): from here on no service connects as the admin."""
        from signpost import database_roles

        roles_file = self.roles_file
        self.database_urls = asyncio.run(
            database_roles.provision(self.database_url, roles_file)
        )

    def start_service(
        self, service: str, instance: str | None = None, port: int | None = None
    ) -> None:
        """Start ``service``; with ``instance``, as that named instance (its own port, log file and log name).

        Instances of one service share its consumer groups, database schema and outbox: the broker and
        the relay's leader lock share the work out between them. Without ``instance`` it is the one
        default process, named as the service, on ``ports[service]``.
        """
        if not self.database_urls:
            self.provision_database()
        name = instance or service
        own_database = {"SIGNPOST_DATABASE_URL": self.database_urls[service]}
        named: dict[str, str] = {}
        if instance:
            self.instance_ports[instance] = (
                port or self.instance_ports.get(instance) or self.ports[service]
            )
            self.instance_of[instance] = service
            named = {
                f"SIGNPOST_{service.upper()}_PORT": str(self.instance_ports[instance]),
                "SIGNPOST_INSTANCE": instance,
            }
        self.log_file(name).parent.mkdir(parents=True, exist_ok=True)
        with self.log_file(name).open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"],
                cwd=REPO,
                env={
                    **self.env(),
                    **own_database,
                    **self.service_env.get(service, {}),
                    **named,
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, service: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            proc = self.processes.get(service)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"{service} exited with {proc.returncode}; see {self.log_file(service)}"
                )
            try:
                response = httpx.get(
                    f"{self.url(service)}/readyz", timeout=2.0, verify=self.verify
                )
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise TimeoutError(f"{service} not ready after {timeout:.0f}s: {last}")

    def start_all(self) -> None:
        for service in SERVICES:
            self.start_service(service)
        for service in SERVICES:
            self.wait_ready(service)

    def stop_service(
        self, service: str, sig: int = signal.SIGTERM, timeout: float = 30.0
    ) -> int | None:
        proc = self.processes.pop(service, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def instances(self, service: str) -> list[str]:
        """The running processes of ``service``: its default one and its named instances, by name."""
        return [
            name
            for name in list(self.processes)
            if name == service or self.instance_of.get(name) == service
        ]

    def stop_all(self) -> dict[str, int | None]:
        # Stop producers of work first so the others can drain what is in flight.
        return {
            name: self.stop_service(name)
            for s in SERVICES
            for name in self.instances(s)
        }


def local_infrastructure(
    state_dir: Path, kafka_port: int = 9092, postgres_port: int = 5432
) -> tuple[str, str]:
    """Kafka and PostgreSQL from the environment, else started locally; return (bootstrap, url)."""
    bootstrap = os.environ.get("SIGNPOST_KAFKA_BOOTSTRAP")
    if not bootstrap:
        node = kafka_local.KafkaNode(
            state_dir / "kafka", port=kafka_port, controller_port=kafka_port + 1
        )
        bootstrap = kafka_local.start(node)
    url = os.environ.get("SIGNPOST_DATABASE_URL")
    if not url:
        url = postgres_local.start(
            postgres_local.PostgresNode(state_dir / "postgres", port=postgres_port)
        )
    return bootstrap, url


def stop_local_infrastructure(
    state_dir: Path, kafka_port: int = 9092, postgres_port: int = 5432
) -> None:
    if not os.environ.get("SIGNPOST_KAFKA_BOOTSTRAP"):
        kafka_local.stop(
            kafka_local.KafkaNode(
                state_dir / "kafka", port=kafka_port, controller_port=kafka_port + 1
            )
        )
    if not os.environ.get("SIGNPOST_DATABASE_URL"):
        postgres_local.stop(
            postgres_local.PostgresNode(state_dir / "postgres", port=postgres_port)
        )


def create_topics(bootstrap: str, agencies: list[str], **security: Any) -> list[str]:
    """The core topics, each agency's pair, and a feedback topic for each practice and each other referrer.

    ``security``: aiokafka keyword arguments for a secured broker (``signpost.kafka_security.client_kwargs``).
    """
    from services.router.inputs import known_practices
    from signpost.clients import referrer_organisations
    from signpost.settings import Settings
    from signpost.topics import agency_topics, practice_topics

    referrers = {*known_practices(Settings()), *referrer_organisations()}
    wanted = {
        **CORE_TOPICS,
        **agency_topics(agencies),
        **practice_topics(sorted(referrers)),
    }
    return asyncio.run(ensure_topics(bootstrap, wanted, **security))


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def existing_or_started(
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[dict[str, str], str, str]]:
    """The running stack if its services answer, else one started here and stopped after.

    Yields (service URLs, Kafka bootstrap, database URL). Used by ``make demo``
    and ``make bench``, which must leave the machine as they found it.
    """
    from signpost.settings import get_settings

    settings = get_settings()
    ports = {s: settings.port_for(s) for s in SERVICES}
    urls = {s: f"http://127.0.0.1:{p}" for s, p in ports.items()}
    if all(_answers(u) for u in urls.values()):
        yield urls, settings.kafka_bootstrap, settings.database_url
        return
    print("no running stack found; starting one ...", flush=True)
    state = Path(os.environ.get("SIGNPOST_STATE_DIR", REPO / ".signpost"))
    kafka_port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
    postgres_port = int(os.environ.get("SIGNPOST_POSTGRES_PORT", "5432"))
    kafka_was_running = (
        read_pid(kafka_local.KafkaNode(state / "kafka", port=kafka_port).pid_file)
        is not None
    )
    bootstrap, url = local_infrastructure(state, kafka_port, postgres_port)
    from services.router.inputs import known_agencies
    from signpost.settings import Settings

    create_topics(bootstrap, known_agencies(Settings()))
    started = Stack(bootstrap, url, state, ports=ports, extra_env=dict(extra_env or {}))
    try:
        started.start_all()
        yield urls, bootstrap, url
    finally:
        started.stop_all()
        if not kafka_was_running:
            stop_local_infrastructure(state, kafka_port, postgres_port)
