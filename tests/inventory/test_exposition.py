"""The inventory's scrape-time metrics, read from a store fed like the watches feed it."""

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from services.inventory.exposition import ClusterMetrics
from services.inventory.schedulability import unschedulable_reason
from services.inventory.store import ClusterStore, Watched
from shared.crds import WATCHED_CRDS
from tests.inventory.test_domain import NOW, node, pod, synced_store, workload

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]
CONTRACT_FAMILIES = (
    "jan_models_gpu_allocatable",
    "jan_models_gpu_allocated",
    "jan_models_gpu_reserved",
    "jan_models_gpu_free",
    "jan_models_gpu_memory_mib",
    "jan_models_node_schedulable",
    "jan_models_workloads",
    "jan_models_model_replicas",
    "jan_models_workload_failures",
    "jan_models_inventory_crd_present",
    "jan_models_inventory_watch_synced",
)


def scrape(*stores: ClusterStore) -> tuple[Samples, str]:
    metrics = ClusterMetrics()
    for store in stores:
        metrics.follow(store)
    text = metrics.render().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        found = samples.setdefault(family.name, {})
        for sample in family.samples:
            found[tuple(sorted(sample.labels.items()))] = sample.value
    return samples, text


def ready(raw: Any, **spec: Any) -> Any:
    raw["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    raw["spec"] = spec
    return raw


def down(raw: Any) -> Any:
    raw["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    return raw


def test_every_family_is_exported_when_nothing_is_followed() -> None:
    samples, text = scrape()
    for name in CONTRACT_FAMILIES:
        assert f"# TYPE {name} gauge" in text
        assert samples.get(name, {}) == {}


def test_gpus_per_node_count_bound_pods_and_free_the_rest() -> None:
    store = synced_store()
    store.replace(
        Watched.NODES,
        [
            ready(node("a1", gpus=4)),
            ready(node("l4", gpus=1, product="NVIDIA-L4")),
            ready(node("cpu", gpus=0)),
        ],
    )
    store.replace(
        Watched.PODS,
        [
            pod("p1", node_name="a1", gpus=3),
            pod("p2", node_name="a1", gpus=1, phase="Succeeded"),
            pod("pending", gpus=1),
        ],
    )
    samples, _ = scrape(store)
    a1 = (("node", "a1"), ("product", "NVIDIA-A100-SXM4-40GB"))
    l4 = (("node", "l4"), ("product", "NVIDIA-L4"))
    assert samples["jan_models_gpu_allocatable"] == {a1: 4, l4: 1}
    assert samples["jan_models_gpu_allocated"] == {a1: 3, l4: 0}
    assert samples["jan_models_gpu_reserved"] == {a1: 0, l4: 0}
    assert samples["jan_models_gpu_free"] == {a1: 1, l4: 1}
    assert samples["jan_models_gpu_memory_mib"][a1] == 40960
    assert samples["jan_models_node_schedulable"] == {
        (("node", "a1"), ("reason", "ready")): 1,
        (("node", "l4"), ("reason", "ready")): 1,
        (("node", "cpu"), ("reason", "ready")): 1,
    }


def test_schedulability_reports_why_a_node_cannot_take_pods() -> None:
    store = synced_store()
    tainted = ready(node("t", gpus=2), taints=[{"key": "maintenance", "effect": "NoExecute"}])
    gpu_tainted = ready(
        node("g", gpus=2), taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]
    )
    store.replace(
        Watched.NODES,
        [
            down(node("down", gpus=2)),
            ready(node("c", gpus=2), unschedulable=True),
            tainted,
            gpu_tainted,
        ],
    )
    samples, _ = scrape(store)
    assert samples["jan_models_node_schedulable"] == {
        (("node", "down"), ("reason", "not_ready")): 0,
        (("node", "c"), ("reason", "cordoned")): 0,
        (("node", "t"), ("reason", "tainted")): 0,
        (("node", "g"), ("reason", "ready")): 1,
    }


def test_a_cordoned_node_that_is_also_down_reports_not_ready_first() -> None:
    raw = down(node("n", gpus=1))
    raw["spec"] = {"unschedulable": True, "taints": [{"key": "x", "effect": "NoSchedule"}]}
    assert unschedulable_reason(raw) == "not_ready"
    raw["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert unschedulable_reason(raw) == "cordoned"
    raw["spec"]["unschedulable"] = False
    assert unschedulable_reason(raw) == "tainted"
    raw["spec"]["taints"][0]["effect"] = "PreferNoSchedule"
    assert unschedulable_reason(raw) is None


def test_workloads_by_managed_flag_and_phase_and_replicas_per_model() -> None:
    store = synced_store()
    unmanaged = workload(ready=0)
    unmanaged["metadata"] |= {"name": "other", "labels": {"model.aibrix.ai/name": "other"}}
    store.replace(Watched.WORKLOADS, [workload(ready=0, replicas=2), unmanaged])
    store.replace(Watched.PODS, [pod("q-1", waiting="ImagePullBackOff")])
    samples, _ = scrape(store)
    assert samples["jan_models_workloads"] == {
        (("managed", "true"), ("namespace", "default"), ("status", "Failed")): 1,
        (("managed", "false"), ("namespace", "default"), ("status", "Pending")): 1,
    }
    assert samples["jan_models_workload_failures"] == {
        (("namespace", "default"), ("reason", "ImagePullBackOff")): 1
    }
    assert samples["jan_models_model_replicas"] == {
        (("name", "qwen3"), ("namespace", "default"), ("state", "desired")): 2,
        (("name", "qwen3"), ("namespace", "default"), ("state", "ready")): 0,
        (("name", "other"), ("namespace", "default"), ("state", "desired")): 1,
        (("name", "other"), ("namespace", "default"), ("state", "ready")): 0,
    }


def test_crd_presence_and_watch_sync_follow_the_view() -> None:
    store = ClusterStore(policy=synced_store().policy, clock=lambda: NOW)
    store.replace(Watched.NODES, [])
    store.replace(Watched.CRDS, [{"metadata": {"name": WATCHED_CRDS[0], "resourceVersion": "1"}}])
    samples, _ = scrape(store)
    assert samples["jan_models_inventory_crd_present"][(("crd", WATCHED_CRDS[0]),)] == 1
    assert samples["jan_models_inventory_crd_present"][(("crd", WATCHED_CRDS[1]),)] == 0
    synced = samples["jan_models_inventory_watch_synced"]
    assert synced[(("kind", "nodes"),)] == 1
    assert synced[(("kind", "crds"),)] == 1
    assert synced[(("kind", "pods"),)] == 0


def test_a_forgotten_view_stops_contributing() -> None:
    metrics = ClusterMetrics()
    store = synced_store()
    store.replace(Watched.NODES, [ready(node("a1", gpus=4))])
    metrics.follow(store)
    metrics.forget(store)
    families = text_string_to_metric_families(metrics.render().decode())
    assert all(not family.samples for family in families)


def test_label_values_are_escaped_as_the_text_format_requires() -> None:
    store = synced_store()
    raw = ready(node("a1", gpus=2, product='odd "GPU"\\n'))
    store.replace(Watched.NODES, [raw])
    samples, _ = scrape(store)
    assert samples["jan_models_gpu_allocatable"] == {
        (("node", "a1"), ("product", 'odd "GPU"\\n')): 2
    }
