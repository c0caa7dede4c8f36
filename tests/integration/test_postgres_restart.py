"""The local PostgreSQL launcher starts again after a kill, even while the killed postmaster is still a zombie.

``make chaos`` and the chaos test restart PostgreSQL in the middle of a run. A
killed postmaster stays in the process table until its parent reaps it, and
PostgreSQL's own lock-file check counts it as a running server: a start made
before the reaping refused with "lock file postmaster.pid already exists"
(seen in a fresh-machine ``make test``). Here the scenario runs in a child
process that makes itself the subreaper, so the killed postmaster is its
zombie until it reaps it, one second later, from another thread, as a slow
init would.
"""

import os
import subprocess
import sys
from pathlib import Path

PORT = int(os.environ.get("SIGNPOST_TEST_PORT_BASE", "18000")) + 95

SCENARIO = """
import ctypes, os, signal, sys, threading, time
from pathlib import Path
from deploy.postgres import local

PR_SET_CHILD_SUBREAPER = 36
assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
node = local.PostgresNode(state_dir=Path(sys.argv[1]), port=int(sys.argv[2]))
local.start(node)
pid = int(node.pid_file.read_text().splitlines()[0])
os.killpg(pid, signal.SIGKILL)
while Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z":
    pass  # until the postmaster is a zombie of ours
def reap_later():
    time.sleep(1.0)  # a slow init, not a readiness wait
    os.waitpid(pid, 0)
threading.Thread(target=reap_later, daemon=True).start()
try:
    local.start(node)
    print("restarted")
finally:
    local.stop(node)
"""


def test_postgres_starts_again_after_a_kill_while_the_old_postmaster_is_a_zombie(
    tmp_path: Path,
) -> None:
    ran = subprocess.run(
        [sys.executable, "-c", SCENARIO, str(tmp_path / "pg"), str(PORT)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    log = tmp_path / "pg" / "postgres.log"
    why = (ran.stderr[-2000:], log.read_text()[-1500:] if log.exists() else "")
    assert ran.returncode == 0, why
    assert "restarted" in ran.stdout, why
