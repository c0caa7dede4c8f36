"""Schemathesis against each public API's own OpenAPI document: whatever it sends, no 5xx."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from signpost.stack import Stack
from signpost.tokens import dev_token

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.mark.parametrize(("service", "client"), [("intake", "gp-h81001"), ("audit", "operations")])
def test_generated_requests_never_get_a_server_error(shared_stack: Stack, service: str, client: str) -> None:
    completed = subprocess.run(
        [
            str(SCHEMATHESIS), "run", f"{shared_stack.url(service)}/openapi.json",
            "--checks", "not_a_server_error",
            "--header", f"Authorization: Bearer {dev_token(client)}",
            "--max-examples", "25",
            # The live stream never ends by design; its own tests cover it.
            "--exclude-path-regex", "stream$",
            "--generation-deterministic",
            "--workers", "1",
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )  # fmt: skip
    report = completed.stdout + completed.stderr
    assert completed.returncode == 0, report[-4000:]
    assert "Server error" not in report
    generated = re.search(r"(\d+) generated, (\d+) passed", report)
    assert generated is not None, report[-2000:]
    assert int(generated.group(1)) >= 100
    assert generated.group(1) == generated.group(2)
