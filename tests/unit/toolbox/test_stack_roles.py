"""Tools run against a stack take that stack's database roles, never a roles file left in the checkout."""

import os
import subprocess
import sys
from pathlib import Path

from toolbox.stack import REPO, Stack


def _stack(state: Path, roles: Path | None = None) -> Stack:
    return Stack(
        "127.0.0.1:1", "postgresql://x@127.0.0.1:1/x", state, database_roles_file=roles
    )


def test_a_stack_names_its_own_roles_file_to_every_process_it_runs(
    tmp_path: Path,
) -> None:
    assert _stack(tmp_path).env()["SIGNPOST_DATABASE_ROLES_FILE"] == str(
        tmp_path / "database-roles.json"
    )
    shared = tmp_path / "server" / "database-roles.json"
    assert _stack(tmp_path, shared).env()["SIGNPOST_DATABASE_ROLES_FILE"] == str(shared)


def test_the_command_line_reads_the_roles_file_its_stack_names_over_the_state_dir(
    tmp_path: Path,
) -> None:
    named = tmp_path / "stack" / "database-roles.json"
    env = {
        **os.environ,
        "SIGNPOST_STATE_DIR": str(tmp_path / "checkout"),
        "SIGNPOST_DATABASE_ROLES_FILE": str(named),
    }
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from toolbox import cli; print(cli.DATABASE_ROLES_FILE)",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == str(named)
