"""Events: the recorder's aggregation, and Events as the official client and kubectl see
them through `v1` and `events.k8s.io/v1`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubesim import KubeSim, events
from kubesim.controllers.common import NODES, PODS
from tests.kubesim.conftest import kubectl, official_client

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "talker", "namespace": "default"},
    # bound to a node that does not exist, so no simulated kubelet or scheduler adds
    # Events of its own to the ones these tests record
    "spec": {"nodeName": "retired-node", "containers": [{"name": "c", "image": "busybox:1.36"}]},
}


def _events_of(sim: KubeSim, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in sim.storage.iter(events.EVENTS.storage_key)
        if e["involvedObject"]["name"] == name
    ]


def test_repeats_bump_count_and_last_timestamp_instead_of_adding_events() -> None:
    sim = KubeSim()
    pod = sim.store.create(POD)
    first = events.record(
        sim.store, involved=pod, reason="BackOff", message="Back-off", component="kubelet"
    )
    again = events.record(
        sim.store, involved=pod, reason="BackOff", message="Back-off", component="kubelet"
    )
    other = events.record(
        sim.store,
        involved=pod,
        reason="BackOff",
        message="Back-off pulling image",
        type="Warning",
        component="kubelet",
    )
    (bumped, distinct) = sorted(_events_of(sim, "talker"), key=lambda e: e["count"], reverse=True)
    assert again["metadata"]["name"] == first["metadata"]["name"] == bumped["metadata"]["name"]
    assert bumped["count"] == 2
    assert bumped["series"]["count"] == 2
    assert bumped["firstTimestamp"] == first["firstTimestamp"]
    assert int(bumped["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert distinct["metadata"]["name"] == other["metadata"]["name"]
    assert distinct["count"] == 1
    assert "series" not in distinct
    assert distinct["type"] == "Warning"
    assert bumped["involvedObject"] == {
        "kind": "Pod",
        "namespace": "default",
        "name": "talker",
        "uid": pod["metadata"]["uid"],
        "apiVersion": "v1",
        "resourceVersion": pod["metadata"]["resourceVersion"],
    }


def test_events_of_a_node_go_to_the_default_namespace() -> None:
    sim = KubeSim()
    node = sim.store.get(NODES, "", "gpu-h100-1")
    event = events.record(
        sim.store,
        involved=node,
        reason="NodeNotReady",
        message="Node gpu-h100-1 status is now: NodeNotReady",
        component="node-controller",
    )
    assert event["metadata"]["namespace"] == "default"
    assert event["involvedObject"]["kind"] == "Node"
    assert "namespace" not in event["involvedObject"]
    assert event["source"] == {"component": "node-controller"}


def test_a_deleted_event_is_recorded_anew() -> None:
    sim = KubeSim()
    pod = sim.store.create(POD)
    first = events.record(sim.store, involved=pod, reason="Killing", message="m", component="k")
    sim.store.delete(events.EVENTS, "default", first["metadata"]["name"])
    second = events.record(sim.store, involved=pod, reason="Killing", message="m", component="k")
    assert second["count"] == 1
    assert second["metadata"]["name"] != first["metadata"]["name"]


@pytest.mark.integration
async def test_official_client_lists_and_watches_both_event_apis(
    kubesim: KubeSim, kubeconfig_path: Path
) -> None:
    pod = kubesim.store.create(POD)

    def pulling() -> None:
        events.record(
            kubesim.store,
            involved=pod,
            reason="Pulling",
            message='Pulling image "busybox:1.36"',
            component="kubelet",
            host="cpu-1",
            field_path="spec.containers{c}",
        )

    pulling()
    loop = asyncio.get_running_loop()

    def read_and_watch() -> tuple[Any, Any, list[Any]]:
        from kubernetes import client, watch

        with official_client(kubeconfig_path) as api:
            core: Any = client.CoreV1Api(api)
            listed = core.list_namespaced_event(
                "default", field_selector="involvedObject.name=talker,reason=Pulling"
            )
            v1 = client.EventsV1Api(api).list_namespaced_event("default")
            loop.call_soon_threadsafe(pulling)
            seen = []
            watcher: Any = watch.Watch
            stream = watcher().stream(
                core.list_namespaced_event,
                "default",
                resource_version=listed.metadata.resource_version,
                timeout_seconds=5,
            )
            for item in stream:
                seen.append(item)
                break
            return listed, v1, seen

    listed, v1, seen = await asyncio.to_thread(read_and_watch)
    (core_event,) = listed.items
    assert core_event.involved_object.field_path == "spec.containers{c}"
    assert core_event.source.component == "kubelet"
    assert core_event.source.host == "cpu-1"
    assert core_event.count == 1
    assert core_event.type == "Normal"
    (v1_event,) = [e for e in v1.items if e.regarding.name == "talker"]
    assert v1_event.note == 'Pulling image "busybox:1.36"'
    assert v1_event.reporting_controller == "kubelet"
    assert v1_event.deprecated_count == 1
    assert v1_event.event_time is not None
    assert [(s["type"], s["object"].count) for s in seen] == [("MODIFIED", 2)]


@pytest.mark.integration
async def test_events_written_through_events_k8s_io_are_core_events(
    kubesim: KubeSim, kubeconfig_path: Path
) -> None:
    def create_and_read() -> tuple[Any, Any]:
        from kubernetes import client

        with official_client(kubeconfig_path) as api:
            body = {
                "apiVersion": "events.k8s.io/v1",
                "kind": "Event",
                "metadata": {"name": "manual.1"},
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "regarding": {"kind": "Pod", "name": "talker", "namespace": "default"},
                "note": "by hand",
                "reason": "Tested",
                "type": "Normal",
                "action": "Testing",
                "reportingController": "example.com/tester",
                "reportingInstance": "tester-1",
            }
            events_api: Any = client.EventsV1Api(api)
            created = events_api.create_namespaced_event("default", body)
            core = client.CoreV1Api(api).read_namespaced_event("manual.1", "default")
            return created, core

    created, core = await asyncio.to_thread(create_and_read)
    assert created.note == "by hand"
    assert created.regarding.name == "talker"
    assert core.message == "by hand"
    assert core.involved_object.name == "talker"
    assert core.reporting_component == "example.com/tester"


@pytest.mark.integration
@pytest.mark.kubectl
async def test_kubectl_get_events_and_describe_show_them(
    kubesim: KubeSim, kubeconfig_path: Path
) -> None:
    pod = kubesim.store.create(POD)
    for _ in range(3):
        events.record(
            kubesim.store,
            involved=pod,
            reason="BackOff",
            message="Back-off restarting failed container c in pod talker_default",
            type="Warning",
            component="kubelet",
        )
    listed = await asyncio.to_thread(kubectl, kubeconfig_path, "get", "events")
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    (row,) = [r for r in rows if "pod/talker" in r]
    assert row.split()[1:4] == ["Warning", "BackOff", "pod/talker"]
    wide = await asyncio.to_thread(kubectl, kubeconfig_path, "get", "events", "-o", "wide")
    assert "COUNT" in wide.stdout.splitlines()[0]
    described = await asyncio.to_thread(kubectl, kubeconfig_path, "describe", "pod", "talker")
    tail = described.stdout.split("Events:", 1)[1]
    assert "Warning  BackOff" in tail
    assert "(x3 over" in tail
    assert "Back-off restarting failed container c in pod talker_default" in tail
    v1 = await asyncio.to_thread(
        kubectl, kubeconfig_path, "get", "events.v1.events.k8s.io", "-o", "json"
    )
    assert '"note": "Back-off restarting failed container' in v1.stdout
    assert kubesim.store.find(PODS, "default", "talker") is not None
