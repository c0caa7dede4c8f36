"""What the Kafka broker serves, by request type and by client, and what its JVM spends meanwhile.

Kafka's CPU at a low rate follows requests, not records (issue 17), so this counts them:
it turns the broker's request logger to DEBUG for a short window (a dynamic broker-logger
setting, no restart), counts the "Completed request" lines by API and client id, and sets the
logger back. The JVM's CPU is read from /proc in a window of its own before the logging one,
since logging every request costs CPU too. It also lists each consumer group's members and
partitions. Run it against a stack that is running (idle, or under a load of your own):

    python -m benchmarks.kafka_requests --bootstrap 127.0.0.1:9092 --log .signpost/kafka/kafka.log
"""

import argparse
import json
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import psutil

from benchmarks import processes
from deploy.kafka import local as kafka_local
from signpost.settings import DEFAULT_PORTS

_API = re.compile(r'"requestApiKeyName":"(\w+)"')
_CONNECTION = re.compile(r'"connection":"[^-]+-[\d.]+:(\d+)-')
_GROUP = re.compile(r'"groupId":"([^"]*)"')
_MAX_WAIT = re.compile(r'"maxWaitMs":(\d+)')
_LOGGER = "kafka.request.logger"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far, from /proc (the JVM's threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tool(main_class: str, *args: str) -> str:
    lib = kafka_local.resolve()
    done = subprocess.run(
        [kafka_local._java(), "-cp", f"{lib}/*", main_class, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def set_request_logging(bootstrap: str, level: str) -> None:
    _tool(
        "kafka.admin.ConfigCommand",
        "--bootstrap-server",
        bootstrap,
        "--entity-type",
        "broker-loggers",
        "--entity-name",
        "1",
        "--alter",
        "--add-config",
        f"{_LOGGER}={level}",
    )


def client_ports(ports: dict[str, int]) -> dict[int, str]:
    """Which process (by the name of the port it listens on) holds each local TCP port: who a connection is."""
    owners: dict[int, str] = {}
    for part in processes.discover(ports):
        proc = psutil.Process(part.pid)
        for p in [proc, *proc.children(recursive=True)]:
            try:
                for c in p.net_connections(kind="tcp"):
                    owners[c.laddr.port] = part.name
            except (psutil.AccessDenied, psutil.NoSuchProcess):
                continue
    return owners


def describe(line: str, owners: dict[int, str]) -> tuple[str, str] | None:
    """(who, what) for one "Completed request" line: the client process, the API and its detail."""
    api = _API.search(line)
    if "Completed request" not in line or api is None:
        return None
    connection = _CONNECTION.search(line)
    who = owners.get(int(connection.group(1)), "other") if connection else "?"
    what = api.group(1)
    if what == "FETCH" and '"replicaId":-1' in line:
        wait = _MAX_WAIT.search(line)
        partitions = line.split('"response"', 1)[0].count('"partition":')
        what += f" ({partitions} partitions, wait {wait.group(1) if wait else '?'} ms)"
    elif (group := _GROUP.search(line)) is not None:
        what += f" ({group.group(1)})"
    return who, what


def count_requests(
    lines: list[str], owners: dict[int, str]
) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """Completed requests by API, and by (client, API with detail), from the request logger's lines."""
    by_api: Counter[str] = Counter()
    by_client: Counter[tuple[str, str]] = Counter()
    for line in lines:
        described = describe(line, owners)
        if described is None:
            continue
        by_api[described[1].split(" ", 1)[0]] += 1
        by_client[described] += 1
    return by_api, by_client


def consumer_groups(bootstrap: str) -> str:
    return _tool(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server",
        bootstrap,
        "--describe",
        "--all-groups",
        "--members",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks.kafka_requests", description=__doc__
    )
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--log", type=Path, required=True, help="the broker's log file")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    port = int(args.bootstrap.rsplit(":", 1)[1])
    kafka = next(p for p in processes.discover({"kafka": port}) if p.name == "kafka")
    before, started = cpu_seconds(kafka.pid), time.monotonic()
    time.sleep(args.seconds)  # the measuring window itself, not a wait for readiness
    cpu_ms_per_s = (
        (cpu_seconds(kafka.pid) - before) * 1000 / (time.monotonic() - started)
    )
    offset = args.log.stat().st_size
    set_request_logging(args.bootstrap, "DEBUG")
    started = time.monotonic()
    time.sleep(args.seconds)  # the counting window
    window = time.monotonic() - started
    set_request_logging(args.bootstrap, "WARN")
    with args.log.open("rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").splitlines()
    owners = client_ports(
        {
            s: int(os.environ.get(f"SIGNPOST_{s.upper()}_PORT", p))
            for s, p in DEFAULT_PORTS.items()
        }
    )
    by_api, by_client = count_requests(lines, owners)
    # The two ConfigCommand calls are themselves requests, from "other".
    print(f"Kafka JVM CPU: {cpu_ms_per_s:.1f} ms per second over {args.seconds:g} s")
    print(f"requests per second over {window:.1f} s, by API:")
    for api, n in by_api.most_common():
        print(f"  {api:<28} {n / window:8.2f}")
    print("by client and API:")
    for (client, api), n in by_client.most_common():
        print(f"  {client:<10} {api:<64} {n / window:8.2f}")
    groups = consumer_groups(args.bootstrap)
    print(groups)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "kafka_cpu_ms_per_s": round(cpu_ms_per_s, 1),
                    "requests_per_s": {
                        a: round(n / window, 2) for a, n in by_api.items()
                    },
                    "by_client": {
                        f"{c} {a}": round(n / window, 2)
                        for (c, a), n in by_client.items()
                    },
                    "consumer_groups": groups,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
