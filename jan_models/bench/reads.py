"""Scenarios 1-4 on one cluster and one registry, side by side in one run.

The api answers `/status` and `/all` from the inventory's projections over NATS and the
registry reads from MongoDB; the direct baseline lists from the API server on every
request; the floors are a bare FastAPI endpoint and a raw NATS round trip. Each path is
measured twice: one request at a time (latency) and `concurrency` at a time (throughput).
"""

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from jan_models.bench import clusters, runner
from jan_models.bench.direct import ECHO_SUBJECT, FLOOR_PATH, PREFIX
from jan_models.bench.environment import bench_stack
from jan_models.bench.loadgen import HttpLoad, NatsLoad
from jan_models.bench.report import HTTP_FLOOR, Check, Row, Run
from jan_models.bench.sizes import Scenario, Sizes
from jan_models.stack import LocalStack
from shared import messaging
from shared.commands import ModelRef
from shared.events import ModelScaled, ScaledData

ORGANIZATION_ID = 1
NATS_FLOOR = "nats request-reply floor"


def _row(scenario: str, name: str, result: dict[str, Any], *, http_read: bool) -> Row:
    return Row.of_latency(scenario, name, result["latency"], http_read=http_read)


class ReadBench:
    def __init__(self, *, sizes: Sizes, run: Run, api_url: str, direct_url: str, key: str):
        self.sizes = sizes
        self.run = run
        self.api_url = api_url
        self.direct_url = direct_url
        self.headers = {"Authorization": f"Bearer {key}"}

    def _http(
        self,
        base_url: str,
        paths: list[str],
        *,
        concurrency: int,
        requests: int,
        headers: dict[str, str] | None = None,
        expected_status: int = 200,
    ) -> HttpLoad:
        return HttpLoad(
            base_url=base_url,
            paths=paths,
            headers={**self.headers, **(headers or {})},
            expected_status=expected_status,
            concurrency=concurrency,
            requests=requests,
            warmup=max(2, min(100, requests // 10)),
            max_seconds=self.sizes.loop_seconds,
        )

    async def measure(
        self, scenario: Scenario, name: str, base_url: str, paths: list[str], *, slow: bool = False
    ) -> tuple[Row, Row]:
        """The latency row (one at a time) and the throughput row (`concurrency` at a time)."""
        sizes = self.sizes
        latency, throughput = await runner.load_many(
            [
                self._http(
                    base_url,
                    paths,
                    concurrency=1,
                    requests=sizes.slow_latency if slow else sizes.fast_latency,
                ),
                self._http(
                    base_url,
                    paths,
                    concurrency=sizes.concurrency,
                    requests=sizes.slow_throughput if slow else sizes.fast_throughput,
                ),
            ],
            timeout=6 * sizes.loop_seconds + 60,
        )
        rows = (
            _row(scenario, name, latency, http_read=True),
            _row(scenario, f"{name} x{sizes.concurrency}", throughput, http_read=False),
        )
        self.run.rows.extend(rows)
        return rows

    async def floors(self, nats_url: str) -> None:
        await self.measure(Scenario.FLOORS, HTTP_FLOOR, self.direct_url, [FLOOR_PATH])
        specs = [
            NatsLoad(
                url=nats_url,
                subject=ECHO_SUBJECT,
                concurrency=concurrency,
                requests=requests,
                warmup=100,
                max_seconds=self.sizes.loop_seconds,
            )
            for concurrency, requests in (
                (1, self.sizes.fast_latency),
                (self.sizes.concurrency, self.sizes.fast_throughput),
            )
        ]
        latency, throughput = await runner.load_many(
            specs, timeout=6 * self.sizes.loop_seconds + 60
        )
        self.run.rows += [
            _row(Scenario.FLOORS, NATS_FLOOR, latency, http_read=False),
            _row(
                Scenario.FLOORS,
                f"{NATS_FLOOR} x{self.sizes.concurrency}",
                throughput,
                http_read=False,
            ),
        ]

    async def side_by_side(self, scenario: Scenario, path: str, label: str) -> None:
        api = await self.measure(scenario, f"api GET {label}", self.api_url, [path])
        direct = await self.measure(
            scenario, f"direct GET {label}", self.direct_url, [path], slow=True
        )
        # The floor for an answer this big: what moving the bytes alone costs.
        size = await self._body_size(path)
        sized, _ = await self.measure(
            scenario,
            f"{HTTP_FLOOR}, same {size / 1024:,.0f} KiB body",
            self.direct_url,
            [f"{FLOOR_PATH}/{size}"],
        )
        self._compare(scenario, label, api, direct, sized)

    async def on_the_wire(self, scenario: Scenario, path: str, label: str) -> None:
        """`label` as a gateway sees it, side by side: gzip (bytes on the wire), identity,
        and a revalidation that answers 304 to the `ETag` the body came with."""
        async with aiohttp.ClientSession(
            self.api_url, headers=self.headers, auto_decompress=False
        ) as session:
            sizes = {}
            for encoding in ("gzip", "identity"):
                async with session.get(path, headers={"Accept-Encoding": encoding}) as answer:
                    sizes[encoding] = len(await answer.read())
                    etag = answer.headers["ETag"]
        ways = (
            ("gzip", {"Accept-Encoding": "gzip"}, 200),
            ("identity", {"Accept-Encoding": "identity"}, 200),
            ("If-None-Match -> 304", {"If-None-Match": etag}, 304),
        )
        results = await runner.load_many(
            [
                self._http(
                    self.api_url,
                    [path],
                    concurrency=1,
                    requests=self.sizes.fast_latency,
                    headers=extra,
                    expected_status=expected,
                )
                for _, extra, expected in ways
            ],
            timeout=4 * self.sizes.loop_seconds + 60,
        )
        for (way, _, _), result in zip(ways, results, strict=True):
            self.run.rows.append(_row(scenario, f"api GET {label}, {way}", result, http_read=True))
        wire = f"api GET {label}, %s: bytes on the wire"
        self.run.rows += [
            Row(scenario=scenario, name=wire % encoding, value=size, unit="B")
            for encoding, size in sizes.items()
        ]

    async def _body_size(self, path: str) -> int:
        async with (
            aiohttp.ClientSession(self.api_url, headers=self.headers) as session,
            session.get(path) as response,
        ):
            return len(await response.read())

    def _compare(
        self,
        scenario: Scenario,
        label: str,
        api: tuple[Row, Row],
        direct: tuple[Row, Row],
        sized: Row,
    ) -> None:
        ratio = (api[1].rps or 0) / direct[1].rps if direct[1].rps else None
        self.run.rows.append(
            Row(
                scenario=scenario,
                name=f"throughput api / direct {label}",
                value=ratio,
                unit="x",
            )
        )
        self.run.checks.append(
            Check(
                scenario=scenario,
                target=f"{label}: >= 20x the direct baseline's throughput",
                measured="-" if ratio is None else f"{ratio:.1f}x",
                met=ratio is not None and ratio >= 20,
            )
        )
        floor = self.run.floor_p50_ms()
        p50 = api[0].p50_ms
        x_floor = p50 / floor if floor and p50 else None
        x_sized = p50 / sized.p50_ms if sized.p50_ms and p50 else None
        measured = "-" if x_floor is None else f"{x_floor:.1f}x ({p50:.2f} ms)"
        if x_sized is not None:
            measured += f"; {x_sized:.1f}x the floor for a same-size body ({sized.p50_ms:.2f} ms)"
        self.run.checks.append(
            Check(
                scenario=scenario,
                target=f"{label}: p50 within 3x of the HTTP floor",
                measured=measured,
                met=x_floor is not None and x_floor <= 3,
            )
        )

    async def registry(self) -> None:
        rng = random.Random(8)  # noqa: S311 - reproducible request mix
        count = self.sizes.registry
        pages = [
            f"{PREFIX}?limit=100&offset={rng.randrange(0, max(1, count - 100))}" for _ in range(500)
        ]
        ids = [f"{PREFIX}/{clusters.public_id(rng.randint(1, count))}" for _ in range(500)]
        # Filters, each answered over the whole organization (the seeded models all
        # match the first three: the most a filter can scan), at random pages.
        filters = [
            "status=creating",
            "tag=coding&tag=completion",
            "model_type=completion&is_public=false",
            f"q={clusters.model_name(rng.randint(1, count))[:-1]}",
        ]
        filtered = [
            f"{PREFIX}?{rng.choice(filters)}&limit=100&offset={rng.randrange(0, max(1, count - 100))}"
            for _ in range(500)
        ]
        for name, paths in (
            ("api GET /models?limit=100", pages),
            ("api GET /models/{id}", ids),
            ("api GET /models?<filters>&limit=100", filtered),
        ):
            await self._within(name, paths, ms=10, scale=f"{count:,} models")

    async def _within(self, name: str, paths: list[str], *, ms: float, scale: str) -> None:
        latency, _ = await self.measure(Scenario.REGISTRY, name, self.api_url, paths)
        p99 = latency.p99_ms
        self.run.checks.append(
            Check(
                scenario=Scenario.REGISTRY,
                target=f"{name.removeprefix('api ')}: p99 under {ms:g} ms with {scale}",
                measured="-" if p99 is None else f"p99 {p99:.2f} ms",
                met=p99 is not None and p99 < ms and latency.errors == 0,
            )
        )

    async def history(self, nats_url: str) -> None:
        """`/models/{id}/events` of a model with `events` events in MODEL_EVENTS, among
        the events of no other model: the first page and pages after random sequences."""
        events = self.sizes.history_events
        sequences = await publish_history(nats_url, index=1, events=events)
        base = f"{PREFIX}/{clusters.public_id(1)}/events?limit=100"
        rng = random.Random(9)  # noqa: S311 - reproducible request mix
        paths = [base] + [f"{base}&after={rng.choice(sequences)}" for _ in range(499)]
        await self._within(
            "api GET /models/{id}/events?limit=100", paths, ms=20, scale=f"{events:,} events"
        )


async def publish_history(nats_url: str, *, index: int, events: int) -> list[int]:
    """`events` scaled events of the seeded model `index`, as the inventory publishes
    them; their stream sequences."""
    nc = await messaging.connect(nats_url, name="jan-models-bench")
    try:
        js = nc.jetstream()
        ref = ModelRef(
            organization_id=ORGANIZATION_ID,
            model_id=index,
            public_id=clusters.public_id(index),
            name=clusters.model_name(index),
            generation=1,
        )
        sequences = []
        for n in range(events):
            data = ScaledData(
                **ref.model_dump(), replicas=n % 3 + 1, ready_replicas=0, previous_replicas=1
            )
            ack = await messaging.publish_event(
                js, ModelScaled.of(data, source="/jan-models/bench")
            )
            sequences.append(ack.seq)
        return sequences
    finally:
        await nc.close()


async def wait_all_observed(api_url: str, headers: dict[str, str], *, sizes: Sizes) -> None:
    """Until `/all` lists every Deployment and every managed one is Running, so the
    inventory has settled before anything is measured."""
    deadline = time.monotonic() + sizes.start_timeout
    async with aiohttp.ClientSession(
        api_url, headers=headers, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{PREFIX}/all") as response:
                    body = await response.json() if response.status == 200 else None
            except (aiohttp.ClientError, TimeoutError):
                body = None
            if body is not None:
                running = sum(1 for m in body["models"] if m["status"] == "Running")
                if body["total"] >= sizes.deployments and running >= sizes.managed:
                    return
            await asyncio.sleep(1)
    raise runner.BenchError("the inventory did not observe the whole cluster in time")


@asynccontextmanager
async def reads_stack(*, sizes: Sizes, work: Path, key: str) -> AsyncIterator[LocalStack]:
    """The reads cluster and a registry of `sizes.registry` models, `key` the organization's,
    once the inventory has observed the whole cluster."""

    async def prepare(mongodb_url: str) -> None:
        await clusters.seed_registry(
            mongodb_url, organization_id=ORGANIZATION_ID, count=sizes.registry
        )
        await clusters.register_key(mongodb_url, organization_id=ORGANIZATION_ID, key=key)

    scenario = clusters.reads_scenario(
        nodes=sizes.nodes,
        gpu_share=sizes.gpu_share,
        deployments=sizes.deployments,
        managed=sizes.managed,
        organization_id=ORGANIZATION_ID,
    )
    async with bench_stack(
        work=work, scenario=scenario, start_timeout=sizes.start_timeout, prepare=prepare
    ) as stack:
        await wait_all_observed(stack.api_url, {"Authorization": f"Bearer {key}"}, sizes=sizes)
        yield stack


async def run_reads(*, sizes: Sizes, run: Run, work: Path, scenarios: frozenset[Scenario]) -> None:
    key = f"bench-{secrets.token_hex(16)}"
    async with (
        reads_stack(sizes=sizes, work=work, key=key) as stack,
        runner.DirectBaseline(
            kubeconfig=stack.kubeconfig_path,
            nats_url=stack.nats_url,
            organization_id=ORGANIZATION_ID,
            log=work / "logs" / "direct.log",
        ) as direct,
    ):
        bench = ReadBench(
            sizes=sizes, run=run, api_url=stack.api_url, direct_url=direct.url, key=key
        )
        await bench.floors(stack.nats_url)
        if Scenario.STATUS in scenarios:
            await bench.side_by_side(Scenario.STATUS, f"{PREFIX}/status", "/status")
        if Scenario.ALL in scenarios:
            await bench.side_by_side(Scenario.ALL, f"{PREFIX}/all", "/all")
            await bench.on_the_wire(Scenario.ALL, f"{PREFIX}/all", "/all")
        if Scenario.REGISTRY in scenarios:
            await bench.registry()
            await bench.history(stack.nats_url)
