"""The harness's moving parts at a tiny size, so they cannot rot: the direct baseline and
the load generator as their own processes against kubesim and nats-server, the floors,
a side-by-side comparison and the JSON left behind. (The whole suite is `make bench`.)"""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jan_models.bench import machine, runner
from jan_models.bench.direct import PREFIX, sized_body
from jan_models.bench.reads import NATS_FLOOR, ReadBench
from jan_models.bench.report import HTTP_FLOOR, Run, table, write_json
from jan_models.bench.sizes import Scenario, Sizes
from kubesim import KubeSim

pytestmark = pytest.mark.integration


async def test_direct_baseline_and_floors_measured_by_the_load_generator(
    kubesim: KubeSim, kubeconfig_path: Path, nats_url: str, tmp_path: Path
) -> None:
    sizes = Sizes.tiny()
    run = Run(started_at=datetime.now(UTC), machine=machine.describe(), options={})
    async with runner.DirectBaseline(
        kubeconfig=kubeconfig_path, nats_url=nats_url, organization_id=1, log=tmp_path / "log"
    ) as direct:
        # The direct baseline stands in for the api too: the comparison is what is tested.
        bench = ReadBench(
            sizes=sizes, run=run, api_url=direct.url, direct_url=direct.url, key="unused"
        )
        await bench.floors(nats_url)
        await bench.side_by_side(Scenario.STATUS, f"{PREFIX}/status", "/status")

    rows = {row.name: row for row in run.rows}
    for name in (HTTP_FLOOR, NATS_FLOOR, "api GET /status", "direct GET /status"):
        assert rows[name].errors == 0, name
        assert rows[name].p50_ms, name
    assert rows[HTTP_FLOOR].n == sizes.fast_latency
    assert rows["direct GET /status"].n == sizes.slow_latency
    assert rows[f"direct GET /status x{sizes.concurrency}"].rps
    assert rows["throughput api / direct /status"].value
    assert [check.scenario for check in run.checks] == [Scenario.STATUS, Scenario.STATUS]
    sized = next(row for row in run.rows if row.name.startswith(f"{HTTP_FLOOR}, same "))
    assert sized.errors == 0
    assert sized.p50_ms
    assert "the floor for a same-size body" in run.checks[1].measured
    assert "x floor" in table(run)
    data = json.loads(write_json(run, tmp_path / "results").read_text())
    assert data["rows"][0]["name"] == HTTP_FLOOR


def test_the_sized_floor_answers_exactly_that_many_bytes_of_json() -> None:
    for size in (12, 1000, 1_628_502):
        body = sized_body(size)
        assert len(body) == size
        assert json.loads(body)["pad"]


async def test_direct_status_is_the_clusters_answer(
    kubesim: KubeSim, kubeconfig_path: Path, nats_url: str, tmp_path: Path
) -> None:
    import aiohttp

    async with (
        runner.DirectBaseline(
            kubeconfig=kubeconfig_path, nats_url=nats_url, organization_id=9, log=tmp_path / "l"
        ) as direct,
        aiohttp.ClientSession(direct.url) as session,
        session.get(f"{PREFIX}/status") as response,
    ):
        body = await response.json()
    status = body["cluster_status"]
    assert body["organization_id"] == 9
    assert status["total_nodes"] == 4
    assert status["total_gpus"] == 1 + 2 + 8
    assert {node["node_name"] for node in status["gpu_nodes"]} == {
        "gpu-l4-1",
        "gpu-a100-1",
        "gpu-h100-1",
    }
    assert status["aibrix_ok"] is True
    assert status["gpu_operator_ok"] is True
