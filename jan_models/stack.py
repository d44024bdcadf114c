"""The whole system on one machine: real servers, kubesim and the three services.

`jan-models dev`, the end-to-end tests, the fault tests and the benchmarks all start the
stack the same way: every part is its own process (as in production), configured only
through `JAN_MODELS_*` variables, and ready when its port or `/readyz` answers. Parts can
be killed and restarted one by one, which is what the fault tests need.
"""

import asyncio
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Self

import yaml

from jan_models.embedded import (
    EmbeddedMongo,
    EmbeddedNats,
    EmbeddedServer,
    EmbeddedServerError,
    find_executable,
    free_port,
    nats_cluster,
)

ServiceName = Literal["api", "deployer", "inventory"]
SERVICES: tuple[ServiceName, ...] = ("inventory", "deployer", "api")


def service_token(name: str) -> str:
    """The bearer token a service presents to kubesim: its audit user."""
    return f"jan-models-{name}"


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback URL we built
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


@dataclass
class ChildProcess:
    """A part of the stack run as `jan-models <subcommand>`, ready when `ready_url` answers 200."""

    name: str
    args: list[str]
    env: dict[str, str]
    ready_url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _terminating: bool = field(default=False, init=False)

    def start(self) -> Self:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._terminating = False
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [find_executable("jan-models"), *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def wait_ready(self, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise EmbeddedServerError(
                    f"{self.name} exited with {code}; its log: {self.log_path}\n{self.tail()}"
                )
            if _http_ok(self.ready_url):
                return
            time.sleep(0.1)
        raise EmbeddedServerError(f"{self.name} was not ready in {timeout}s; see {self.log_path}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM) without waiting, so several parts stop at once."""
        if self.process is not None and self.process.poll() is None and not self._terminating:
            self.process.send_signal(signal.SIGTERM)
            self._terminating = True

    def stop(self, *, timeout: float = 15.0) -> None:
        self.terminate()  # a second SIGTERM would make uvicorn skip its graceful shutdown
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class StackConfig:
    data_dir: Path
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    nats_port: int = 4222
    mongo_port: int = 27017
    kubesim_port: int = 6443
    #: nats-server nodes: 1, or 3 for a cluster whose streams are replicated three ways
    nats_nodes: int = 1
    #: processes of each service (1 when not named): several replicas behave as one
    replicas: Mapping[ServiceName, int] = field(default_factory=dict)
    mongodb_url: str | None = None
    kubeconfig: Path | None = None
    scenario: Path | None = None
    ready_delay: float = 2.0
    #: kubesim keeps its cluster under `data_dir / "kubesim"` and takes it up again on the
    #: next start (what `jan-models dev` does); otherwise it starts from the scenario each time
    keep_cluster: bool = False
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: seconds kubesim and each service get to answer /readyz (large scenarios need more)
    kubesim_ready_timeout: float = 60.0
    service_ready_timeout: float = 90.0

    def with_free_ports(self) -> "StackConfig":
        """The same stack on free ports: for tests and benchmarks that must not collide."""
        return replace(
            self,
            api_port=free_port(),
            nats_port=free_port(),
            mongo_port=free_port(),
            kubesim_port=free_port(),
        )


@dataclass
class LocalStack:
    config: StackConfig
    #: the first NATS node (the only one unless the stack runs a NATS cluster)
    nats: EmbeddedNats = field(init=False)
    nats_nodes: list[EmbeddedNats] = field(init=False, default_factory=list)
    mongo: EmbeddedMongo | None = field(init=False, default=None)
    kubesim: ChildProcess | None = field(init=False, default=None)
    services: dict[ServiceName, ChildProcess] = field(init=False, default_factory=dict)
    #: the second and later replicas of each service, with their URLs
    extra_replicas: dict[ServiceName, list[tuple[ChildProcess, str]]] = field(
        init=False, default_factory=dict
    )
    ports: dict[ServiceName, int] = field(init=False, default_factory=dict)
    api_ops_port: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        config = self.config
        logs = config.data_dir / "logs"
        self.nats_nodes = nats_cluster(
            config.nats_nodes,
            ports=[config.nats_port] + [free_port() for _ in range(config.nats_nodes - 1)],
            data_dir=config.data_dir,
            logs=logs,
        )
        self.nats = self.nats_nodes[0]
        if config.mongodb_url is None:
            self.mongo = EmbeddedMongo(
                name="mongodb",
                port=config.mongo_port,
                log_path=logs / "mongodb.log",
                storage_path=str(config.data_dir / "mongodb"),
                sync_on_commit=True,
            )
        if config.kubeconfig is None:
            self.kubesim = self._kubesim_process(logs)
        ports: dict[ServiceName, int] = {
            "api": config.api_port,
            "deployer": free_port(),
            "inventory": free_port(),
        }
        self.ports = ports
        self.api_ops_port = free_port()
        for name in SERVICES:
            self.services[name] = ChildProcess(
                name=name,
                args=[name],
                env=self._service_env(name, ports[name]),
                ready_url=f"http://127.0.0.1:{ports[name]}/readyz",
                log_path=logs / f"{name}.log",
            )

    # --- addresses -----------------------------------------------------------------------

    @property
    def nats_url(self) -> str:
        """The NATS URL setting the services get: every node's, separated by commas."""
        return ",".join(node.url for node in self.nats_nodes)

    @property
    def mongodb_url(self) -> str:
        if self.config.mongodb_url is not None:
            return self.config.mongodb_url
        assert self.mongo is not None
        return self.mongo.url

    @property
    def kubeconfig_path(self) -> Path:
        return self.config.kubeconfig or self.config.data_dir / "kubeconfig"

    @property
    def kubesim_url(self) -> str:
        return f"http://127.0.0.1:{self.config.kubesim_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.config.api_host}:{self.config.api_port}"

    @property
    def metrics_urls(self) -> dict[ServiceName, str]:
        """Each service's Prometheus endpoint (the api's is on its ops port)."""
        ports = self.ports | {"api": self.api_ops_port}
        return {name: f"http://127.0.0.1:{ports[name]}/metrics" for name in SERVICES}

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        config = self.config
        self.extra_replicas = {
            name: [self.replica(name, index) for index in range(2, count + 1)]
            for name, count in config.replicas.items()
            if count > 1
        }
        try:
            for node in self.nats_nodes:
                node.start()
            if self.mongo is not None:
                self.mongo.start(timeout=60)
            if self.kubesim is not None:
                self.kubesim.start().wait_ready(timeout=config.kubesim_ready_timeout)
                self._write_service_kubeconfigs()
            for service in self.services.values():
                service.start()
            for service in self.services.values():
                service.wait_ready(timeout=config.service_ready_timeout)
            extra = [
                process for name in SERVICES for process, _ in self.extra_replicas.get(name, [])
            ]
            for process in extra:
                process.start()
            for process in extra:
                process.wait_ready(timeout=config.service_ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        services = [
            process
            for name in reversed(SERVICES)
            for process, _ in self.extra_replicas.get(name, [])
        ] + [self.services[name] for name in reversed(SERVICES)]
        for service in services:
            service.terminate()
        for service in services:
            service.stop()
        if self.kubesim is not None:
            self.kubesim.stop()
        for node in self.nats_nodes:
            node.stop()
        if self.mongo is not None:
            self.mongo.stop()

    def api_replica(self, index: int) -> tuple[ChildProcess, str]:
        """Another api process on the same NATS and MongoDB (not started), and its URL:
        for tests of what several api replicas must agree on."""
        return self.replica("api", index)

    def replica(self, name: ServiceName, index: int) -> tuple[ChildProcess, str]:
        """Another process of a service on the same NATS, MongoDB and cluster (not
        started), and the URL of its HTTP port."""
        port = free_port()
        env = self._service_env(name, port)
        if name == "api":
            env |= {"JAN_MODELS_API_OPS_PORT": str(free_port())}
        process = ChildProcess(
            name=f"{name}-{index}",
            args=[name],
            env=env,
            ready_url=f"http://127.0.0.1:{port}/readyz",
            log_path=self.config.data_dir / "logs" / f"{name}-{index}.log",
        )
        return process, f"http://{self.config.api_host if name == 'api' else '127.0.0.1'}:{port}"

    def restart_service(self, name: ServiceName, *, kill: bool = False) -> None:
        service = self.services[name]
        service.kill() if kill else service.stop()
        service.start().wait_ready(timeout=90)

    def restart_server(self, server: EmbeddedServer, *, kill: bool = False) -> None:
        server.kill() if kill else server.stop()
        server.start(timeout=60)

    @contextmanager
    def running(self) -> Iterator[Self]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    @asynccontextmanager
    async def running_async(self) -> AsyncIterator[Self]:
        """`running` for async code: start and stop in a thread, the loop free meanwhile."""
        await asyncio.to_thread(self.start)
        try:
            yield self
        finally:
            await asyncio.to_thread(self.stop)

    # --- wiring --------------------------------------------------------------------------

    def _kubesim_process(self, logs: Path) -> ChildProcess:
        config = self.config
        args = [
            "kubesim",
            "--host",
            "127.0.0.1",
            "--port",
            str(config.kubesim_port),
            "--kubeconfig-out",
            str(self.kubeconfig_path),
            "--ready-delay",
            str(config.ready_delay),
        ]
        if config.scenario is not None:
            args += ["--scenario", str(config.scenario)]
        if config.keep_cluster:
            args += ["--data-dir", str(config.data_dir / "kubesim")]
        return ChildProcess(
            name="kubesim",
            args=args,
            env=dict(os.environ),
            ready_url=f"http://127.0.0.1:{config.kubesim_port}/healthz",
            log_path=logs / "kubesim.log",
        )

    def service_kubeconfig(self, name: ServiceName) -> Path:
        """On kubesim each service has a kubeconfig (and so a user) of its own, as with
        real service accounts; kubesim's audit then tells who asked for what."""
        if self.kubesim is None:
            return self.kubeconfig_path
        return self.config.data_dir / f"kubeconfig-{name}"

    def _write_service_kubeconfigs(self) -> None:
        base = yaml.safe_load(self.kubeconfig_path.read_text())
        for name in SERVICES:
            for user in base["users"]:
                user["user"]["token"] = service_token(name)
            path = self.service_kubeconfig(name)
            path.write_text(yaml.safe_dump(base))
            path.chmod(0o600)

    def _service_env(self, name: ServiceName, port: int) -> dict[str, str]:
        env = dict(os.environ) | {
            "JAN_MODELS_NATS_URL": self.nats_url,
            "JAN_MODELS_STREAM_REPLICAS": str(min(self.config.nats_nodes, 3)),
            "JAN_MODELS_MONGODB_URL": self.mongodb_url,
            "JAN_MODELS_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
        if name == "api":
            env |= {
                "JAN_MODELS_API_HOST": self.config.api_host,
                "JAN_MODELS_API_PORT": str(port),
                "JAN_MODELS_API_OPS_HOST": "127.0.0.1",
                "JAN_MODELS_API_OPS_PORT": str(self.api_ops_port),
            }
        else:
            if name == "inventory" and self.config.replicas.get("inventory", 1) > 1:
                # several inventories: one leads, through a short lease on a laptop
                env["JAN_MODELS_INVENTORY_LEADER_LEASE_SECONDS"] = "3"
            env |= {
                "JAN_MODELS_KUBECONFIG": str(self.service_kubeconfig(name)),
                f"JAN_MODELS_{name.upper()}_HTTP_HOST": "127.0.0.1",
                f"JAN_MODELS_{name.upper()}_HTTP_PORT": str(port),
            }
        return env | dict(self.config.extra_env)
