"""Scenario `day-two`: changing models costs what creating them does.

One stack, kubesim readying pods at once (readiness delay 0) and letting a deleted pod's
containers exit after `TERMINATION_SECONDS`, its bench setting beside that delay (the
simulator's own default, 1 s, would measure kubesim's clock, not jan-models: a Recreate
rollout waits for the old pods to be gone before it starts the new ones).

1. POST `models` models at `day_two_rate`, every one followed to `running`.
2. PATCH each of them (a new image, so the pods roll under Recreate) at the same rate,
   every one followed until it runs generation 2.

Rows: POST and PATCH p50/p99, POST -> running and PATCH -> running (new generation) p50;
checks: each PATCH figure within 1.5x of its POST counterpart.
"""

import math
import secrets
from pathlib import Path
from typing import Any, Final

import aiohttp

from jan_models.bench import clusters, runner
from jan_models.bench.environment import bench_stack
from jan_models.bench.loadgen import MODELS_PATH, CreateLoad, PatchLoad
from jan_models.bench.report import Check, Row, Run
from jan_models.bench.sizes import Scenario, Sizes

ORGANIZATION_ID = 3
TERMINATION_SECONDS: Final = 0.0
"""kubesim's pod termination at the bench: the same as its readiness delay."""
NEW_IMAGE: Final = "registry.menlo.ai/dockerhub/vllm/vllm-openai:v0.11.0"
RATIO: Final = 1.5
PREFIX: Final = "daytwo"


async def run_day_two(*, sizes: Sizes, run: Run, work: Path) -> None:
    key = f"bench-{secrets.token_hex(16)}"

    async def prepare(mongodb_url: str) -> None:
        await clusters.register_key(mongodb_url, organization_id=ORGANIZATION_ID, key=key)

    scenario = clusters.create_scenario(gpu_nodes=max(2, math.ceil(sizes.day_two_models / 4)))
    scenario["pod_termination_seconds"] = TERMINATION_SECONDS
    headers = {"Authorization": f"Bearer {key}"}
    rate, count = sizes.day_two_rate, sizes.day_two_models
    limits: dict[str, Any] = {
        "rate": rate,
        "sample_every": 1,
        "poll_interval": 0.02,
        "running_deadline": 60.0,
        "max_seconds": max(30.0, 3 * count / rate),
    }
    async with bench_stack(
        work=work, scenario=scenario, start_timeout=sizes.start_timeout, prepare=prepare
    ) as stack:
        await runner.wait_http(f"{stack.api_url}/readyz", timeout=sizes.start_timeout)
        creates = CreateLoad(
            base_url=stack.api_url,
            headers=headers,
            template=clusters.create_template(),
            name_prefix=PREFIX,
            count=count,
            **limits,
        )
        posted = await runner.load(creates, timeout=300)
        public_ids = await _public_ids(stack.api_url, headers)
        patches = PatchLoad(
            base_url=stack.api_url,
            headers=headers,
            public_ids=public_ids,
            patch={"deployment_config": {"image": NEW_IMAGE}},
            generation=2,
            **limits,
        )
        patched = await runner.load(patches, timeout=300)
    _report(run, rate=rate, posted=posted, patched=patched)


async def _public_ids(api_url: str, headers: dict[str, str]) -> list[str]:
    async with (
        aiohttp.ClientSession(api_url, headers=headers) as session,
        session.get(MODELS_PATH, params={"limit": "1000"}) as response,
    ):
        body = await response.json()
    return [m["public_id"] for m in body["models"] if m["name"].startswith(PREFIX)]


def _report(run: Run, *, rate: float, posted: dict[str, Any], patched: dict[str, Any]) -> None:
    scenario = Scenario.DAY_TWO
    post, patch = posted["post"], patched["post"]
    up, rolled = posted["to_running"], patched["to_running"]
    run.rows += [
        Row.of_latency(scenario, f"api POST /models at {rate:.0f}/s", post),
        Row.of_latency(scenario, f"api PATCH /models/{{id}} at {rate:.0f}/s", patch),
        Row.of_running(scenario, f"POST -> running at {rate:.0f}/s", posted),
        Row.of_running(
            scenario, f"PATCH -> generation 2 running at {rate:.0f}/s (Recreate)", patched
        ),
    ]
    for name, result in (("POST", posted), ("PATCH", patched)):
        if set(result["status_codes"]) - {"200", "201"}:
            run.notes.append(f"day-two {name} status codes: {result['status_codes']}")
    run.notes.append(f"day-two: kubesim ready delay 0, pod termination {TERMINATION_SECONDS} s")
    run.checks += [
        _within(f"PATCH p50/p99 within {RATIO}x of POST's", patch, post, ("p50_ms", "p99_ms")),
        _within(
            f"PATCH -> running p50 within {RATIO}x of POST -> running", rolled, up, ("p50_ms",)
        ),
    ]


def _within(
    target: str, measured: dict[str, Any], baseline: dict[str, Any], keys: tuple[str, ...]
) -> Check:
    pairs = [(key, measured[key], baseline[key]) for key in keys]
    shown = ", ".join(f"{key[:3]} {m or 0:.1f} vs {b or 0:.1f} ms" for key, m, b in pairs)
    met = all(m is not None and b and m <= RATIO * b for _, m, b in pairs)
    return Check(scenario=Scenario.DAY_TWO, target=target, measured=shown, met=met)
