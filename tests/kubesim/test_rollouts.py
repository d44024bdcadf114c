"""Deployments through ReplicaSets, as the official client and kubectl see them: ownership,
pod-template-hash, revisions, Recreate and RollingUpdate bounds, history limits, status
conditions, ScalingReplicaSet / SuccessfulCreate Events, `kubectl rollout`."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from kubesim import KubeSim, Scenario
from kubesim.controllers.common import DEPLOYMENTS
from tests.kubesim.conftest import deployment, kubectl, official_client
from tests.waiting import poll

pytestmark = pytest.mark.integration

REVISION = "deployment.kubernetes.io/revision"
SCALED = re.compile(r"^Scaled (up|down) replica set (\S+) from (\d+) to (\d+)$")


class Cluster:
    """The official (synchronous) client, called from async tests through a thread."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    async def call(self, api: str, method: str, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            from kubernetes import client

            with official_client(self.kubeconfig) as api_client:
                return getattr(getattr(client, api)(api_client), method)(*args, **kwargs)

        return await asyncio.to_thread(run)

    async def create(self, body: dict[str, Any]) -> None:
        await self.call("AppsV1Api", "create_namespaced_deployment", "default", body)

    async def deployment(self, name: str) -> Any:
        return await self.call("AppsV1Api", "read_namespaced_deployment", name, "default")

    async def replica_sets(self, name: str) -> list[Any]:
        listed = await self.call(
            "AppsV1Api", "list_namespaced_replica_set", "default", label_selector=f"app={name}"
        )
        return sorted(listed.items, key=lambda rs: int(rs.metadata.annotations[REVISION]))

    async def pods(self, name: str) -> list[Any]:
        listed = await self.call(
            "CoreV1Api", "list_namespaced_pod", "default", label_selector=f"app={name}"
        )
        return list(listed.items)

    async def events(self, kind: str, name: str) -> list[Any]:
        listed = await self.call(
            "CoreV1Api",
            "list_namespaced_event",
            "default",
            field_selector=f"involvedObject.kind={kind},involvedObject.name={name}",
        )
        return sorted(listed.items, key=lambda e: e.metadata.name)

    async def rolled_out(self, name: str) -> Any:
        """The Deployment once its current generation is complete, as rollout status says."""

        def complete(d: Any) -> bool:
            s = d.status
            return bool(
                s.observed_generation == d.metadata.generation
                and s.updated_replicas == d.spec.replicas
                and s.replicas == d.spec.replicas
                and s.available_replicas == d.spec.replicas
            )

        return await poll(lambda: self.deployment(name), until=complete)

    async def set_image(self, name: str, image: str) -> None:
        patch = {
            "spec": {
                "template": {"spec": {"containers": [{"name": "vllm-openai", "image": image}]}}
            }
        }
        await self.call("AppsV1Api", "patch_namespaced_deployment", name, "default", patch)


def rolling(
    name: str, *, replicas: int, surge: int | str, unavailable: int | str
) -> dict[str, Any]:
    body = deployment(name, replicas=replicas, cpu="100m")
    body["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
    return body


def scalings(events: list[Any]) -> list[tuple[str, str, int, int]]:
    found = []
    for e in events:
        assert e.reason == "ScalingReplicaSet"
        assert e.source.component == "deployment-controller"
        m = SCALED.match(e.message)
        assert m is not None, e.message
        found.append((m.group(1), m.group(2), int(m.group(3)), int(m.group(4))))
    return found


@pytest.mark.kubectl
async def test_deployment_owns_replica_set_owns_pods(kubeconfig_path: Path) -> None:
    cluster = Cluster(kubeconfig_path)
    await cluster.create(rolling("web", replicas=3, surge=1, unavailable=0))
    d = await cluster.rolled_out("web")
    (rs,) = await cluster.replica_sets("web")
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{pod_hash}"
    (owner,) = rs.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "Deployment",
        "web",
        d.metadata.uid,
        True,
    )
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": pod_hash}
    assert rs.metadata.annotations[REVISION] == d.metadata.annotations[REVISION] == "1"
    assert (rs.spec.replicas, rs.status.replicas, rs.status.ready_replicas) == (3, 3, 3)
    assert rs.status.available_replicas == 3
    pods = await cluster.pods("web")
    assert len(pods) == 3
    for pod in pods:
        assert pod.metadata.name.startswith(f"web-{pod_hash}-")
        assert pod.metadata.labels["pod-template-hash"] == pod_hash
        (ref,) = pod.metadata.owner_references
        assert (ref.kind, ref.name, ref.uid) == ("ReplicaSet", rs.metadata.name, rs.metadata.uid)

    status = d.status
    assert (status.observed_generation, status.replicas, status.updated_replicas) == (1, 3, 3)
    assert (status.ready_replicas, status.available_replicas) == (3, 3)
    assert not status.unavailable_replicas
    conditions = {c.type: (c.status, c.reason) for c in status.conditions}
    assert conditions == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    assert scalings(await cluster.events("Deployment", "web")) == [("up", rs.metadata.name, 0, 3)]
    created = await cluster.events("ReplicaSet", rs.metadata.name)
    assert sorted(e.message for e in created) == sorted(
        f"Created pod: {p.metadata.name}" for p in pods
    )
    assert {(e.reason, e.source.component) for e in created} == {
        ("SuccessfulCreate", "replicaset-controller")
    }


@pytest.mark.kubectl
async def test_rolling_update_stays_within_surge_and_unavailable(kubeconfig_path: Path) -> None:
    cluster = Cluster(kubeconfig_path)
    await cluster.create(rolling("roll", replicas=4, surge=1, unavailable=1))
    await cluster.rolled_out("roll")
    await cluster.set_image("roll", "vllm/vllm-openai:v0.10.0")
    d = await cluster.rolled_out("roll")
    old, new = await cluster.replica_sets("roll")
    assert (old.spec.replicas, new.spec.replicas) == (0, 4)
    assert new.metadata.annotations[REVISION] == d.metadata.annotations[REVISION] == "2"
    assert new.spec.template.spec.containers[0].image == "vllm/vllm-openai:v0.10.0"
    steps = scalings(await cluster.events("Deployment", "roll"))
    sizes = {old.metadata.name: 0, new.metadata.name: 0}
    for _way, name, before, after in steps:
        assert sizes[name] == before
        sizes[name] = after
        # never more than replicas + maxSurge pods asked for at once
        assert sum(sizes.values()) <= 5, steps
    assert sizes == {old.metadata.name: 0, new.metadata.name: 4}
    assert any(name == old.metadata.name and way == "down" for way, name, _b, _a in steps)


@pytest.mark.kubectl
async def test_recreate_scales_old_to_zero_before_new(kubeconfig_path: Path) -> None:
    cluster = Cluster(kubeconfig_path)
    await cluster.create(deployment("rec", replicas=2))
    await cluster.rolled_out("rec")
    await cluster.set_image("rec", "vllm/vllm-openai:v0.10.0")
    await cluster.rolled_out("rec")
    old, new = await cluster.replica_sets("rec")
    assert scalings(await cluster.events("Deployment", "rec")) == [
        ("up", old.metadata.name, 0, 2),
        ("down", old.metadata.name, 2, 0),
        ("up", new.metadata.name, 0, 2),
    ]
    assert {p.metadata.labels["pod-template-hash"] for p in await cluster.pods("rec")} == {
        new.metadata.labels["pod-template-hash"]
    }
    deleted = await cluster.events("ReplicaSet", old.metadata.name)
    assert [e.reason for e in deleted].count("SuccessfulDelete") == 2


@pytest.mark.kubectl
async def test_revision_history_limit_deletes_idle_sets(kubeconfig_path: Path) -> None:
    cluster = Cluster(kubeconfig_path)
    body = rolling("hist", replicas=1, surge=1, unavailable=0)
    body["spec"]["revisionHistoryLimit"] = 1
    await cluster.create(body)
    for tag in ("v1", "v2", "v3"):
        await cluster.rolled_out("hist")
        await cluster.set_image("hist", f"vllm/vllm-openai:{tag}")
    await cluster.rolled_out("hist")
    sets = await poll(lambda: cluster.replica_sets("hist"), until=lambda s: len(s) == 2)
    assert [rs.metadata.annotations[REVISION] for rs in sets] == ["3", "4"]
    assert [rs.spec.replicas for rs in sets] == [0, 1]


@pytest.mark.kubectl
async def test_progress_deadline_exceeded(kubeconfig_path: Path) -> None:
    cluster = Cluster(kubeconfig_path)
    body = deployment("stuck", image="registry/does-not-exist:1")
    body["spec"]["progressDeadlineSeconds"] = 1
    await cluster.create(body)

    def exceeded(d: Any) -> bool:
        return any(
            c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded"
            for c in d.status.conditions or []
        )

    d = await poll(lambda: cluster.deployment("stuck"), until=exceeded)
    conditions = {c.type: c for c in d.status.conditions}
    assert conditions["Progressing"].status == "False"
    assert conditions["Progressing"].message.endswith("has timed out progressing.")
    assert (conditions["Available"].status, conditions["Available"].reason) == (
        "False",
        "MinimumReplicasUnavailable",
    )
    assert d.status.unavailable_replicas == 1
    done = await asyncio.to_thread(
        kubectl, kubeconfig_path, "rollout", "status", "deploy/stuck", "--timeout=20s", ok=False
    )
    assert done.returncode != 0
    assert 'deployment "stuck" exceeded its progress deadline' in done.stderr


@pytest.mark.kubectl
async def test_kubectl_rollout_history_and_undo(kubeconfig_path: Path, tmp_path: Path) -> None:
    def run(*args: str) -> str:
        return str(kubectl(kubeconfig_path, *args).stdout)

    manifest = tmp_path / "web.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        "spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: web, image: 'nginx:1.27'}]}\n"
    )
    assert "created" in await asyncio.to_thread(run, "apply", "-f", str(manifest))
    rollout = await asyncio.to_thread(run, "rollout", "status", "deploy/web", "--timeout=30s")
    assert 'deployment "web" successfully rolled out' in rollout
    first = await asyncio.to_thread(run, "get", "rs", "-o", "name")
    assert await asyncio.to_thread(run, "set", "image", "deploy/web", "web=nginx:1.28")
    await asyncio.to_thread(run, "rollout", "status", "deploy/web", "--timeout=30s")
    history = await asyncio.to_thread(run, "rollout", "history", "deploy/web")
    assert re.findall(r"^(\d+)\s", history, re.M) == ["1", "2"]
    revision_1 = await asyncio.to_thread(run, "rollout", "history", "deploy/web", "--revision=1")
    assert "nginx:1.27" in revision_1

    assert "rolled back" in await asyncio.to_thread(run, "rollout", "undo", "deploy/web")
    await asyncio.to_thread(run, "rollout", "status", "deploy/web", "--timeout=30s")
    history = await asyncio.to_thread(run, "rollout", "history", "deploy/web")
    assert re.findall(r"^(\d+)\s", history, re.M) == ["2", "3"]
    # the first ReplicaSet came back under revision 3: no third set was made
    sets = await asyncio.to_thread(run, "get", "rs", "-o", "name")
    assert len(sets.split()) == 2
    assert first.strip() in sets.split()
    table = await asyncio.to_thread(run, "get", "rs")
    assert table.split("\n")[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    described = await asyncio.to_thread(run, "describe", "deploy", "web")
    assert (
        f"NewReplicaSet:   {first.strip().removeprefix('replicaset.apps/')} (2/2 replicas created)"
        in described
    )
    assert "ScalingReplicaSet" in described

    assert "scaled" in await asyncio.to_thread(run, "scale", "deploy/web", "--replicas=3")
    await asyncio.to_thread(run, "rollout", "status", "deploy/web", "--timeout=30s")
    assert " 3 " in await asyncio.to_thread(run, "get", first.strip())


@pytest.mark.kubectl
def test_a_simulator_settled_outside_an_event_loop_reaches_steady_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What a bench or a test does (`KubeSim.settle()` with no loop running): each rollout's
    progress-deadline check is remembered for a later run instead of failing the
    controller, so every Deployment's rollout is written and reports Progressing in one settle
    (the controller used to fail on every pass, which doubled the bench's steady state)."""
    sim = KubeSim(Scenario(namespaces=["default"]), ready_delay=0)
    try:
        for n in range(3):
            sim.store.create(deployment(f"sync-{n}"), namespace="default")
        with caplog.at_level("ERROR", logger="kubesim"):
            sim.settle()
        assert [r.getMessage() for r in caplog.records if "failed" in r.getMessage()] == []
        for n in range(3):
            found = sim.store.find(DEPLOYMENTS, "default", f"sync-{n}")
            assert found is not None
            status = found["status"]
            assert (status["observedGeneration"], status["updatedReplicas"]) == (1, 1), status
            progressing = {c["type"]: c for c in status["conditions"]}["Progressing"]
            assert (progressing["status"], progressing["reason"]) == ("True", "ReplicaSetUpdated")
    finally:
        sim.close()
