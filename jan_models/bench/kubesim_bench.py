"""Seed kubesim with 5,000 nodes and 10,000 Deployments and time the hot API paths.

Run: .venv/bin/python -m jan_models.bench.kubesim_bench [--nodes 5000] [--deployments 10000]
     [--data-dir DIR]
Prints the seeding time, the wall and CPU time the controllers take to reach steady state and, over HTTP with aiohttp, how long a full node list, a full
all-namespaces Deployment list and the start of a Deployment watch (initial ADDED events
until the first live event) take.

With `--data-dir` (an empty or absent directory) kubesim keeps the cluster there, so the
same figures show what its journal costs; then a second simulator takes the cluster up
from the directory and the restart is timed (recovery, then the controllers' resume,
which should write nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from kubesim import GenerateSpec, KubeSim, Scenario


def _deployment(i: int) -> dict[str, Any]:
    name = f"model-{i:05d}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": f"ns-{i % 20:02d}",
            "labels": {"model.aibrix.ai/name": name},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "vllm-openai",
                            "image": "vllm/vllm-openai:v0.9.0",
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        }
                    ]
                },
            },
        },
    }


async def _timed_get(session: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    start = time.perf_counter()
    async with session.get(url) as resp:
        body = await resp.read()
    return time.perf_counter() - start, len(orjson.loads(body)["items"])


async def main(nodes: int, deployments: int, data_dir: Path | None) -> None:
    scenario = Scenario(
        namespaces=["default", *(f"ns-{i:02d}" for i in range(20))],
        generate=GenerateSpec(count=nodes),
    )
    t0 = time.perf_counter()
    sim = KubeSim(scenario, ready_delay=0, history_size=10_000, data_dir=data_dir)
    t1 = time.perf_counter()
    sim.store.create_many(_deployment(i) for i in range(deployments))
    t2, c2 = time.perf_counter(), time.process_time()
    sim.settle()
    t3, c3 = time.perf_counter(), time.process_time()
    print(
        f"seed {nodes} nodes: {t1 - t0:.2f}s; {deployments} deployments: {t2 - t1:.2f}s; "
        f"controllers to steady state ({sim.storage.count('/pods')} pods, "
        f"{sim.storage.count('apps/replicasets')} replicasets, {sim.storage.count('/events')} events): "
        f"{t3 - t2:.2f}s wall, {c3 - c2:.2f}s CPU"
    )
    async with sim.serve() as running, aiohttp.ClientSession() as session:
        for label, path in (
            ("list nodes", "/api/v1/nodes"),
            ("list deployments -A", "/apis/apps/v1/deployments"),
            ("list pods -A", "/api/v1/pods"),
        ):
            times = []
            for _ in range(3):
                elapsed, count = await _timed_get(session, running.url + path)
                times.append(elapsed)
            print(
                f"{label:22s} {count:6d} items  best {min(times) * 1000:7.1f} ms  worst {max(times) * 1000:7.1f} ms"
            )
        start = time.perf_counter()
        async with session.get(
            running.url + "/apis/apps/v1/deployments?watch=true&timeoutSeconds=30"
        ) as resp:
            for _ in range(deployments):
                await resp.content.readline()
            initial = time.perf_counter() - start
            sim.store.create(_deployment(deployments))
            line = orjson.loads(await resp.content.readline())
            live = time.perf_counter() - start
        print(
            f"watch start: {deployments} initial ADDED events in {initial * 1000:.1f} ms; first live event ({line['type']}) at {live * 1000:.1f} ms"
        )
        rv = sim.storage.revision
        start = time.perf_counter()
        async with session.get(
            running.url + f"/api/v1/nodes?watch=true&resourceVersion={rv}&timeoutSeconds=1"
        ) as resp:
            await resp.read()
        print(
            f"watch from a recent resourceVersion (empty, 1 s timeout): {(time.perf_counter() - start) * 1000:.1f} ms"
        )
    if data_dir is not None:
        _restart(scenario, data_dir, revision=sim.storage.revision)


def _restart(scenario: Scenario, data_dir: Path, *, revision: int) -> None:
    """Take the cluster up from `data_dir` again and run the controllers once."""
    size = sum(f.stat().st_size for f in data_dir.iterdir()) / 1024**2
    start = time.perf_counter()
    sim = KubeSim(scenario, ready_delay=0, history_size=10_000, data_dir=data_dir)
    recovered = time.perf_counter() - start
    start = time.perf_counter()
    sim.settle()
    resumed = time.perf_counter() - start
    objects = sum(1 for _ in sim.storage.items())
    print(
        f"restart from {size:.0f} MiB: {objects} objects at revision {sim.storage.revision} "
        f"(was {revision}) in {recovered:.2f}s; controllers resumed in {resumed:.2f}s, "
        f"{sim.storage.revision - revision} writes"
    )
    sim.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--deployments", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    asyncio.run(main(args.nodes, args.deployments, args.data_dir))
