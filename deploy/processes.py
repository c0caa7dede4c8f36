"""Small process helpers shared by the local Kafka and PostgreSQL launchers.

The launchers run real servers as background processes that outlive the
command that started them, so state (pid, ports) lives in files under the
state directory, and every step is idempotent.
"""

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def in_process_table(pid: int) -> bool:
    """Whether ``pid`` exists at all, a zombie included (as PostgreSQL's lock-file check sees it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_alive(pid: int) -> bool:
    if not in_process_table(pid):
        return False
    # A zombie still answers kill(0); treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.split(")")[-1].split()[0] != "Z"


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def terminate(
    pid: int, grace: float = 30.0, first: signal.Signals = signal.SIGTERM
) -> None:
    """Send ``first`` to the process group, then SIGKILL whatever is left after the grace period.

    Returns only once the process is gone (or a zombie): a server started again at once must not find its
    predecessor still holding its lock file or port.
    """
    try:
        os.killpg(pid, first)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_until(lambda: not pid_alive(pid), 30, f"process {pid} to die after SIGKILL")
