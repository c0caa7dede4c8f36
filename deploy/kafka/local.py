"""Run a real Apache Kafka broker (KRaft, single combined node) as a local process.

Used where no Docker engine answers: Kafka's jars come from Maven Central
(resolved once into a cache outside git), the broker runs on the machine's
Java 17, and its state and log live under the state directory.

    python -m deploy.kafka.local start|stop|status|resolve
"""

import argparse
import base64
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from deploy.processes import port_open, read_pid, terminate, wait_until

KAFKA_VERSION = "4.3.1"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def cache_dir() -> Path:
    root = os.environ.get("SIGNPOST_CACHE_DIR") or os.path.join(
        Path.home(), ".cache", "signpost"
    )
    return Path(root) / f"kafka-{KAFKA_VERSION}"


@dataclass(frozen=True)
class KafkaNode:
    """Where one local broker keeps its state and listens."""

    state_dir: Path
    port: int = 9092
    controller_port: int = 9093
    host: str = "127.0.0.1"
    extra_properties: dict[str, str] = field(default_factory=dict)
    heap: str = "512m"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "kafka.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "kafka.log"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "server.properties"


def resolve() -> Path:
    """Fetch broker, tools and logging jars with mvn, once; later calls are instant."""
    lib = cache_dir() / "lib"
    marker = cache_dir() / ".resolved"
    if marker.exists():
        return lib
    if shutil.which("mvn") is None:
        raise RuntimeError(
            "mvn (Apache Maven) is needed to resolve Kafka from Maven Central"
        )
    lib.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(HERE / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={lib}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    marker.write_text(KAFKA_VERSION)
    return lib


# A local broker lives for minutes (a test run, a bench), so the JIT's cost is paid in full each time:
# at 12 referrals/s a fresh broker spent 137 of its 200 ms of CPU a second in C2 compiler threads.
# C1 alone (TieredStopAtLevel=1) compiles cheaply and is fast enough here; the broker is not the limit
# at maximum. Serial GC: one small heap, no concurrent GC threads waking. Local only: a long-lived
# production broker amortises C2 and wants its peak code.
JVM_OPTIONS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]


def server_properties(node: KafkaNode) -> dict[str, str]:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{node.host}:{node.controller_port}",
        "listeners": f"PLAINTEXT://{node.host}:{node.port},CONTROLLER://{node.host}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{node.host}:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(node.state_dir / "data"),
        # Topics are created on purpose, with chosen partition counts.
        "auto.create.topics.enable": "false",
        "num.partitions": "3",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # The controller appends a no-op record to the metadata log (and flushes it) this often when
        # nothing else changes: 500 ms by default, the KRaft threads' largest idle cost.
        "metadata.max.idle.interval.ms": "5000",
        "log.flush.interval.messages": "9223372036854775807",
    }
    props.update(node.extra_properties)
    return props


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = Path(home) / "bin" / "java" if home else shutil.which("java")
    if not java:
        raise RuntimeError("java (17+) is needed to run Kafka")
    return str(java)


def _classpath(lib: Path) -> str:
    return f"{lib}/*"


def _cluster_id(node: KafkaNode) -> str:
    id_file = node.state_dir / "cluster.id"
    if not id_file.exists():
        # As Kafka's own Uuid.randomUuid does: an id that starts with "-" reads as an option on a command line.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = (
                base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            )
        id_file.write_text(cluster_id)
    return id_file.read_text().strip()


def _format(node: KafkaNode, lib: Path, extra_args: list[str]) -> None:
    subprocess.run(
        [
            _java(),
            "-cp",
            _classpath(lib),
            f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "--ignore-formatted",
            # One argument, so a state dir from before the fix (an id that starts with "-") still formats.
            f"--cluster-id={_cluster_id(node)}",
            "-c",
            str(node.config_file),
            *extra_args,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start(
    node: KafkaNode, format_args: list[str] | None = None, timeout: float = 90.0
) -> str:
    """Start the broker unless it already runs; return its bootstrap address once it answers."""
    if read_pid(node.pid_file) and port_open(node.host, node.port):
        return node.bootstrap
    lib = resolve()
    node.state_dir.mkdir(parents=True, exist_ok=True)
    node.config_file.write_text(
        "".join(f"{k}={v}\n" for k, v in server_properties(node).items())
    )
    _format(node, lib, format_args or [])
    env = dict(os.environ, KAFKA_HEAP_OPTS=f"-Xmx{node.heap} -Xms{node.heap}")
    with node.log_file.open("ab") as log:
        proc = subprocess.Popen(
            [
                _java(),
                f"-Xmx{node.heap}",
                f"-Xms{node.heap}",
                *JVM_OPTIONS,
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
                "-cp",
                _classpath(lib),
                "kafka.Kafka",
                str(node.config_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    node.pid_file.write_text(str(proc.pid))

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(
                f"Kafka exited with {proc.returncode}; see {node.log_file}"
            )
        return (
            port_open(node.host, node.port)
            and b"Kafka Server started" in node.log_file.read_bytes()
        )

    wait_until(ready, timeout, f"Kafka on {node.bootstrap}")
    return node.bootstrap


def stop(node: KafkaNode) -> None:
    pid = read_pid(node.pid_file)
    if pid:
        terminate(pid)
    node.pid_file.unlink(missing_ok=True)


def kill(node: KafkaNode) -> None:
    """SIGKILL the broker, for fault-injection tests."""
    pid = read_pid(node.pid_file)
    if pid:
        os.killpg(pid, 9)
        wait_until(lambda: read_pid(node.pid_file) is None, 30, "Kafka to die")


def default_node() -> KafkaNode:
    state = Path(os.environ.get("SIGNPOST_STATE_DIR", REPO / ".signpost")) / "kafka"
    return KafkaNode(
        state_dir=state,
        port=int(os.environ.get("SIGNPOST_KAFKA_PORT", "9092")),
        controller_port=int(os.environ.get("SIGNPOST_KAFKA_CONTROLLER_PORT", "9093")),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy.kafka.local", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status", "resolve"])
    args = parser.parse_args(argv)
    node = default_node()
    if args.command == "resolve":
        print(resolve())
    elif args.command == "start":
        print(f"kafka listening on {start(node)} (log: {node.log_file})")
    elif args.command == "stop":
        stop(node)
        print("kafka stopped")
    else:
        running = read_pid(node.pid_file) is not None and port_open(
            node.host, node.port
        )
        print(f"kafka {'running on ' + node.bootstrap if running else 'stopped'}")
        return 0 if running else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
