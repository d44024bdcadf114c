"""Scheduling as the kube-scheduler decides, seen through the official client and kubectl:
node affinity, taints and tolerations, cordon and drain, NotReady nodes and NoExecute
evictions, with the scheduler's own words in Events and conditions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubesim import KubeSim, Scenario
from kubesim.controllers.common import NODES, PODS
from kubesim.scenario import NodeSpec
from tests.kubesim.conftest import deployment, kubectl, official_client
from tests.plugins.kubesim import SimFactory
from tests.waiting import eventually

pytestmark = pytest.mark.integration

ZONES = Scenario(
    name="zones",
    nodes=[
        NodeSpec(name="a1", cpu="4", labels={"zone": "a", "gpus": "8"}),
        NodeSpec(name="a2", cpu="4", labels={"zone": "a", "gpus": "2"}),
        NodeSpec(
            name="b1",
            cpu="4",
            labels={"zone": "b"},
            taints=[{"key": "dedicated", "value": "infer", "effect": "NoSchedule"}],
        ),
        NodeSpec(
            name="b2",
            cpu="4",
            labels={"zone": "b"},
            taints=[{"key": "maintenance", "value": "soon", "effect": "PreferNoSchedule"}],
        ),
        NodeSpec(name="c1", cpu="4", labels={"zone": "c"}, ready="False"),
    ],
)


@pytest.fixture
async def zones(kubesim_factory: SimFactory) -> AsyncIterator[KubeSim]:
    async with kubesim_factory(ZONES) as sim:
        yield sim


def _pod(name: str, *, cpu: str = "100m", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox:1.36", "resources": {"requests": {"cpu": cpu}}}
            ],
            **spec,
        },
    }


def _node_of(sim: KubeSim, name: str) -> str | None:
    pod = sim.store.find(PODS, "default", name)
    return None if pod is None else pod["spec"].get("nodeName")


@pytest.mark.kubectl
async def test_affinity_taints_and_the_failed_scheduling_message(
    zones: KubeSim, tmp_path: Path
) -> None:
    config = zones.write_kubeconfig(tmp_path / "kubeconfig")
    gpus_over_4 = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "zone", "operator": "In", "values": ["a"]},
                            {"key": "gpus", "operator": "Gt", "values": ["4"]},
                        ]
                    }
                ]
            }
        }
    }
    infer = [{"key": "dedicated", "operator": "Equal", "value": "infer", "effect": "NoSchedule"}]
    pods = [
        _pod("big-gpus", affinity=gpus_over_4),
        _pod("tolerant", nodeSelector={"zone": "b"}, tolerations=infer),
        _pod("unfit", cpu="8", nodeSelector={"zone": "b"}),
    ]

    def create() -> None:
        from kubernetes import client

        with official_client(config) as api:
            core: Any = client.CoreV1Api(api)
            for body in pods:
                core.create_namespaced_pod("default", body)

    await asyncio.to_thread(create)

    async def placed() -> bool:
        return _node_of(zones, "big-gpus") is not None and _node_of(zones, "tolerant") is not None

    await eventually(placed)
    assert _node_of(zones, "big-gpus") == "a1"
    # b2 is feasible too but carries a PreferNoSchedule taint the pod does not tolerate
    assert _node_of(zones, "tolerant") == "b1"
    expected = (
        "0/5 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint "
        "{dedicated: infer}, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
        "2 node(s) didn't match Pod's node affinity/selector. preemption: 0/5 nodes are "
        "available: 1 No preemption victims found for incoming pod, 4 Preemption is not "
        "helpful for scheduling."
    )

    def read() -> tuple[Any, list[Any], list[Any]]:
        from kubernetes import client

        with official_client(config) as api:
            core: Any = client.CoreV1Api(api)
            unfit = core.read_namespaced_pod_status("unfit", "default")
            failed = core.list_namespaced_event(
                "default", field_selector="involvedObject.name=unfit,reason=FailedScheduling"
            ).items
            scheduled = core.list_namespaced_event(
                "default", field_selector="involvedObject.name=big-gpus,reason=Scheduled"
            ).items
            return unfit, failed, scheduled

    async def failed_recorded() -> bool:
        _unfit, failed, _scheduled = await asyncio.to_thread(read)
        return bool(failed)

    await eventually(failed_recorded)
    unfit, failed, scheduled = await asyncio.to_thread(read)
    (cond,) = [c for c in unfit.status.conditions if c.type == "PodScheduled"]
    assert (cond.status, cond.reason, cond.message) == ("False", "Unschedulable", expected)
    assert unfit.status.phase == "Pending"
    assert [(e.type, e.message, e.source.component) for e in failed] == [
        ("Warning", expected, "default-scheduler")
    ]
    assert [e.message for e in scheduled] == ["Successfully assigned default/big-gpus to a1"]
    listed = await asyncio.to_thread(
        kubectl, config, "get", "events", "--field-selector", "reason=Scheduled", "--no-headers"
    )
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert [r[1:] for r in rows if r[3] == "pod/big-gpus"] == [
        [
            "Normal",
            "Scheduled",
            "pod/big-gpus",
            *["Successfully", "assigned", "default/big-gpus", "to", "a1"],
        ]
    ]
    described = await asyncio.to_thread(kubectl, config, "describe", "pod", "unfit")
    assert "FailedScheduling" in described.stdout
    assert "0/5 nodes are available: 1 Insufficient cpu" in described.stdout


@pytest.mark.kubectl
async def test_cordon_uncordon_and_drain_with_kubectl(zones: KubeSim, tmp_path: Path) -> None:
    config = zones.write_kubeconfig(tmp_path / "kubeconfig")

    def nodes_table() -> dict[str, str]:
        out = kubectl(config, "get", "nodes").stdout.splitlines()
        return {line.split()[0]: line.split()[1] for line in out[1:]}

    cordoned = await asyncio.to_thread(kubectl, config, "cordon", "a1")
    assert "node/a1 cordoned" in cordoned.stdout
    table = await asyncio.to_thread(nodes_table)
    assert table["a1"] == "Ready,SchedulingDisabled"
    assert table["a2"] == "Ready"
    assert table["c1"] == "NotReady"

    async def tainted() -> bool:
        taints = zones.store.get(NODES, "", "a1")["spec"].get("taints") or []
        return any(t["key"] == "node.kubernetes.io/unschedulable" for t in taints)

    await eventually(tainted)
    await asyncio.to_thread(kubectl, config, "uncordon", "a1")
    assert (await asyncio.to_thread(nodes_table))["a1"] == "Ready"
    await eventually(lambda: _not(tainted))

    # two replicas on zone a, then drain the node one of them runs on
    web = deployment("web", replicas=2, cpu="1")
    web["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "a"}
    zones.store.create({**web, "metadata": {**web["metadata"], "namespace": "default"}})

    def web_nodes() -> list[str]:
        return sorted(
            str(p["spec"].get("nodeName"))
            for p in zones.storage.iter(PODS.storage_key)
            if p["metadata"].get("labels", {}).get("app") == "web"
        )

    async def both_running() -> bool:
        return len(web_nodes()) == 2 and "None" not in web_nodes()

    await eventually(both_running)
    drained = await asyncio.to_thread(
        kubectl, config, "drain", "a1", "--ignore-daemonsets", "--timeout=30s"
    )
    assert "node/a1 drained" in drained.stdout
    await eventually(lambda: _is(web_nodes, ["a2", "a2"]))
    assert (await asyncio.to_thread(nodes_table))["a1"] == "Ready,SchedulingDisabled"


def _ready(sim: KubeSim, name: str) -> str | None:
    pod = sim.store.get(PODS, "default", name)
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == "Ready"), None)


async def _not(check: Any) -> bool:
    return not await check()


async def _is(probe: Any, wanted: Any) -> bool:
    return bool(probe() == wanted)


@pytest.mark.kubectl
async def test_not_ready_taints_evict_after_toleration_seconds(
    zones: KubeSim, tmp_path: Path
) -> None:
    config = zones.write_kubeconfig(tmp_path / "kubeconfig")
    briefly = [
        {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 1,
        }
    ]
    for body in (
        _pod("brief", nodeSelector={"gpus": "2"}, tolerations=briefly),
        _pod("patient", nodeSelector={"gpus": "2"}),
        _pod("on-a1", nodeSelector={"gpus": "8"}),
    ):
        zones.store.create(
            {**body, "metadata": {"name": body["metadata"]["name"], "namespace": "default"}}
        )

    async def bound() -> bool:
        return all(_node_of(zones, n) for n in ("brief", "patient", "on-a1"))

    await eventually(bound)
    await eventually(lambda: _is(lambda: _ready(zones, "patient"), "True"))
    patient = zones.store.get(PODS, "default", "patient")
    assert {t["key"] for t in patient["spec"]["tolerations"]} == {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{zones.url}/_kubesim/nodes/a2/ready", json={"status": "False"}
        ) as resp:
            assert resp.status == 200
            assert (await resp.json())["metadata"]["name"] == "a2"
        async with session.post(
            f"{zones.url}/_kubesim/nodes/a2/ready", json={"status": "Sideways"}
        ) as resp:
            assert resp.status == 400
        async with session.post(
            f"{zones.url}/_kubesim/nodes/nope/ready", json={"status": "False"}
        ) as resp:
            assert resp.status == 404
    listed = await asyncio.to_thread(kubectl, config, "get", "node", "a2", "--no-headers")
    assert listed.stdout.split()[1] == "NotReady"
    taints = {(t["key"], t["effect"]) for t in zones.store.get(NODES, "", "a2")["spec"]["taints"]}
    assert taints == {
        ("node.kubernetes.io/not-ready", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoExecute"),
    }
    await eventually(lambda: _is(lambda: _node_of(zones, "brief"), None))
    assert _node_of(zones, "patient") == "a2"
    evictions = [e for e in zones.storage.iter("/events") if e["reason"] == "TaintManagerEviction"]
    assert [e["message"] for e in evictions] == ["Marking for deletion Pod default/brief"]
    # a NoExecute taint nobody tolerates evicts at once
    await asyncio.to_thread(kubectl, config, "taint", "nodes", "a1", "evict=now:NoExecute")
    await eventually(lambda: _is(lambda: _node_of(zones, "on-a1"), None))
    # the node took its pods' readiness with it, and gives it back
    assert _ready(zones, "patient") == "False"
    (not_ready,) = [
        e
        for e in zones.storage.iter("/events")
        if e["reason"] == "NodeNotReady" and e["involvedObject"]["name"] == "patient"
    ]
    assert (not_ready["type"], not_ready["message"]) == ("Warning", "Node is not ready")
    zones.set_node_ready("a2", "True")
    await eventually(
        lambda: _is(lambda: zones.store.get(NODES, "", "a2")["spec"].get("taints"), None)
    )
    assert _node_of(zones, "patient") == "a2"
    assert _ready(zones, "patient") == "True"
