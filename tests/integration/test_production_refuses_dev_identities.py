"""A real service process started without development mode refuses the committed identities, naming each.

No broker or database is needed: the service must refuse before it touches
either (the URLs given point at ports where nothing listens, so a service that
went on would fail with a connection error instead, which names no reason).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from signpost.settings import DEV_PSEUDONYM_KEY

REPO = Path(__file__).resolve().parents[2]
NOWHERE = int(os.environ.get("SIGNPOST_TEST_PORT_BASE", "18000")) + 99


def _start(service: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SIGNPOST_")}
    base.update(
        SIGNPOST_KAFKA_BOOTSTRAP=f"127.0.0.1:{NOWHERE}",
        SIGNPOST_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{NOWHERE}/signpost",
        **{f"SIGNPOST_{service.upper()}_PORT": str(NOWHERE)},
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        cwd=REPO,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


@pytest.mark.parametrize("service", ["intake", "audit"])
def test_the_committed_registry_and_pseudonym_key_are_refused_by_name(
    service: str,
) -> None:
    stderr = _refused(
        _start(
            service,
            SIGNPOST_CLIENTS_FILE="deploy/dev/clients.yaml",
            SIGNPOST_PSEUDONYM_KEY=DEV_PSEUDONYM_KEY,
        )
    )
    committed = (
        "SIGNPOST_CLIENTS_FILE=deploy/dev/clients.yaml is a committed development file"
    )
    assert f"signpost {service}: refusing to start: {committed}" in stderr
    assert "SIGNPOST_PSEUDONYM_KEY is the committed development key" in stderr
    assert "SIGNPOST_DEVELOPMENT_MODE=1" in stderr


def test_a_copy_of_the_committed_registry_elsewhere_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "registry.yaml"
    shutil.copy(REPO / "deploy" / "dev" / "clients.yaml", copy)
    stderr = _refused(
        _start(
            "intake", SIGNPOST_CLIENTS_FILE=str(copy), SIGNPOST_PSEUDONYM_KEY="x" * 40
        )
    )
    assert (
        f"SIGNPOST_CLIENTS_FILE={copy} is a copy of a committed development file"
        in stderr
    )


def test_no_registry_and_no_pseudonym_key_is_a_startup_error_not_a_default() -> None:
    stderr = _refused(_start("router"))
    assert "SIGNPOST_CLIENTS_FILE is not set" in stderr
    assert "SIGNPOST_PSEUDONYM_KEY is not set" in stderr
    assert "Kafka is not authenticated" in stderr
    assert "Kafka is not encrypted" in stderr
    assert "HTTP is not encrypted" in stderr
