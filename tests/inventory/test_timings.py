"""Time to running: once per Deployment, from its creation to its first running event."""

from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Histogram

from services.inventory.store import ClusterStore, Watched
from services.inventory.timings import TimeToRunning
from shared.commands import ModelRef
from shared.events import DegradedData, ModelDegraded, ModelRunning, RunningData
from tests.inventory.test_domain import MANAGED, synced_store, workload

REF = ModelRef.model_validate({**MANAGED, "name": "qwen3", "namespace": "default"}).model_dump()


def running() -> ModelRunning:
    return ModelRunning.of(RunningData(**REF, replicas=1, ready_replicas=1), source="/test")


def timed() -> tuple[TimeToRunning, CollectorRegistry, ClusterStore, datetime]:
    """A timer on its own registry, and a store holding one Deployment, with its creation."""
    registry = CollectorRegistry()
    histogram = Histogram("t", "t", buckets=(60, 3600, 86400 * 365), registry=registry)
    store = synced_store()
    store.replace(Watched.WORKLOADS, [workload(ready=1)])
    created = store.workloads["default/qwen3"].created_at
    assert created is not None
    return TimeToRunning(histogram), registry, store, created


def test_the_first_running_of_a_deployment_is_timed_from_its_creation_and_only_once() -> None:
    timings, registry, store, created = timed()
    degraded = ModelDegraded.of(
        DegradedData(**REF, replicas=1, ready_replicas=0, reason="NoReadyReplica"), source="/t"
    )

    timings.observe([degraded], store.workloads, now=created + timedelta(seconds=30))
    assert registry.get_sample_value("t_count") == 0
    timings.observe([running()], store.workloads, now=created + timedelta(seconds=30))
    timings.observe([running()], store.workloads, now=created + timedelta(hours=2))

    assert registry.get_sample_value("t_count") == 1
    assert registry.get_sample_value("t_sum") == 30


def test_a_recreated_deployment_is_timed_again_and_a_vanished_one_forgotten() -> None:
    timings, registry, store, created = timed()
    timings.observe([running()], store.workloads, now=created + timedelta(seconds=10))

    again = workload(ready=1, rv="2")
    again["metadata"]["creationTimestamp"] = "2025-01-01T11:00:00Z"  # an hour after the first
    store.replace(Watched.WORKLOADS, [again])
    timings.observe([running()], store.workloads, now=created + timedelta(hours=1, seconds=5))
    assert registry.get_sample_value("t_count") == 2
    assert registry.get_sample_value("t_sum") == 15

    store.replace(Watched.WORKLOADS, [])
    timings.observe([running()], store.workloads, now=created)  # unknown Deployment: nothing
    assert registry.get_sample_value("t_count") == 2
