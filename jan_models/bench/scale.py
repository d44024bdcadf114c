"""Scenario 6: the inventory at 5,000 nodes and 10,000 Deployments, inside the whole stack.

- cold start: the inventory is killed, its projections dropped, and started again:
  seconds to `/readyz` (every watch listed and synced) and until the workloads
  projection holds every Deployment;
- lag: a Deployment is PATCHed every 1/`lag_rate` s for `lag_seconds`; a change stream on
  `inventory_workloads` sees each new resourceVersion arrive; lag = arrival - PATCH sent;
- queries: p50/p99 of `inventory.query.status` and of the first `inventory.query.models`
  page, asked straight over NATS at that size;
- scrape: p50/p99 and size of the inventory's `/metrics` at that size (every gauge is
  collected from the in-memory view when asked);
- resident memory of every process at that size.
"""

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from pymongo import AsyncMongoClient

from jan_models.bench import clusters, runner
from jan_models.bench.environment import bench_stack
from jan_models.bench.machine import rss_mib
from jan_models.bench.report import Check, Row, Run
from jan_models.bench.sizes import Scenario, Sizes
from jan_models.bench.stats import Latency
from jan_models.stack import LocalStack
from shared import messaging
from shared.names import (
    DEFAULT_DATABASE,
    MODELS_QUERY_SUBJECT,
    STATUS_QUERY_SUBJECT,
    Collection,
)

# What a cold start drops: everything the inventory keeps but `inventory_sync` (which
# names the killed writer's session, so the new one can abort what it left open).
INVENTORY_COLLECTIONS = tuple(
    c for c in Collection if c.value.startswith("inventory_") and c is not Collection.INVENTORY_SYNC
)
QUERIES = ((STATUS_QUERY_SUBJECT, "status"), (MODELS_QUERY_SUBJECT, "models, first page"))
QUERY_COUNT = 200
SCRAPE_COUNT = 20
SCRAPE_TARGET_MS = 200
SCRAPE_TARGET_BYTES = 5_000_000


async def cold_start(stack: LocalStack, db: Any, *, sizes: Sizes) -> tuple[float, float]:
    inventory = stack.services["inventory"]
    inventory.kill()
    for name in INVENTORY_COLLECTIONS:
        await db.drop_collection(name)
    started = time.monotonic()
    inventory.start()
    await asyncio.to_thread(inventory.wait_ready, timeout=sizes.start_timeout)
    ready = time.monotonic() - started
    workloads = db[Collection.INVENTORY_WORKLOADS]
    deadline = started + sizes.start_timeout
    while await workloads.count_documents({}) < sizes.scale_deployments:
        if time.monotonic() > deadline:
            raise runner.BenchError("the workloads projection was not complete in time")
        await asyncio.sleep(0.1)
    return ready, time.monotonic() - started


async def lag(
    stack: LocalStack, db: Any, *, sizes: Sizes, rate: float
) -> tuple[Latency, float, int]:
    """Lags (seconds), the achieved change rate, and how many changes were sent."""
    sent: dict[tuple[str, str], float] = {}
    lags: list[float] = []
    stream = await db[Collection.INVENTORY_WORKLOADS].watch()

    async def collect() -> None:
        async for change in stream:
            fields = (
                (change.get("updateDescription") or {}).get("updatedFields")
                or change.get("fullDocument")
                or {}
            )
            key = (str(change["documentKey"]["_id"]), str(fields.get("resource_version")))
            at = sent.pop(key, None)
            if at is not None:
                lags.append(time.monotonic() - at)

    collector = asyncio.create_task(collect())
    total = int(rate * sizes.lag_seconds)
    async with aiohttp.ClientSession(
        stack.kubesim_url, headers={"Content-Type": "application/merge-patch+json"}
    ) as session:

        async def patch(index: int) -> None:
            name = clusters.model_name(index % sizes.scale_deployments + 1)
            began = time.monotonic()
            async with session.patch(
                f"/apis/apps/v1/namespaces/default/deployments/{name}",
                data=orjson.dumps({"metadata": {"annotations": {"bench/i": str(index)}}}),
            ) as response:
                body = await response.json()
            sent[(f"default/{name}", body["metadata"]["resourceVersion"])] = began

        begin = time.monotonic()
        patches = []
        for index in range(total):
            delay = begin + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            patches.append(asyncio.create_task(patch(index)))
        await asyncio.gather(*patches)
        achieved = total / (time.monotonic() - begin)
    deadline = time.monotonic() + 10
    while sent and time.monotonic() < deadline:  # noqa: ASYNC110 - a poll with a deadline
        await asyncio.sleep(0.05)
    collector.cancel()
    await stream.close()
    return Latency.of(lags, errors=len(sent), elapsed=None), achieved, total


async def queries(stack: LocalStack) -> list[tuple[str, Latency, int]]:
    """Each query's latency over NATS, and the size of its reply in bytes."""
    nats = await messaging.connect(stack.nats_url, name="bench")
    measured = []
    try:
        for subject, label in QUERIES:
            samples: list[float] = []
            size = 0
            for _ in range(QUERY_COUNT):
                began = time.perf_counter()
                reply = await nats.request(subject, b"{}", timeout=10)
                samples.append(time.perf_counter() - began)
                size = len(reply.data)
            measured.append((label, Latency.of(samples, elapsed=None), size))
    finally:
        await nats.close()
    return measured


async def scrapes(stack: LocalStack) -> tuple[Latency, int]:
    """The inventory's `/metrics`, as Prometheus asks for it: latency and bytes."""
    samples: list[float] = []
    size = 0
    async with aiohttp.ClientSession() as session:
        for _ in range(SCRAPE_COUNT):
            began = time.perf_counter()
            async with session.get(stack.metrics_urls["inventory"]) as response:
                body = await response.read()
            samples.append(time.perf_counter() - began)
            size = len(body)
    return Latency.of(samples, elapsed=None), size


def _memory(stack: LocalStack) -> dict[str, float | None]:
    processes: dict[str, Any] = {name: svc.process for name, svc in stack.services.items()}
    if stack.kubesim is not None:
        processes["kubesim"] = stack.kubesim.process
    return {name: rss_mib(p.pid) if p is not None else None for name, p in processes.items()}


def _latency_row(name: str, latency: Latency) -> Row:
    return Row(
        Scenario.INVENTORY,
        name,
        n=latency.n,
        errors=latency.errors,
        p50_ms=latency.p50_ms,
        p99_ms=latency.p99_ms,
    )


async def run_scale(*, sizes: Sizes, run: Run, work: Path) -> None:
    scenario = clusters.scale_scenario(nodes=sizes.scale_nodes, deployments=sizes.scale_deployments)
    async with bench_stack(
        work=work, scenario=scenario, start_timeout=sizes.start_timeout
    ) as stack:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_url)
        try:
            db = client[DEFAULT_DATABASE]
            ready, complete = await cold_start(stack, db, sizes=sizes)
            # The gentler rate first, so it does not inherit a backlog.
            gentle = await lag(stack, db, sizes=sizes, rate=sizes.lag_rate / 4)
            lags, achieved, total = await lag(stack, db, sizes=sizes, rate=sizes.lag_rate)
            answers = await queries(stack)
            scrape, scrape_bytes = await scrapes(stack)
            memory = _memory(stack)
        finally:
            await client.close()
    label = f"{sizes.scale_nodes:,} nodes, {sizes.scale_deployments:,} Deployments"
    run.rows += [
        Row(Scenario.INVENTORY, f"inventory ready ({label})", value=ready, unit="s"),
        Row(
            Scenario.INVENTORY, "inventory workloads projection complete", value=complete, unit="s"
        ),
        _latency_row(f"event -> projection lag at {gentle[1]:.0f} changes/s", gentle[0]),
        _latency_row(f"event -> projection lag at {achieved:.0f} changes/s", lags),
        *(
            _latency_row(f"inventory.query {label} ({size / 1024:.0f} KiB reply)", latency)
            for label, latency, size in answers
        ),
        _latency_row(f"inventory /metrics scrape {label} ({scrape_bytes / 1e6:.1f} MB)", scrape),
        *(
            Row(Scenario.INVENTORY, f"{name} resident memory", value=mib, unit="MiB")
            for name, mib in memory.items()
        ),
    ]
    run.checks += [
        Check(Scenario.INVENTORY, "ready in under 30 s", f"{ready:.1f} s", ready < 30),
        Check(
            Scenario.INVENTORY,
            "lag p99 under 250 ms at 200 changes/s",
            f"p99 {lags.p99_ms or 0:.0f} ms at {achieved:.0f}/s, {lags.errors}/{total} unseen",
            lags.p99_ms is not None and lags.p99_ms < 250 and lags.errors == 0,
        ),
        Check(
            Scenario.INVENTORY,
            f"/metrics scrape under {SCRAPE_TARGET_MS} ms and {SCRAPE_TARGET_BYTES / 1e6:.0f} MB",
            f"p99 {scrape.p99_ms or 0:.0f} ms, {scrape_bytes / 1e6:.1f} MB",
            scrape.p99_ms is not None
            and scrape.p99_ms < SCRAPE_TARGET_MS
            and scrape_bytes < SCRAPE_TARGET_BYTES,
        ),
        Check(
            Scenario.INVENTORY,
            "every service under 500 MB resident",
            ", ".join(f"{n} {m:.0f} MiB" for n, m in memory.items() if m is not None),
            all(m is not None and m * 2**20 < 500e6 for n, m in memory.items() if n != "kubesim"),
        ),
    ]
