"""Which processes carry the stack, and how much CPU each has spent: the benchmark's stable figure.

Throughput and latency swing with whatever else runs on the machine; the CPU
seconds a process spends per referral do not. Processes are found by the
port they listen on, never by name alone: other stacks (other engineers',
other test runs) may run the same programs on this machine at the same time.

PostgreSQL forks a backend per connection, and a backend that exits takes its
CPU time with it unless its parent reaps it: the postmaster's
``children_user``/``children_system`` hold what its reaped children spent, so
postmaster + live children + reaped children counts every PostgreSQL process
once.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import psutil

LOAD_GENERATOR = "load generator"


@dataclass(frozen=True)
class Watched:
    """One named part of the stack (a service, the Kafka JVM, PostgreSQL) by its root process."""

    name: str
    pid: int


def _listening_ports(proc: psutil.Process) -> set[int]:
    try:
        return {
            c.laddr.port
            for c in proc.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN
        }
    except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
        return set()


def discover(ports: dict[str, int]) -> list[Watched]:
    """The root process of each named part, found by the port it listens on; a part not found is left out.

    For PostgreSQL the listener is the postmaster, the parent of every backend.
    """
    wanted = {port: name for name, port in ports.items()}
    found: dict[str, int] = {}
    for proc in psutil.process_iter():
        for port in _listening_ports(proc) & wanted.keys():
            part = wanted[port]
            # A forked child can share its parent's listening socket: the root is the one whose parent does not.
            if part not in found or _is_ancestor(proc.pid, found[part]):
                found[part] = proc.pid
    parts = [Watched(name, pid) for name, pid in found.items()]
    return [*parts, Watched(LOAD_GENERATOR, psutil.Process().pid)]


def _is_ancestor(pid: int, of: int) -> bool:
    try:
        return any(p.pid == pid for p in psutil.Process(of).parents())
    except psutil.NoSuchProcess:
        return False


def cpu_seconds(parts: Iterable[Watched]) -> dict[str, float]:
    """CPU seconds (user + system) each part has spent so far: its root, its live children, its reaped children.

    The load generator is this process alone: its children are the Java baselines, measured on their own.
    """
    out: dict[str, float] = {}
    for part in parts:
        try:
            root = psutil.Process(part.pid)
            t = root.cpu_times()
            total = t.user + t.system
            if part.name != LOAD_GENERATOR:
                total += t.children_user + t.children_system
                for child in root.children(recursive=True):
                    try:
                        c = child.cpu_times()
                        total += c.user + c.system
                    except (psutil.NoSuchProcess, psutil.ZombieProcess):
                        continue  # exited between listing and reading: its parent's reaped time will hold it
            out[part.name] = total
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return out


def rss_mb(parts: Iterable[Watched]) -> dict[str, float]:
    """Resident memory of each part's root process, in MiB."""
    out: dict[str, float] = {}
    for part in parts:
        try:
            out[part.name] = round(
                psutil.Process(part.pid).memory_info().rss / 2**20, 1
            )
        except psutil.NoSuchProcess:
            continue
    return out


def per_referral_ms(
    before: dict[str, float], after: dict[str, float], referrals: int, seconds: float
) -> dict[str, object]:
    """CPU ms per referral for every part between two readings, the system's total, and the cores it kept busy.

    The load generator is reported apart and left out of the system's total: it is the clients, not Signpost.
    """
    spent = {name: after[name] - before[name] for name in after if name in before}
    system = sum(v for name, v in spent.items() if name != LOAD_GENERATOR)
    n = max(referrals, 1)
    return {
        "referrals": referrals,
        "seconds": round(seconds, 2),
        "ms_per_referral": {
            name: round(v * 1000 / n, 3) for name, v in sorted(spent.items())
        },
        "ms_per_s": {
            name: round(v * 1000 / seconds, 3) for name, v in sorted(spent.items())
        }
        if seconds > 0
        else {},
        "system_ms_per_referral": round(system * 1000 / n, 3),
        "system_cores": round(system / seconds, 3) if seconds > 0 else None,
    }
