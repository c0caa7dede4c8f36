"""A real service process refuses to start on a broken area file, naming the file and the problem.

In development mode too: wrong words are wrong everywhere. No broker or
database is needed, because the service must refuse before it touches either
(the URLs point where nothing listens, so a service that went on would fail
with a connection error instead, naming no reason).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NOWHERE = int(os.environ.get("SIGNPOST_TEST_PORT_BASE", "18000")) + 98


def _start(service: str, areas: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNPOST_")}
    env.update(
        SIGNPOST_DEVELOPMENT_MODE="1",
        SIGNPOST_AREAS_PATH=str(areas),
        SIGNPOST_KAFKA_BOOTSTRAP=f"127.0.0.1:{NOWHERE}",
        SIGNPOST_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{NOWHERE}/signpost",
        **{f"SIGNPOST_{service.upper()}_PORT": str(NOWHERE)},
    )
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("service", ["router", "notifier", "audit"])
def test_a_typo_in_an_area_file_stops_the_service_at_start_naming_it(
    service: str, tmp_path: Path
) -> None:
    broken = tmp_path / "dorset.yaml"
    words = {
        "network": "hub",
        "huddle": "virtual ward",
        "coordinator": "health and social care coordinator",
    }
    broken.write_text(
        yaml.safe_dump(
            {
                "area": "dorset",
                "networks": ["dorset-purbeck-hub"],
                "words": words,
                "texts": {"feedback_accepted": "{whoo} accepted the referral."},
            }
        )
    )
    result = _start(service, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert (
        f"signpost {service}: refusing to start: SIGNPOST_AREAS_PATH={tmp_path}: {broken}: texts:"
        in result.stderr
    )
    assert "texts.feedback_accepted: unknown placeholder {whoo}" in result.stderr
