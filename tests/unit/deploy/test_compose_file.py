"""No Docker engine runs here, so the compose file is checked by reading it."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from signpost.settings import DEFAULT_PORTS, Settings
from signpost.stack import SERVICES

COMPOSE = yaml.safe_load((Path(__file__).parents[3] / "docker-compose.yml").read_text())


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = COMPOSE["services"][name]
    return found


def test_compose_uses_official_kafka_and_postgres_images() -> None:
    assert service("kafka")["image"].startswith("apache/kafka:4.3")
    assert service("postgres")["image"].startswith("postgres:")


def test_kafka_in_compose_never_creates_topics_on_its_own() -> None:
    assert service("kafka")["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_runs_its_module_with_a_health_check(name: str) -> None:
    svc = service(name)
    assert svc["command"] == ["python", "-m", f"services.{name}"]
    assert "healthcheck" in svc
    assert f":{DEFAULT_PORTS[name]}/readyz" in " ".join(svc["healthcheck"]["test"])
    assert svc["ports"] == [f"{DEFAULT_PORTS[name]}:{DEFAULT_PORTS[name]}"]
    assert svc["build"]["dockerfile"] == "deploy/Dockerfile"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_given_every_setting_the_code_reads_without_a_safe_default(name: str) -> None:
    env = service(name)["environment"]
    required = {"SIGNPOST_KAFKA_BOOTSTRAP", "SIGNPOST_DATABASE_URL", "SIGNPOST_PSEUDONYM_KEY", "SIGNPOST_HTTP_HOST"}
    assert required <= set(env)
    assert env[f"SIGNPOST_{name.upper()}_PORT"] == DEFAULT_PORTS[name]
    known = {f"SIGNPOST_{field.upper()}" for field in Settings.model_fields}
    assert set(env) <= known, f"compose sets variables the code never reads: {set(env) - known}"


def test_dockerfile_exists_and_installs_pinned_dependencies() -> None:
    dockerfile = (Path(__file__).parents[3] / "deploy" / "Dockerfile").read_text()
    assert "-c constraints.txt" in dockerfile
    assert "USER signpost" in dockerfile
