"""The load generator, run as its own process so it does not share an event loop (or a
GIL) with the servers it measures: `python -m jan_models.bench.loadgen` reads a JSON list
of load specs on stdin, runs them one after the other and prints a JSON list of results.

Every loop is bounded twice, by a request count and by a time limit. Closed loops keep
`concurrency` requests in flight; the create loop is open (requests start on a schedule
at `rate`, at most `max_in_flight` at once) and follows a sample of the new models with
`GET /models/{id}` until they are `running`; the patch loop is the same open loop over
existing models, followed until they run the new generation.

The follower must not become the load it measures: it polls every `poll_interval` at
first, then every `poll_ratio` of the time already waited (up to `poll_max`), so a
figure is late by at most that fraction while a slow run costs tens of GETs per sampled
model instead of hundreds.
"""

import asyncio
import copy
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import aiohttp
import orjson
from pydantic import BaseModel, Field, TypeAdapter

from jan_models.bench.stats import Latency

MODELS_PATH = "/v1/organization/models"


class _Loop(BaseModel):
    concurrency: int = Field(default=1, ge=1)
    requests: int = Field(ge=1)
    warmup: int = Field(default=0, ge=0)
    max_seconds: float = Field(default=30.0, gt=0)


class HttpLoad(_Loop):
    kind: Literal["http"] = "http"
    base_url: str
    paths: list[str] = Field(min_length=1, description="Cycled through in order")
    headers: dict[str, str] = Field(default_factory=dict)
    expected_status: int = Field(default=200, description="What counts as an answer (304 too)")


class NatsLoad(_Loop):
    kind: Literal["nats"] = "nats"
    url: str
    subject: str
    payload: str = ""


class _OpenLoop(BaseModel):
    base_url: str
    headers: dict[str, str] = Field(default_factory=dict)
    rate: float = Field(gt=0)
    max_in_flight: int = Field(default=64, ge=1)
    sample_every: int = Field(default=10, ge=1)
    poll_interval: float = Field(default=0.1, gt=0)
    poll_ratio: float = Field(default=0.05, ge=0)
    poll_max: float = Field(default=1.0, gt=0)
    running_deadline: float = Field(default=60.0, gt=0)
    max_seconds: float = Field(default=120.0, gt=0)


class CreateLoad(_OpenLoop):
    kind: Literal["create"] = "create"
    template: dict[str, Any]
    name_prefix: str
    count: int = Field(ge=1)


class PatchLoad(_OpenLoop):
    """PATCHes of existing models, each followed until it runs `generation`."""

    kind: Literal["patch"] = "patch"
    public_ids: list[str] = Field(min_length=1)
    patch: dict[str, Any]
    generation: int = Field(ge=2)


AnyLoad = HttpLoad | NatsLoad | CreateLoad | PatchLoad
Load = Annotated[AnyLoad, Field(discriminator="kind")]
LOADS = TypeAdapter[list[AnyLoad]](list[Load])


class LoopResult(BaseModel):
    latency: dict[str, Any]
    status_codes: dict[str, int] = Field(default_factory=dict)


class CreateResult(BaseModel):
    post: dict[str, Any]
    to_running: dict[str, Any]
    not_running: int
    status_codes: dict[str, int]
    created: int = 0
    drained_seconds: float | None = None
    """From the first POST until the last followed model (always the last one created) was
    seen running: how long the whole pipeline took to bring every create up."""
    polls: int = 0


Call = Callable[[int], Awaitable[bool]]


async def closed_loop(call: Call, spec: _Loop) -> tuple[Latency, dict[str, int]]:
    """`concurrency` workers share one counter; warm-up calls are not recorded."""
    codes: dict[str, int] = {}

    async def run(total: int, record: list[float] | None, deadline: float) -> int:
        counter = iter(range(total))
        errors = 0

        async def worker() -> None:
            nonlocal errors
            for index in counter:
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                ok = await call(index)
                if record is not None:
                    if ok:
                        record.append(time.perf_counter() - started)
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
        return errors

    if spec.warmup:
        await run(spec.warmup, None, time.monotonic() + spec.max_seconds)
    samples: list[float] = []
    began = time.perf_counter()
    errors = await run(spec.requests, samples, time.monotonic() + spec.max_seconds)
    return Latency.of(samples, errors=errors, elapsed=time.perf_counter() - began), codes


async def http_load(spec: HttpLoad) -> LoopResult:
    codes: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=spec.concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=max(10.0, spec.max_seconds))
    async with aiohttp.ClientSession(
        spec.base_url, headers=spec.headers, connector=connector, timeout=timeout
    ) as session:

        async def call(index: int) -> bool:
            try:
                async with session.get(spec.paths[index % len(spec.paths)]) as response:
                    await response.read()
                    key = str(response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                key = type(exc).__name__
            codes[key] = codes.get(key, 0) + 1
            return key == str(spec.expected_status)

        latency, _ = await closed_loop(call, spec)
    return LoopResult(latency=_dump(latency), status_codes=codes)


async def nats_load(spec: NatsLoad) -> LoopResult:
    import nats

    client = await nats.connect(spec.url, name="bench-loadgen")
    payload = spec.payload.encode()
    codes: dict[str, int] = {}

    async def call(_: int) -> bool:
        try:
            await client.request(spec.subject, payload, timeout=5)
        except Exception as exc:
            codes[type(exc).__name__] = codes.get(type(exc).__name__, 0) + 1
            return False
        return True

    try:
        latency, _ = await closed_loop(call, spec)
    finally:
        await client.close()
    return LoopResult(latency=_dump(latency), status_codes=codes)


def create_body(template: dict[str, Any], name: str) -> dict[str, Any]:
    """The template with its name, and the served model name in the args made to match."""
    body = copy.deepcopy(template)
    old = body["name"]
    body["name"] = name
    body["deployment_config"]["args"] = [
        arg.replace(f"--served-model-name {old}", f"--served-model-name {name}")
        for arg in body["deployment_config"]["args"]
    ]
    return body


async def create_load(spec: CreateLoad) -> CreateResult:
    bodies = [
        orjson.dumps(create_body(spec.template, f"{spec.name_prefix}-{i:05d}"))
        for i in range(spec.count)
    ]

    async def send(session: aiohttp.ClientSession, index: int) -> tuple[str, bytes]:
        async with session.post(MODELS_PATH, data=bodies[index]) as response:
            return str(response.status), await response.read()

    return await _open_loop(spec, send, expected="201", count=spec.count, generation=None)


async def patch_load(spec: PatchLoad) -> CreateResult:
    body = orjson.dumps(spec.patch)

    async def send(session: aiohttp.ClientSession, index: int) -> tuple[str, bytes]:
        path = f"{MODELS_PATH}/{spec.public_ids[index]}"
        headers = {"Content-Type": "application/merge-patch+json"}
        async with session.patch(path, data=body, headers=headers) as response:
            return str(response.status), await response.read()

    count = len(spec.public_ids)
    return await _open_loop(spec, send, expected="200", count=count, generation=spec.generation)


Send = Callable[[aiohttp.ClientSession, int], Awaitable[tuple[str, bytes]]]


async def _open_loop(
    spec: "CreateLoad | PatchLoad", send: Send, *, expected: str, count: int, generation: int | None
) -> CreateResult:
    """Requests on `spec.rate`'s schedule; a sample of the models they name followed until
    `running` (at `generation` when given)."""
    codes: dict[str, int] = {}
    posts: list[float] = []
    to_running: list[float] = []
    not_running = polls = 0
    unfinished = False
    drained: list[float] = []
    gate = asyncio.Semaphore(spec.max_in_flight)
    followers: list[asyncio.Task[None]] = []
    connector = aiohttp.TCPConnector(limit=spec.max_in_flight + 32)
    timeout = aiohttp.ClientTimeout(total=30)
    headers = spec.headers | {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(
        spec.base_url, headers=headers, connector=connector, timeout=timeout
    ) as session:

        def arrived(model: dict[str, Any]) -> bool:
            return model.get("status") == "running" and (
                generation is None or model.get("generation") == generation
            )

        async def follow(public_id: str, sent: float, *, sampled: bool) -> None:
            nonlocal not_running, unfinished, polls
            deadline = sent + spec.running_deadline
            while (now := time.perf_counter()) < deadline:
                polls += 1
                try:
                    async with session.get(f"{MODELS_PATH}/{public_id}") as response:
                        body = await response.read()
                    if arrived(orjson.loads(body).get("model", {})):
                        seen = time.perf_counter()
                        if sampled:
                            to_running.append(seen - sent)
                        drained.append(seen - began)
                        return
                except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError):
                    pass
                waited = now - sent
                await asyncio.sleep(
                    max(spec.poll_interval, min(spec.poll_max, waited * spec.poll_ratio))
                )
            unfinished = True
            not_running += sampled

        async def request(index: int) -> None:
            async with gate:
                sent = time.perf_counter()
                try:
                    key, body = await send(session, index)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    key, body = type(exc).__name__, b""
                codes[key] = codes.get(key, 0) + 1
                if key != expected:
                    return
                posts.append(time.perf_counter() - sent)
                sampled = index % spec.sample_every == 0
                if sampled or index == count - 1:
                    public_id = orjson.loads(body)["model"]["public_id"]
                    followed = follow(public_id, sent, sampled=sampled)
                    followers.append(asyncio.create_task(followed))

        began = time.perf_counter()
        limit = began + spec.max_seconds
        tasks: list[asyncio.Task[None]] = []
        for index in range(count):
            due = began + index / spec.rate
            now = time.perf_counter()
            if now > limit:
                break
            if due > now:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.create_task(request(index)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
        await asyncio.gather(*followers)
    errors = sum(n for code, n in codes.items() if code != expected)
    return CreateResult(
        post=_dump(Latency.of(posts, errors=errors, elapsed=elapsed)),
        to_running=_dump(Latency.of(to_running, elapsed=None)),
        not_running=not_running,
        status_codes=codes,
        created=len(posts),
        drained_seconds=max(drained) if drained and not unfinished else None,
        polls=polls,
    )


def _dump(latency: Latency) -> dict[str, Any]:
    return {
        "n": latency.n,
        "errors": latency.errors,
        "p50_ms": latency.p50_ms,
        "p99_ms": latency.p99_ms,
        "rps": latency.rps,
    }


async def run(spec: AnyLoad) -> BaseModel:
    if isinstance(spec, HttpLoad):
        return await http_load(spec)
    if isinstance(spec, NatsLoad):
        return await nats_load(spec)
    if isinstance(spec, PatchLoad):
        return await patch_load(spec)
    return await create_load(spec)


async def run_all(specs: list[AnyLoad]) -> list[dict[str, Any]]:
    return [(await run(spec)).model_dump(mode="json") for spec in specs]


def main() -> None:
    specs = LOADS.validate_json(sys.stdin.buffer.read())
    sys.stdout.buffer.write(orjson.dumps(asyncio.run(run_all(specs))) + b"\n")


if __name__ == "__main__":
    main()
