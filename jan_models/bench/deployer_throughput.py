"""Deployer throughput: N create commands through nats-server, the deployer and kubesim.

Three separate processes, as in `jan-models dev`: nats-server, `jan-models kubesim` and
`jan-models deployer`; this script publishes the commands and reads the `applied` events.
Prints commands per second (first publish to last `applied`) and apply latency
percentiles (command `issued_at` to event `time`).

    .venv/bin/python -m jan_models.bench.deployer_throughput [--count 1000]
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from jan_models.embedded import EmbeddedNats, free_port
from shared import messaging
from shared.commands import utcnow
from shared.events import parse_event
from shared.names import EVENTS_STREAM, EVENTS_WILDCARD
from tests.shared.examples import seed_create_command

BIN = Path(sys.executable).parent / "jan-models"


async def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=1) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


async def run(count: int, workdir: Path) -> None:
    kube_port, http_port = free_port(), free_port()
    kubeconfig = workdir / "kubeconfig"
    with EmbeddedNats(
        name="nats", port=free_port(), log_path=workdir / "nats.log", store_dir=workdir / "js"
    ) as nats:
        kubesim = subprocess.Popen(  # noqa: ASYNC220  # started before anything is timed
            [
                str(BIN),
                "kubesim",
                "--port",
                str(kube_port),
                "--kubeconfig-out",
                str(kubeconfig),
                "--ready-delay",
                "0.05",
            ],
            stdout=(workdir / "kubesim.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        env = {
            **os.environ,
            "JAN_MODELS_NATS_URL": nats.url,
            "JAN_MODELS_KUBECONFIG": str(kubeconfig),
            "JAN_MODELS_DEPLOYER_HTTP_PORT": str(http_port),
            "JAN_MODELS_LOG_LEVEL": "WARNING",
        }
        deployer = None
        try:
            await wait_http(f"http://127.0.0.1:{kube_port}/readyz")
            deployer = subprocess.Popen(  # noqa: ASYNC220  # started before anything is timed
                [str(BIN), "deployer"],
                env=env,
                stdout=(workdir / "deployer.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            await wait_http(f"http://127.0.0.1:{http_port}/readyz")
            client = await messaging.connect(nats.url, name="bench")
            js = client.jetstream()
            events = await js.pull_subscribe(EVENTS_WILDCARD, durable="bench", stream=EVENTS_STREAM)
            base = seed_create_command().model_copy(update={"hf_token_encrypted": None})
            commands = [
                base.model_copy(
                    update={"public_id": f"mdl_{i:012d}", "name": f"bench-{i}", "model_id": i + 1}
                )
                for i in range(count)
            ]
            issued = {}
            cpu_at_start = {
                label: cpu_seconds(process.pid)
                for label, process in (("deployer", deployer), ("kubesim", kubesim))
            }
            started = time.perf_counter()
            for command in commands:
                command = command.model_copy(update={"issued_at": utcnow()})
                issued[command.public_id] = command.issued_at
                await messaging.publish_command(js, command)
            published = time.perf_counter() - started
            latencies: list[float] = []
            failed = 0
            while len(latencies) + failed < count:
                try:
                    batch = await events.fetch(256, timeout=30)
                except TimeoutError:
                    break
                for msg in batch:
                    event = parse_event(msg.data)
                    await msg.ack()
                    if event.type.endswith(".applied"):
                        latencies.append((event.time - issued[event.subject]).total_seconds())
                    elif event.type.endswith(".failed"):
                        failed += 1
            elapsed = time.perf_counter() - started
            await client.close()
            for label, process in (("deployer", deployer), ("kubesim", kubesim)):
                total = cpu_seconds(process.pid)
                print(
                    f"{label} cpu seconds: {total:.1f} "
                    f"(start-up {cpu_at_start[label]:.1f}, run {total - cpu_at_start[label]:.1f})"
                )
        finally:
            for child in (deployer, kubesim):
                if child is not None:
                    child.terminate()
                    child.wait(20)
    latencies.sort()

    def p(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    print(f"commands: {count}  applied: {len(latencies)}  failed: {failed}")
    print("objects per command: 5 (PVC, Service, Deployment, ServiceMonitor, PodAutoscaler)")
    print(f"publish: {published:.2f}s  end to end: {elapsed:.2f}s")
    print(f"throughput: {len(latencies) / elapsed:.0f} commands/s")
    if latencies:
        print(
            f"apply latency ms: p50 {p(0.5):.0f}  p90 {p(0.9):.0f}  p99 {p(0.99):.0f}  "
            f"max {latencies[-1] * 1000:.0f}  mean {statistics.mean(latencies) * 1000:.0f}"
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a child process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deployer-bench-") as workdir:
        asyncio.run(run(args.count, Path(workdir)))


if __name__ == "__main__":
    main()
