# ruff: noqa: ASYNC220  # a driver script: spawning the api process is the point
"""The api's hot paths with 10,000 models in the registry. Prints figures.

nats-server, the MongoDB-compatible server and `jan-models api` each run in their own
process; this script answers the inventory queries (status, capacity) on real NATS and
drives the api over HTTP with keep-alive connections.

Figures:
- `GET /v1/organization/models?limit=100` and `GET /v1/organization/models/{id}`:
  p50/p99 over `--reads` sequential requests, the organization owning 10,000 models;
- creates: the seed's body (GPU model, so a capacity query too) with unique names,
  open loop at `--rate` per second for `--seconds`: achieved rate, p50/p99, errors;
  then closed loop with `--concurrency` clients: the most creates per second.

Run: .venv/bin/python -m jan_models.bench.api_latency [--models 10000 --rate 200 --seconds 10]
"""

import argparse
import asyncio
import copy
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from nats.aio.msg import Msg

from jan_models.bench import clusters
from jan_models.embedded import EmbeddedMongo, EmbeddedNats, free_port
from services.api.web.examples import SEED_CREATE_REQUEST
from shared import messaging
from shared.names import CAPACITY_QUERY_SUBJECT, STATUS_QUERY_SUBJECT
from shared.queries import CapacityReply, ClusterStatus, GpuNode, NodeGpus, StatusReply

MODELS = "/v1/organization/models"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:<34} n={len(values):>5}  p50={statistics.median(values) * 1000:6.2f} ms  "
        f"p99={percentile(values, 0.99):6.2f} ms"
    )


def body_for(name: str) -> dict[str, Any]:
    body = copy.deepcopy(SEED_CREATE_REQUEST)
    body["name"] = name
    args = body["deployment_config"]["args"]
    args[1] = args[1].replace("--served-model-name qwen3-coder-30b", f"--served-model-name {name}")
    return body


async def answer_inventory(nats_url: str) -> Any:
    client = await messaging.connect(nats_url, name="bench-inventory")
    status = (
        StatusReply(
            connected=True,
            cluster_status=ClusterStatus(
                has_gpus=True,
                total_nodes=3,
                gpu_nodes=[
                    GpuNode(
                        node_name="gpu-h100-1",
                        gpu_count=8,
                        gpu_type="NVIDIA-H100-80GB-HBM3",
                        total_vram="640Gi",
                        available_vram="640Gi",
                    )
                ],
                total_gpus=8,
                gpu_operator_ok=True,
                aibrix_ok=True,
                kuberay_ok=True,
                envoy_gateway_ok=True,
            ),
            # Admission plans on this: room for every create of a run.
            placement=[
                NodeGpus(
                    node_name="gpu-h100-1",
                    gpu_type="NVIDIA-H100-80GB-HBM3",
                    gpu_memory_mib=81559,
                    allocatable=1_000_000,
                    allocated=0,
                    schedulable=True,
                )
            ],
        )
        .model_dump_json()
        .encode()
    )
    fits = CapacityReply(fits=True, node_name="gpu-h100-1").model_dump_json().encode()

    async def on_status(msg: Msg) -> None:
        await msg.respond(status)

    async def on_capacity(msg: Msg) -> None:
        await msg.respond(fits)

    await client.subscribe(STATUS_QUERY_SUBJECT, cb=on_status)
    await client.subscribe(CAPACITY_QUERY_SUBJECT, cb=on_capacity)
    await messaging.ensure_streams(client.jetstream())
    return client


async def seed_registry(mongodb_url: str, *, count: int) -> str:
    """The suite's registry seeding (organization 1) and a key to read it with."""
    await clusters.seed_registry(mongodb_url, organization_id=1, count=count)
    key = f"bench-{secrets.token_hex(16)}"
    await clusters.register_key(mongodb_url, organization_id=1, key=key)
    return key


async def reads(http: httpx.AsyncClient, *, count: int, models: int) -> None:
    listing, single = [], []
    for _ in range(count):
        offset = random.randrange(0, max(1, models - 100))  # noqa: S311 - a read mix, not a secret
        started = time.perf_counter()
        response = await http.get(MODELS, params={"limit": 100, "offset": offset})
        listing.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    for _ in range(count):
        model_id = random.randint(1, models)  # noqa: S311 - a read mix, not a secret
        path = f"{MODELS}/{model_id}" if model_id % 2 else f"{MODELS}/mdl_{model_id:012d}"
        started = time.perf_counter()
        response = await http.get(path)
        single.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    print(summary(f"GET list of 100 ({models} in org)", listing))
    print(summary("GET one by id", single))


async def creates_open_loop(http: httpx.AsyncClient, *, rate: float, seconds: float) -> None:
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def one(name: str) -> None:
        started = time.perf_counter()
        try:
            response = await http.post(MODELS, json=body_for(name))
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        else:
            outcome = "" if response.status_code == 201 else str(response.status_code)
        latencies.append(time.perf_counter() - started)
        if outcome:
            errors[outcome] = errors.get(outcome, 0) + 1

    tasks = []
    begin = time.perf_counter()
    total = int(rate * seconds)
    for index in range(total):
        delay = begin + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(f"open-{index}")))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - begin
    print(summary(f"POST create, open loop {rate:.0f}/s", latencies))
    print(f"{'':<34} achieved {total / elapsed:6.1f}/s  errors={errors or 'none'}")


async def creates_closed_loop(http: httpx.AsyncClient, *, concurrency: int, seconds: float) -> None:
    done = 0
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def client(worker: int) -> None:
        nonlocal done
        index = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await http.post(MODELS, json=body_for(f"closed-{worker}-{index}"))
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 201, response.text
            done += 1
            index += 1

    begin = time.perf_counter()
    await asyncio.gather(*(client(worker) for worker in range(concurrency)))
    print(summary(f"POST create, {concurrency} clients", latencies))
    print(f"{'':<34} throughput {done / (time.perf_counter() - begin):6.1f}/s")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nats = EmbeddedNats(
            name="nats", port=free_port(), log_path=root / "nats.log", store_dir=root / "js"
        )
        mongo = EmbeddedMongo(name="mongo", port=free_port(), log_path=root / "mongo.log")
        await nats.astart()
        await mongo.astart()
        inventory = await answer_inventory(nats.url)
        started = time.perf_counter()
        key = await seed_registry(mongo.url, count=args.models)
        print(f"seeded {args.models} models in {time.perf_counter() - started:.1f} s")
        port = free_port()
        env = {
            **os.environ,
            "JAN_MODELS_API_PORT": str(port),
            "JAN_MODELS_NATS_URL": nats.url,
            "JAN_MODELS_MONGODB_URL": mongo.url,
            "JAN_MODELS_LOG_LEVEL": "WARNING",
        }
        log = (root / "api.log").open("wb")
        api = subprocess.Popen(
            [str(Path(sys.executable).parent / "jan-models"), "api"],
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {key}"}
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(
                base_url=base, headers=headers, limits=limits, timeout=10
            ) as http:
                for _ in range(200):
                    try:
                        if (await http.get("/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                await reads(http, count=args.reads, models=args.models)
                await creates_open_loop(http, rate=args.rate, seconds=args.seconds)
                await creates_closed_loop(http, concurrency=args.concurrency, seconds=args.seconds)
        finally:
            api.terminate()
            api.wait(timeout=15)
            log.close()
            await inventory.close()
            await nats.astop()
            await mongo.astop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    asyncio.run(main(parser.parse_args()))
