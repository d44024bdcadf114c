"""Scenario 5: creates at a fixed open-loop rate through the whole stack.

The load generator POSTs the seed's body (unique names) at `create_rate`, and follows
every tenth new model with `GET /models/{id}` until it reads `running`: the deployer
applies, kubesim (readiness delay 0) schedules and readies the pod, the inventory sees it
and emits `running`, the api's status consumer records it.
"""

import secrets
from pathlib import Path

from jan_models.bench import clusters, runner
from jan_models.bench.environment import bench_stack
from jan_models.bench.loadgen import CreateLoad
from jan_models.bench.report import Check, Row, Run
from jan_models.bench.sizes import Scenario, Sizes

ORGANIZATION_ID = 2
SAMPLE_EVERY = 10


async def run_create(*, sizes: Sizes, run: Run, work: Path) -> None:
    key = f"bench-{secrets.token_hex(16)}"

    async def prepare(mongodb_url: str) -> None:
        await clusters.register_key(mongodb_url, organization_id=ORGANIZATION_ID, key=key)

    scenario = clusters.create_scenario(gpu_nodes=sizes.create_gpu_nodes)
    async with bench_stack(
        work=work, scenario=scenario, start_timeout=sizes.start_timeout, prepare=prepare
    ) as stack:
        # The api answers creates only once the inventory's status is in.
        await runner.wait_http(f"{stack.api_url}/readyz", timeout=sizes.start_timeout)
        spec = CreateLoad(
            base_url=stack.api_url,
            headers={"Authorization": f"Bearer {key}"},
            template=clusters.create_template(),
            name_prefix="create",
            count=sizes.creates,
            rate=sizes.create_rate,
            max_in_flight=64,
            sample_every=SAMPLE_EVERY,
            poll_interval=0.05,
            running_deadline=60.0,
            max_seconds=max(30.0, 3 * sizes.creates / sizes.create_rate),
        )
        result = await runner.load(spec, timeout=spec.max_seconds + spec.running_deadline + 60)
    post, running = result["post"], result["to_running"]
    run.rows += [
        Row(
            scenario=Scenario.CREATE,
            name=f"api POST /models, open loop {sizes.create_rate:.0f}/s",
            n=post["n"],
            errors=post["errors"],
            p50_ms=post["p50_ms"],
            p99_ms=post["p99_ms"],
            rps=post["rps"],
        ),
        Row(
            scenario=Scenario.CREATE,
            name=f"POST -> running (1 in {SAMPLE_EVERY})",
            n=running["n"],
            errors=result["not_running"],
            p50_ms=running["p50_ms"],
            p99_ms=running["p99_ms"],
        ),
    ]
    if any(code != "201" for code in result["status_codes"]):
        run.notes.append(f"create status codes: {result['status_codes']}")
    rate, p99 = post["rps"] or 0, post["p99_ms"]
    run.checks += [
        Check(
            scenario=Scenario.CREATE,
            target=">= 200 creates/s sustained with POST p99 under 50 ms",
            measured=f"{rate:.0f}/s, p99 {p99 or 0:.1f} ms, {post['errors']} errors",
            met=rate >= 200 and p99 is not None and p99 < 50 and post["errors"] == 0,
        ),
        Check(
            scenario=Scenario.CREATE,
            target="POST to running p50 under 1 s",
            measured=f"p50 {running['p50_ms'] or 0:.0f} ms, {result['not_running']} never running",
            met=running["p50_ms"] is not None
            and running["p50_ms"] < 1000
            and result["not_running"] == 0,
        ),
    ]
