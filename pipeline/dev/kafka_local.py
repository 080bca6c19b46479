"""A real single-node Apache Kafka broker (KRaft) for the demo, the tests and CI.

Usage:
    finsent kafka start [--port N] [--dir DIR]   # fetches jars once, formats, starts, waits
    finsent kafka status [--dir DIR]
    finsent kafka stop [--dir DIR]

The port: the one the data dir's broker had last time (a restarted broker is where its clients
left it), else `--port`, else 9092 when free (every other command's default bootstrap, so
nothing needs the `export` line), else a free one. An explicit `--port` wins and is kept from
then on.

1. The broker jars come from Maven Central (artifact `org.apache.kafka:kafka_2.13`) through Maven,
   into a cache outside the repo (`$FINSENT_CACHE`, default `~/.cache/finsent`), once.
2. A data dir is formatted for a standalone KRaft controller+broker (no ZooKeeper).
3. The JVM starts detached; we wait until the broker answers a metadata request.
Why 4.4.0: the newest release; aiokafka 0.14 (under faust) and kafka-python 3.x speak its protocol
(KIP-896 removed pre-2.1 API versions in 4.0; both clients negotiate newer ones).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import tool_env
from pipeline.errors import FinsentError


def cache_dir() -> Path:
    """Where the jars and the default broker live: `$FINSENT_CACHE`, read when a tool runs."""
    return Path(tool_env("FINSENT_CACHE")).expanduser()


def kafka_version() -> str:
    """The Kafka release fetched and run (FINSENT_KAFKA_VERSION), read when a tool runs."""
    return tool_env("FINSENT_KAFKA_VERSION")


def default_dir() -> Path:
    """The default broker's data dir, in the cache outside the repo, so `finsent kafka start` and
    the later commands find the same broker."""
    return cache_dir() / "broker"


# = Settings.bootstrap_servers' default port, so a broker here needs no FINSENT_BOOTSTRAP_SERVERS
DEFAULT_PORT = 9092

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>finsent</groupId><artifactId>kafka-fetch</artifactId><version>1</version>
<dependencies>
<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{v}</version></dependency>
<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
</dependencies></project>
"""
_LOG4J = """status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
"""


class BrokerError(FinsentError):
    """The local broker could not be fetched, started or reached."""


@dataclass(frozen=True)
class Broker:
    """A running local broker: its bootstrap address, data dir and JVM pid, which is also its
    process group (started in a new session), so `stop` signals the whole group."""

    bootstrap: str
    data_dir: Path
    pid: int


def ensure_jars(version: str | None = None, *, quiet: bool = False) -> Path:
    """Fetch the broker and its runtime dependencies with Maven, once per version."""
    version = version or kafka_version()
    libs = cache_dir() / f"kafka-{version}" / "libs"
    if (libs / f"kafka_2.13-{version}.jar").exists():
        return libs
    if shutil.which("mvn") is None:
        raise BrokerError(
            "Maven (mvn) is needed once to fetch the Kafka jars; install Maven + Java 17"
        )
    work = libs.parent
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(_POM.format(v=version))
    if not quiet:
        print(f"fetching Apache Kafka {version} jars from Maven Central into {libs} (once)...")
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(work / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
        "-DincludeScope=runtime",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BrokerError(
            f"mvn failed ({res.returncode}):\n{res.stdout[-2000:]}{res.stderr[-2000:]}"
        )
    return libs


def free_port() -> int:
    """A port the OS had free a moment ago (bound to 0, then released): another process may take it
    before use, which is good enough for local tools and tests."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:`port`. SO_REUSEADDR as the JVM's server socket sets it, so
    connections of a just-stopped broker in TIME_WAIT do not count as taken."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def saved_ports(data_dir: Path) -> tuple[int, int] | None:
    """(broker, controller) ports of the last start in `data_dir`, from its server.properties."""
    cfg = data_dir / "server.properties"
    if not cfg.exists():
        return None
    for line in cfg.read_text().splitlines():
        if line.startswith("listeners="):
            ports = dict(re.findall(r"(\w+)://[^,]*:(\d+)", line))
            if "PLAINTEXT" in ports and "CONTROLLER" in ports:
                return int(ports["PLAINTEXT"]), int(ports["CONTROLLER"])
    return None


def choose_ports(data_dir: Path, port: int | None = None) -> tuple[int, int]:
    """(broker, controller) ports for a start in `data_dir`: an explicit `port`, else the data
    dir's last port, else DEFAULT_PORT when free, else a free one. The controller keeps its last
    port when it is free."""
    saved = saved_ports(data_dir)
    if port is None and saved is not None:
        port = saved[0]
        if not port_free(port):
            raise BrokerError(
                f"port {port}, where the broker of {data_dir} ran before, is taken by another "
                "process: stop that, or start with --port N (the broker then stays on N)"
            )
    elif port is None:
        port = DEFAULT_PORT if port_free(DEFAULT_PORT) else free_port()
    elif not port_free(port):
        raise BrokerError(f"port {port} is taken by another process")
    controller = saved[1] if saved is not None and saved[1] != port else 0
    if not controller or not port_free(controller):
        controller = free_port()
        while controller == port:
            controller = free_port()
    return port, controller


def _java(libs: Path, data_dir: Path, main: str, *args: str) -> list[str]:
    """The java command line for a Kafka main class, with the heap (FINSENT_KAFKA_HEAP), the
    data dir's log4j2 config and the jars."""
    java = shutil.which("java")
    if java is None:
        raise BrokerError("Java 17+ is needed to run the local Kafka broker")
    heap = tool_env("FINSENT_KAFKA_HEAP")
    return [
        java,
        heap,
        "-XX:+UseG1GC",
        f"-Dkafka.logs.dir={data_dir}",
        f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


def write_config(data_dir: Path, port: int, controller_port: int, extra: dict[str, str]) -> Path:
    """Write `server.properties` for one KRaft controller+broker on 127.0.0.1 (replication 1, no
    topic auto-creation) plus `extra`, and the log4j2 config; returns the properties' path.
    Rewritten at every start, so the ports chosen then are those `saved_ports` finds next time."""
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir / "logs"),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",  # tests and the demo create topics explicitly
        "log.retention.hours": "168",
    }
    props.update(extra)
    path = data_dir / "server.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    (data_dir / "log4j2.properties").write_text(_LOG4J)
    return path


def new_cluster_id() -> str:
    """A KRaft cluster id (a url-safe base64 UUID, as `kafka-storage random-uuid`), never starting
    with "-": the storage tool's argument parser would read it as an option (1 id in 64 failed)."""
    while True:
        cluster_id = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def start(
    data_dir: Path | None = None,
    port: int | None = None,
    *,
    extra_config: dict[str, str] | None = None,
    format_args: tuple[str, ...] = (),
    timeout_s: float = 90.0,
    quiet: bool = False,
) -> Broker:
    """Format (first time) and start a broker in `data_dir`; return once it serves metadata."""
    data_dir = data_dir or default_dir()
    running = status(data_dir)
    if running:
        return running
    libs = ensure_jars(quiet=quiet)
    data_dir.mkdir(parents=True, exist_ok=True)
    port, controller_port = choose_ports(data_dir, port)
    cfg = write_config(data_dir, port, controller_port, extra_config or {})
    if not (data_dir / "logs" / "meta.properties").exists():
        cluster_id = new_cluster_id()
        res = subprocess.run(
            _java(
                libs,
                data_dir,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(cfg),
                *format_args,
            ),
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise BrokerError(f"formatting {data_dir} failed: {res.stdout}{res.stderr}")
    with (data_dir / "stdout.log").open("ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            _java(libs, data_dir, "kafka.Kafka", str(cfg)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    bootstrap = f"127.0.0.1:{port}"
    # Keep the Popen while the broker runs: it outlives this call on purpose, and a collected
    # Popen of a running child warns (ResourceWarning); `stop` waits on it and lets it go.
    _STARTED[proc.pid] = proc
    (data_dir / "broker.pid").write_text(f"{proc.pid} {bootstrap}\n")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"broker exited with {proc.returncode}; see {data_dir}/server.log")
        if _ready(bootstrap, extra_config or {}):
            if not quiet:
                print(f"Kafka {kafka_version()} ready at {bootstrap} (data: {data_dir})")
            return Broker(bootstrap, data_dir, proc.pid)
        time.sleep(0.5)
    stop(data_dir)
    raise BrokerError(f"broker not ready after {timeout_s:.0f}s; see {data_dir}/server.log")


def _ready(bootstrap: str, extra: dict[str, str]) -> bool:
    """Whether the broker at `bootstrap` answers: a TCP connect, then a metadata request (skipped
    when `extra` configures SASL, which refuses an anonymous client by design)."""
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            pass
    except OSError:
        return False
    if any(v.startswith("SASL") for v in extra.values()):
        return True  # an unauthenticated metadata probe would fail by design
    try:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            admin.describe_cluster()
        finally:
            admin.close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False


def status(data_dir: Path | None = None) -> Broker | None:
    """The broker of `data_dir`'s pid file if that pid is alive (and ours to signal), else None. The
    pid is not checked to be a Kafka JVM: a stale file whose pid was reused reads as running."""
    data_dir = data_dir or default_dir()
    pidfile = data_dir / "broker.pid"
    if not pidfile.exists():
        return None
    pid_s, bootstrap = pidfile.read_text().split()
    try:
        os.kill(int(pid_s), 0)
    except (ProcessLookupError, PermissionError):
        return None
    return Broker(bootstrap, data_dir, int(pid_s))


def stop(data_dir: Path | None = None, timeout_s: float = 30.0) -> bool:
    """SIGTERM (controlled shutdown), then SIGKILL after `timeout_s`. True if one was running."""
    data_dir = data_dir or default_dir()
    b = status(data_dir)
    if b is None:
        return False
    os.killpg(b.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(b.pid, 0)
        except ProcessLookupError:
            break
        _reap(b.pid)
        time.sleep(0.2)
    else:
        os.killpg(b.pid, signal.SIGKILL)
    proc = _STARTED.pop(b.pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
    (data_dir / "broker.pid").unlink(missing_ok=True)
    return True


_STARTED: dict[int, subprocess.Popen[bytes]] = {}  # brokers this process started, by pid


def _reap(pid: int) -> None:
    """Collect the exited JVM if this process started it: a zombie would still look alive to
    `os.kill(pid, 0)`."""
    proc = _STARTED.get(pid)
    if proc is not None:
        proc.poll()  # reaps it, and the Popen knows
        return
    with contextlib.suppress(ChildProcessError):  # not our child: nothing to reap
        os.waitpid(pid, os.WNOHANG)


def configure(parser: argparse.ArgumentParser) -> None:
    """`finsent kafka`'s action (start, stop, status, or fetch: jars only), port and data dir."""
    parser.add_argument("action", choices=["start", "stop", "status", "fetch"])
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"broker port (default: the data dir's last one, else {DEFAULT_PORT} when free, "
        "else a free one)",
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="data dir (default: $FINSENT_CACHE/broker)"
    )


def run(args: argparse.Namespace) -> int:
    """Do the action: `start` prints the export line for FINSENT_BOOTSTRAP_SERVERS, `status` exits 1
    when no broker runs."""
    if args.action == "fetch":
        print(ensure_jars())
    elif args.action == "start":
        b = start(args.dir, args.port)
        print(f"export FINSENT_BOOTSTRAP_SERVERS={b.bootstrap}")
        if not b.bootstrap.endswith(f":{DEFAULT_PORT}"):
            print(
                f"# not on {DEFAULT_PORT} (taken or --port): other finsent commands need the "
                "export above; this data dir keeps the port across restarts",
                file=sys.stderr,
            )
    elif args.action == "stop":
        print("stopped" if stop(args.dir) else "not running")
    else:
        found = status(args.dir)
        print(f"running at {found.bootstrap} (pid {found.pid})" if found else "not running")
        return 0 if found else 1
    return 0
