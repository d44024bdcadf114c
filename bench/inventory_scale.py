# ruff: noqa: ASYNC110, ASYNC220, ASYNC230, SIM115  # a driver script: blocking spawns and polls are the point
"""Inventory at scale: cold start, event-to-projection lag, query latency. Prints figures.

kubesim, nats-server, the MongoDB-compatible server and the inventory each run in their
own process. The simulated cluster has `--nodes` generated nodes (plus the default
scenario's) and `--deployments` model Deployments (replicas 0, so no pods).

Figures:
- cold start: seconds from spawning `jan-models inventory` to `/readyz` answering 200
  (every watch listed and synced), then to the workloads projection holding them all in
  MongoDB; resident memory of the inventory process after that;
- lag: PATCH one Deployment every 1/`--rate` s for `--seconds`; a MongoDB change stream on
  `inventory_workloads` sees each resourceVersion arrive; lag = arrival - PATCH sent;
- queries: p50/p99 of `inventory.query.status` and of the first `inventory.query.models`
  page (and one full paging of the models list).

Run: .venv/bin/python bench/inventory_scale.py [--nodes 5000 --deployments 10000]
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from pymongo import AsyncMongoClient

from jan_models.embedded import EmbeddedMongo, EmbeddedNats, free_port
from shared import messaging
from shared.names import MODELS_QUERY_SUBJECT, STATUS_QUERY_SUBJECT


def scenario(*, nodes: int, deployments: int) -> dict[str, Any]:
    text = Path(__file__).parents[1].joinpath("kubesim/scenarios/default.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    data["generate"] = {"count": nodes, "gpu_share": 0.5}
    data["objects"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": f"model-{i:05d}",
                "namespace": "default",
                "labels": {"model.aibrix.ai/name": f"model-{i:05d}"},
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"model.aibrix.ai/name": f"model-{i:05d}"}},
                "template": {
                    "metadata": {"labels": {"model.aibrix.ai/name": f"model-{i:05d}"}},
                    "spec": {"containers": [{"name": "vllm-openai", "image": "vllm/vllm-openai"}]},
                },
            },
        }
        for i in range(deployments)
    ]
    return data


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(value: float) -> str:
    return f"{value * 1000:.2f} ms"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_http(url: str, *, timeout: float) -> float:
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - started < timeout:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(url)


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="inventory-bench-"))
    nats = EmbeddedNats(
        name="nats", port=free_port(), log_path=work / "nats.log", store_dir=work / "js"
    )
    mongo = EmbeddedMongo(name="mongo", port=free_port(), log_path=work / "mongo.log")
    nats.start()
    mongo.start()
    scenario_path = work / "scenario.yaml"
    scenario_path.write_text(
        yaml.safe_dump(scenario(nodes=args.nodes, deployments=args.deployments))
    )
    kube_port = free_port()
    kubeconfig = work / "kubeconfig"
    cli = str(Path(sys.executable).parent / "jan-models")
    started = time.monotonic()
    sim = subprocess.Popen(
        [
            cli,
            "kubesim",
            "--port",
            str(kube_port),
            "--scenario",
            str(scenario_path),
            "--kubeconfig-out",
            str(kubeconfig),
            "--ready-delay",
            "0.05",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(work / "kubesim.log", "wb"),
    )
    inventory: subprocess.Popen[bytes] | None = None
    try:
        await wait_http(f"http://127.0.0.1:{kube_port}/readyz", timeout=600)
        while not kubeconfig.exists():
            await asyncio.sleep(0.1)
        print(
            f"kubesim up with {args.nodes} generated nodes, {args.deployments} deployments "
            f"in {time.monotonic() - started:.1f} s"
        )
        http_port = free_port()
        env = {
            **os.environ,
            "JAN_MODELS_NATS_URL": nats.url,
            "JAN_MODELS_MONGODB_URL": mongo.url,
            "JAN_MODELS_KUBECONFIG": str(kubeconfig),
            "JAN_MODELS_INVENTORY_HTTP_PORT": str(http_port),
            "JAN_MODELS_LOG_LEVEL": "WARNING",
        }
        spawned = time.monotonic()
        inventory = subprocess.Popen(
            [cli, "inventory"], env=env, stderr=open(work / "inventory.log", "wb")
        )
        await wait_http(f"http://127.0.0.1:{http_port}/readyz", timeout=600)
        ready = time.monotonic() - spawned
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url)
        workloads = client["jan_models"]["inventory_workloads"]
        while await workloads.count_documents({}) < args.deployments:
            await asyncio.sleep(0.1)
        written = time.monotonic() - spawned
        print(
            f"cold start: ready (all watches synced) {ready:.2f} s; "
            f"workloads projection complete in MongoDB {written:.2f} s; "
            f"inventory RSS {rss_mib(inventory.pid):.0f} MiB"
        )

        nc = await messaging.connect(nats.url, name="bench")
        for subject, label in (
            (STATUS_QUERY_SUBJECT, "status"),
            (MODELS_QUERY_SUBJECT, "models page 1"),
        ):
            samples = []
            size = 0
            for _ in range(args.queries):
                t0 = time.perf_counter()
                reply = await nc.request(subject, b"", timeout=10)
                samples.append(time.perf_counter() - t0)
                size = len(reply.data)
            print(
                f"query {label}: p50 {ms(percentile(samples, 0.5))}, p99 {ms(percentile(samples, 0.99))} "
                f"({size / 1024:.0f} KiB reply)"
            )
        t0 = time.perf_counter()
        offset: int | None = 0
        entries = pages = 0
        while offset is not None:
            reply = orjson.loads(
                (
                    await nc.request(
                        MODELS_QUERY_SUBJECT, orjson.dumps({"offset": offset}), timeout=10
                    )
                ).data
            )
            entries += len(reply["models"])
            pages += 1
            offset = reply["next_offset"]
        print(
            f"models full list: {entries} entries in {pages} pages, {ms(time.perf_counter() - t0)}"
        )

        sent: dict[tuple[str, str], float] = {}
        lags: list[float] = []
        stream = await workloads.watch()

        async def collect() -> None:
            async for change in stream:
                fields = (
                    (change.get("updateDescription") or {}).get("updatedFields")
                    or change.get("fullDocument")
                    or {}
                )
                key = (change["documentKey"]["_id"], fields.get("resource_version"))
                if key in sent:
                    lags.append(time.monotonic() - sent.pop(key))

        collector = asyncio.create_task(collect())
        total = int(args.rate * args.seconds)
        async with aiohttp.ClientSession(
            headers={"Content-Type": "application/merge-patch+json"}
        ) as session:
            begin = time.monotonic()
            for i in range(total):
                due = begin + i / args.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                name = f"model-{i % args.deployments:05d}"
                t0 = time.monotonic()
                async with session.patch(
                    f"http://127.0.0.1:{kube_port}/apis/apps/v1/namespaces/default/deployments/{name}",
                    data=orjson.dumps({"metadata": {"annotations": {"bench/i": str(i)}}}),
                ) as response:
                    body = await response.json()
                sent[(f"default/{name}", body["metadata"]["resourceVersion"])] = t0
            achieved = total / (time.monotonic() - begin)
        deadline = time.monotonic() + 10
        while sent and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        collector.cancel()
        await stream.close()
        print(
            f"lag watch event -> projection at {achieved:.0f} changes/s: "
            f"{len(lags)}/{total} seen, p50 {ms(percentile(lags, 0.5))}, p99 {ms(percentile(lags, 0.99))}"
        )
        print(f"inventory RSS after the load: {rss_mib(inventory.pid):.0f} MiB")
        await nc.close()
        await client.close()
    finally:
        if inventory is not None:
            inventory.terminate()
            inventory.wait(timeout=20)
        sim.terminate()
        sim.wait(timeout=20)
        nats.stop()
        mongo.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--deployments", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--queries", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
