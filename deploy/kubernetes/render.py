"""Render the chart with Helm, as ``helm template`` would for an install, without a cluster.

Helm is built from the Go module proxy into the virtualenv by ``make helm``
(the Makefile pins its version); ``SIGNPOST_HELM`` names another binary.

    python -m deploy.kubernetes.render [--set key=value ...]   (prints the manifests)
"""

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from deploy.kubernetes.generate import CHART
from deploy.kubernetes.validate import KUBERNETES_VERSIONS, documents

REPO = CHART.parents[2]
RELEASE = "signpost"
NAMESPACE = "signpost"


def helm() -> str:
    """The helm binary: $SIGNPOST_HELM, the virtualenv's, or one on PATH."""
    for candidate in (
        os.environ.get("SIGNPOST_HELM"),
        str(REPO / ".venv" / "bin" / "helm"),
        shutil.which("helm"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(
        "helm not found: run `make helm` (builds it from the Go module proxy into .venv/bin)"
    )


def _run(command: list[str], settings: tuple[str, ...]) -> str:
    """Run ``helm <command>`` on the chart with these ``--set`` values; Helm's own message on failure."""
    # Without a cluster Helm assumes an old Kubernetes; check for the oldest the chart supports.
    args = [helm(), *command, "--kube-version", f"{KUBERNETES_VERSIONS[0]}.0"]
    for setting in settings:
        args += ["--set", setting]
    done = subprocess.run(
        args, capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"helm {command[0]} failed: {done.stdout.strip()} {done.stderr.strip()}"
        )
    return done.stdout


def template(*settings: str) -> str:
    """The chart rendered as ``helm install`` would apply it."""
    return _run(["template", RELEASE, str(CHART), "--namespace", NAMESPACE], settings)


def lint(*settings: str) -> str:
    """``helm lint --strict``: Helm's own checks of the chart (undefined values, bad YAML)."""
    return _run(["lint", "--strict", str(CHART)], settings)


def manifests(*settings: str) -> list[dict[str, Any]]:
    return documents(template(*settings))


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    settings = [a for flag, a in itertools.pairwise(args) if flag == "--set"]
    print(template(*settings), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
