"""Scenario 5: creates through the whole stack, in two phases.

The load generator POSTs the seed's body (unique names) on an open-loop schedule and
follows every tenth new model (and the last one) with `GET /models/{id}` until it reads
`running`: the deployer applies, kubesim (readiness delay 0) schedules and readies the
pod, the inventory sees it and emits `running`, the api's status consumer records it.

1. At the target rate (`create_rate`): how fast the api accepts creates (POST p50/p99,
   creates/s), and how fast the pipeline behind it brings them all to `running` (creates
   over the time until the last one was seen running).
2. At a rate the pipeline should sustain (`SUSTAINED_SHARE` of what phase 1 drained,
   never above the target): POST -> running as a client sees it when no backlog builds
   up. Measuring end-to-end latency at a rate the pipeline cannot sustain would only
   measure the length of the queue. A backlog drains faster per create than a trickle
   (bigger batches), and the registry is larger by then, so the share is well below 1;
   phase 2's own drain rate is reported, so a rate that did not hold shows.
"""

import math
import os
import secrets
from pathlib import Path
from typing import Any, Final

from jan_models.bench import clusters, runner
from jan_models.bench.environment import bench_stack
from jan_models.bench.loadgen import CreateLoad
from jan_models.bench.report import Check, Row, Run
from jan_models.bench.sizes import Scenario, Sizes

ORGANIZATION_ID = 2
SAMPLE_EVERY = 10
SUSTAINED_SHARE: Final = 0.6
PHASES: Final = 2


def _load(api_url: str, key: str, *, prefix: str, count: int, rate: float) -> CreateLoad:
    return CreateLoad(
        base_url=api_url,
        headers={"Authorization": f"Bearer {key}"},
        template=clusters.create_template(),
        name_prefix=prefix,
        count=count,
        rate=rate,
        max_in_flight=64,
        sample_every=SAMPLE_EVERY,
        poll_interval=0.05,
        running_deadline=60.0,
        max_seconds=max(30.0, 3 * count / rate),
    )


async def _run(load: CreateLoad) -> dict[str, Any]:
    return await runner.load(load, timeout=load.max_seconds + load.running_deadline + 60)


def drain_rate(result: dict[str, Any]) -> float | None:
    """Creates brought to running per second: every 201 over the time to the last one."""
    drained = result.get("drained_seconds")
    return result["created"] / drained if drained else None


#: how many deployer processes the create scenario runs (`JAN_MODELS_BENCH_DEPLOYERS`, 1
#: by default): the same scenario compares one deployer with several sharing the stream
DEPLOYERS_ENV = "JAN_MODELS_BENCH_DEPLOYERS"


async def run_create(*, sizes: Sizes, run: Run, work: Path) -> None:
    key = f"bench-{secrets.token_hex(16)}"
    deployers = max(1, int(os.environ.get(DEPLOYERS_ENV, "1")))

    async def prepare(mongodb_url: str) -> None:
        await clusters.register_key(mongodb_url, organization_id=ORGANIZATION_ID, key=key)

    # Both phases' models hold their GPU until the stack stops; `create_gpu_nodes` fits
    # one phase (the generated nodes' CPU and memory, not their 8 GPUs, bound how many
    # pods each takes), with a quarter to spare for the mix of node sizes.
    gpu_nodes = math.ceil(sizes.create_gpu_nodes * PHASES * 1.25)
    scenario = clusters.create_scenario(gpu_nodes=gpu_nodes)
    async with bench_stack(
        work=work,
        scenario=scenario,
        start_timeout=sizes.start_timeout,
        prepare=prepare,
        replicas={"deployer": deployers},
    ) as stack:
        # The api answers creates only once the inventory's status is in.
        await runner.wait_http(f"{stack.api_url}/readyz", timeout=sizes.start_timeout)
        target = sizes.create_rate
        burst = await _run(
            _load(stack.api_url, key, prefix="create", count=sizes.creates, rate=target)
        )
        pipeline = drain_rate(burst)
        sustained = min(target, SUSTAINED_SHARE * pipeline) if pipeline else target / 10
        steady = await _run(
            _load(stack.api_url, key, prefix="steady", count=sizes.creates, rate=sustained)
        )
    _report(run, target=target, sustained=sustained, burst=burst, steady=steady)
    if deployers > 1:
        run.notes.append(f"create: {deployers} deployer replicas ({DEPLOYERS_ENV})")


def _post_row(name: str, post: dict[str, Any]) -> Row:
    return Row.of_latency(Scenario.CREATE, name, post)


def _drain_row(name: str, phase: dict[str, Any]) -> Row:
    return Row(
        scenario=Scenario.CREATE,
        name=name,
        n=phase["created"],
        errors=phase["not_running"],
        value=drain_rate(phase),
        unit="/s",
    )


def _report(
    run: Run, *, target: float, sustained: float, burst: dict[str, Any], steady: dict[str, Any]
) -> None:
    pipeline = drain_rate(burst)
    post, steady_post, running = burst["post"], steady["post"], steady["to_running"]
    run.rows += [
        _post_row(f"api POST /models at the target, open loop {target:.0f}/s", post),
        _drain_row(f"creates brought to running per second after {target:.0f}/s", burst),
        _post_row(f"api POST /models at a sustained {sustained:.0f}/s", steady_post),
        _drain_row(f"creates brought to running per second at {sustained:.0f}/s", steady),
        Row.of_running(
            Scenario.CREATE, f"POST -> running at {sustained:.0f}/s (1 in {SAMPLE_EVERY})", steady
        ),
    ]
    for phase, result in (("target", burst), ("sustained", steady)):
        if any(code != "201" for code in result["status_codes"]):
            run.notes.append(f"create status codes at the {phase} rate: {result['status_codes']}")
    run.notes.append(
        f"create: GET polls by the follower: {burst['polls']} at {target:.0f}/s, "
        f"{steady['polls']} at {sustained:.0f}/s"
    )
    rate, p99 = post["rps"] or 0, post["p99_ms"]
    run.checks += [
        Check(
            scenario=Scenario.CREATE,
            target=">= 200 creates/s sustained with POST p99 under 50 ms",
            measured=f"POST {rate:.0f}/s, p99 {p99 or 0:.1f} ms, {post['errors']} errors; "
            f"running {pipeline or 0:.0f}/s",
            met=rate >= 200
            and p99 is not None
            and p99 < 50
            and post["errors"] == 0
            and pipeline is not None
            and pipeline >= 200,
        ),
        Check(
            scenario=Scenario.CREATE,
            target="POST to running p50 under 1 s",
            measured=f"p50 {running['p50_ms'] or 0:.0f} ms at {sustained:.0f}/s, "
            f"{steady['not_running']} never running",
            met=running["p50_ms"] is not None
            and running["p50_ms"] < 1000
            and steady["not_running"] == 0,
        ),
    ]
