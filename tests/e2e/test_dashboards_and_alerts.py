"""Every dashboard panel and the failed-model alert, read from a real Prometheus that
scrapes the whole stack while it runs models, one of them failing, on a cluster with a
cordoned node."""

import asyncio
import math
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from jan_models.dev_keys import ensure_dev_key
from jan_models.embedded import free_port
from jan_models.monitoring import EmbeddedPrometheus
from jan_models.ops.alerts import AlertSettings
from jan_models.ops.dashboards import DASHBOARDS
from jan_models.stack import SERVICES, LocalStack, StackConfig
from services.inventory.store import REQUIRED_WATCHES
from shared.crds import WATCHED_CRDS
from shared.names import DEFAULT_NAMESPACE
from tests.e2e.test_walkthrough import MODELS, body, follow_status
from tests.waiting import poll

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

ORG = 321
KEY = "jm_prometheus_e2e_key_0123456789abcdef"
CORDONED = "gpu-l4-1"
GPU_NODES = {
    "gpu-l4-1": ("NVIDIA-L4", 1, 23034),
    "gpu-a100-1": ("NVIDIA-A100-SXM4-40GB", 2, 40960),
    "gpu-h100-1": ("NVIDIA-H100-80GB-HBM3", 8, 81559),
}
FAILED_FOR = "10s"
Series = dict[frozenset[tuple[str, str]], float]
IGNORED_LABELS = {"__name__", "job", "instance"}


def key(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, str]]:
    data_dir = tmp_path_factory.mktemp("observed")
    config = StackConfig(data_dir=data_dir, ready_delay=1.0).with_free_ports()
    with LocalStack(config).running() as stack:
        prometheus = EmbeddedPrometheus(
            name="prometheus",
            port=free_port(),
            log_path=data_dir / "logs" / "prometheus.log",
            targets=stack.metrics_urls,
            data_dir=data_dir / "prometheus",
            alerts=AlertSettings(model_failed_for=FAILED_FOR),
            scrape_interval="1s",
            evaluation_interval="1s",
        )
        with prometheus:
            yield stack, prometheus.url


async def query(prometheus: httpx.AsyncClient, expr: str) -> Series:
    response = await prometheus.get("/api/v1/query", params={"query": expr})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["resultType"] == "vector", data
    return {
        frozenset((k, v) for k, v in sample["metric"].items() if k not in IGNORED_LABELS): float(
            sample["value"][1]
        )
        for sample in data["result"]
    }


def labelled(series: Series, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for k, v in series.items()}


def has(*keys: frozenset[tuple[str, str]]) -> Callable[[Series], bool]:
    return lambda series: set(keys) <= set(series)


def equals(expected: Series) -> Callable[[Series], bool]:
    return lambda series: series == expected


def gpu_node_keys(series: Series) -> bool:
    return {dict(k).get("node") for k in series} == set(GPU_NODES)


def free_by_product(series: Series) -> bool:
    free = labelled(series, "product")
    return set(free) == {p for p, _, _ in GPU_NODES.values()} and (
        free["NVIDIA-L4"] == 0 and sum(free.values()) == 8
    )


# What each panel shows for: 2 GPU models (1 GPU each, neither fits the L4), one running
# and drifted once, one failing to pull its image; the L4 node cordoned.
EXPECTED: dict[str, Callable[[Series], bool]] = {
    # GPU cluster
    "GPUs allocatable": equals({key(): 11}),
    "GPUs allocated": equals({key(): 2}),
    "GPUs reserved": equals({key(): 0}),
    "GPUs free on schedulable nodes": equals({key(): 8}),
    "Free GPUs by product": free_by_product,
    "Allocatable GPUs by product": equals(
        {key(product=product): count for product, count, _ in GPU_NODES.values()}
    ),
    "GPU use per node": lambda s: gpu_node_keys(s) and labelled(s, "node")[CORDONED] == 0,
    "Unschedulable nodes": equals({key(node=CORDONED, reason="cordoned"): 0}),
    "Memory per GPU": equals({key(node=n, product=p): mib for n, (p, _, mib) in GPU_NODES.items()}),
    # Models
    "Models by status": equals({key(status="running"): 1, key(status="failed"): 1}),
    "Models by organization": equals({key(organization_id=str(ORG)): 2}),
    "Failed models by organization": equals({key(organization_id=str(ORG)): 1}),
    "Model Deployments by phase": equals(
        {key(managed="true", status="Running"): 1, key(managed="true", status="Failed"): 1}
    ),
    "Failures by reason": equals({key(reason="ImagePullBackOff"): 1}),
    "Ready replicas per model": equals(
        {
            key(namespace=DEFAULT_NAMESPACE, name="watched", state="ready"): 1,
            key(namespace=DEFAULT_NAMESPACE, name="unpullable", state="ready"): 0,
        }
    ),
    "Replicas not ready per model": equals(
        {
            key(namespace=DEFAULT_NAMESPACE, name="watched"): 0,
            key(namespace=DEFAULT_NAMESPACE, name="unpullable"): 1,
        }
    ),
    "Lifecycle events by type": lambda s: (
        {
            "accepted",
            "applied",
            "running",
            "failed",
            "drifted",
            "repaired",
        }
        <= set(labelled(s, "type"))
    ),
    "Time to running p90 (1h)": lambda s: list(s) == [key()] and math.isfinite(s[key()]),
    "Drifts per model (1h)": equals({key(namespace=DEFAULT_NAMESPACE, name="watched"): 1}),
    # Control plane
    "Requests by route and status": has(key(route=MODELS, status="201")),
    "Errors by route and status": has(key(route=MODELS + "/{model_id}", status="404")),
    "Latency p99 by route": has(key(route=MODELS)),
    "Outbox pending": equals({key(): 0}),
    "Outbox oldest": equals({key(): 0}),
    "Commands published by verb": has(key(verb="create")),
    "Command backlog": equals({key(): 0}),
    "Commands by verb and outcome": has(key(verb="create", outcome="ok")),
    "Apply latency p95 by verb": has(key(verb="create")),
    # every watch the inventory cannot do without, and any optional one, reports synced
    "Watches synced": lambda s: (
        {key(kind=kind.value) for kind in REQUIRED_WATCHES} <= set(s) and set(s.values()) == {1}
    ),
    # kubesim's controllers write pods without managedFields: no write time, no lag sample
    "Watch lag p99 by kind": has(key(kind="nodes"), key(kind="workloads")),
    "Watch restarts (1h)": lambda s: {dict(k)["reason"] for k in s} == {"gone", "error", "dropped"},
    "Projection write lag p99": lambda s: list(s) == [key()] and math.isfinite(s[key()]),
    "CRDs present": equals({key(crd=name): 1 for name in WATCHED_CRDS}),
}


def cluster_apis(kubeconfig: Path) -> tuple[k8s.CoreV1Api, k8s.AppsV1Api]:
    api_client = k8s_config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]  # unannotated upstream
    return k8s.CoreV1Api(api_client), k8s.AppsV1Api(api_client)


async def test_every_panel_and_the_failed_model_alert_read_the_running_stack(
    observed: tuple[LocalStack, str],
) -> None:
    stack, prometheus_url = observed
    core, apps = cluster_apis(stack.kubeconfig_path)
    await ensure_dev_key(stack.mongodb_url, organization_id=ORG, key=KEY)
    async with (
        httpx.AsyncClient(base_url=prometheus_url, timeout=10) as prometheus,
        httpx.AsyncClient(
            base_url=stack.api_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
        ) as api,
    ):
        every_service_up: Series = {key(): len(SERVICES)}
        await poll(lambda: query(prometheus, "sum(up)"), until=equals(every_service_up), timeout=60)
        await asyncio.to_thread(core.patch_node, CORDONED, {"spec": {"unschedulable": True}})

        watched = (await api.post(MODELS, json=body("watched"))).json()["model"]["public_id"]
        assert (await follow_status(api, watched, until="running", within=90))[-1] == "running"
        await asyncio.to_thread(apps.delete_namespaced_deployment, "watched", DEFAULT_NAMESPACE)
        await poll(
            lambda: query(prometheus, "jan_models_inventory_model_drifts_total"),
            until=lambda s: sum(s.values()) == 1,
            timeout=60,
        )
        assert (await follow_status(api, watched, until="running", within=90))[-1] == "running"

        unpullable = body("unpullable", image="example.invalid/does-not-exist:1")
        failing = (await api.post(MODELS, json=unpullable)).json()["model"]["public_id"]
        assert (await api.get(f"{MODELS}/mdl_000000000000")).status_code == 404

        states = await poll(
            lambda: query(prometheus, 'ALERTS{alertname="JanModelsModelFailed"}'),
            until=lambda s: bool(s),
            timeout=90,
        )
        assert states == {
            key(
                alertname="JanModelsModelFailed",
                alertstate="pending",
                organization_id=str(ORG),
                severity="warning",
            ): 1
        }
        assert (await follow_status(api, failing, until="failed", within=90))[-1] == "failed"
        firing = 'ALERTS{alertname="JanModelsModelFailed",alertstate="firing"}'
        await poll(lambda: query(prometheus, firing), until=bool, timeout=60)

        panels = {panel.title: panel for spec in DASHBOARDS for panel in spec.panels}
        assert set(EXPECTED) == set(panels), "every panel has an expectation, and only panels"
        for title, expected in EXPECTED.items():
            expr = panels[title].expr
            await poll(partial(query, prometheus, expr), until=expected, timeout=60)
