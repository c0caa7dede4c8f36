"""Find real Kafka and PostgreSQL for tests, in the order DESIGN.md sets.

1. Connection settings in the environment (``SIGNPOST_TEST_KAFKA_BOOTSTRAP``,
   ``SIGNPOST_TEST_DATABASE_URL``).
2. A Docker engine that answers a ping: testcontainers (Kafka in KRaft mode,
   PostgreSQL).
3. Otherwise the project's own launchers start local processes, on ports of
   their own so a developer's running stack is left alone.
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.kafka import local as kafka_local
from deploy.postgres import local as postgres_local

TEST_KAFKA_PORT = int(os.environ.get("SIGNPOST_TEST_KAFKA_PORT", "19092"))
TEST_POSTGRES_PORT = int(os.environ.get("SIGNPOST_TEST_POSTGRES_PORT", "15432"))


@dataclass(frozen=True)
class Infrastructure:
    kafka_bootstrap: str
    database_url: str
    source: str  # environment | testcontainers | local
    state_dir: Path
    kafka_node: kafka_local.KafkaNode | None = None
    postgres_node: postgres_local.PostgresNode | None = None


def docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:
        return False


@contextlib.contextmanager
def provide() -> Iterator[Infrastructure]:
    state = Path(tempfile.mkdtemp(prefix="signpost-test-"))
    kafka_env = os.environ.get("SIGNPOST_TEST_KAFKA_BOOTSTRAP")
    db_env = os.environ.get("SIGNPOST_TEST_DATABASE_URL")
    if kafka_env and db_env:
        yield Infrastructure(kafka_env, db_env, "environment", state)
        return
    if os.environ.get("SIGNPOST_TEST_NO_DOCKER") != "1" and docker_answers():
        with _containers(state) as infra:
            yield infra
        return
    kafka = kafka_local.KafkaNode(
        state / "kafka", port=TEST_KAFKA_PORT, controller_port=TEST_KAFKA_PORT + 1
    )
    postgres = postgres_local.PostgresNode(state / "postgres", port=TEST_POSTGRES_PORT)
    try:
        bootstrap = kafka_local.start(kafka)
        url = postgres_local.start(postgres)
        yield Infrastructure(bootstrap, url, "local", state, kafka, postgres)
    finally:
        kafka_local.stop(kafka)
        postgres_local.stop(postgres)
        if os.environ.get("SIGNPOST_TEST_KEEP_STATE") != "1":
            shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def _containers(state: Path) -> Iterator[Infrastructure]:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer

    # testcontainers' Kafka module drives the Confluent image's KRaft mode; no
    # Docker engine runs on the development machines, so this path is exercised
    # only where one answers.
    with (
        KafkaContainer("confluentinc/cp-kafka:7.9.0").with_kraft() as kafka,
        PostgresContainer("postgres:17") as pg,
    ):
        url = pg.get_connection_url(driver=None)
        yield Infrastructure(kafka.get_bootstrap_server(), url, "testcontainers", state)
