"""A kubesim given a data directory keeps its cluster: stopped (SIGTERM) or killed (SIGKILL)
and started again on the same directory, it serves the same objects with the same uids
and resourceVersions, its revision goes on from where it was, watches resume, pods keep
running without being started again, and a record cut short by a crash is dropped.

kubesim runs here as `jan-models kubesim --data-dir ...`, a process of its own, and is
read through the official `kubernetes` client and kubectl, over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, utils

from jan_models.embedded import EmbeddedServerError, free_port
from jan_models.stack import ChildProcess
from tests.kubesim.conftest import deployment, kubectl, official_client
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

Key = tuple[str, str, str]
#: a restart after a clean stop and after a crash
STOPPED_BY = pytest.mark.parametrize(
    "how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"]
)
#: the official client, loosely typed: these tests hand it plain dicts, as JSON goes out
k8s: Any = client


class Kubesim:
    """`jan-models kubesim` on a free port and a data directory, started and stopped at will."""

    def __init__(self, data_dir: Path, work: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.kubeconfig = work / "kubeconfig"
        self.process = ChildProcess(
            name="kubesim",
            args=[
                "kubesim",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                "--kubeconfig-out",
                str(self.kubeconfig),
                "--ready-delay",
                "0.05",
            ],
            env=dict(os.environ),
            ready_url=f"http://127.0.0.1:{self.port}/healthz",
            log_path=work / "kubesim.log",
        )

    def start(self) -> None:
        self.kubeconfig.unlink(missing_ok=True)
        self.process.start().wait_ready(timeout=60)

    async def started(self) -> None:
        await asyncio.to_thread(self.start)
        await eventually(self._kubeconfig_written, within=30)

    async def _kubeconfig_written(self) -> bool:
        return self.kubeconfig.exists()

    def stop(self, how: signal.Signals) -> None:
        if how == signal.SIGKILL:
            self.process.kill()
        else:
            self.process.stop(timeout=30)

    def client(self) -> Any:
        return official_client(self.kubeconfig)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Kubesim]:
    running = Kubesim(tmp_path / "cluster", tmp_path)
    yield running
    running.process.kill()


def _raw(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(call(*args, _preload_content=False, **kwargs).data)
    return body


def cluster_state(api: Any, *, more: bool = False) -> tuple[dict[Key, tuple[str, str]], int]:
    """(kind, namespace, name) -> (uid, resourceVersion) of every object of the kinds a
    restart could disturb (Events included), and the revision of the last list; `more`
    adds the workload, RBAC and stored kinds a developer may create beside the models."""
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    custom = k8s.CustomObjectsApi(api)
    listers: dict[str, Any] = {
        "Node": core.list_node,
        "Namespace": core.list_namespace,
        "Pod": core.list_pod_for_all_namespaces,
        "Service": core.list_service_for_all_namespaces,
        "ConfigMap": core.list_config_map_for_all_namespaces,
        "Secret": core.list_secret_for_all_namespaces,
        "ServiceAccount": core.list_service_account_for_all_namespaces,
        "Event": core.list_event_for_all_namespaces,
        "Deployment": apps.list_deployment_for_all_namespaces,
        "ReplicaSet": apps.list_replica_set_for_all_namespaces,
        "PodAutoscaler": lambda **kw: custom.list_cluster_custom_object(
            "autoscaling.aibrix.ai", "v1alpha1", "podautoscalers", **kw
        ),
    }
    if more:
        batch, rbac = k8s.BatchV1Api(api), k8s.RbacAuthorizationV1Api(api)
        listers |= {
            "Job": batch.list_job_for_all_namespaces,
            "CronJob": batch.list_cron_job_for_all_namespaces,
            "DaemonSet": apps.list_daemon_set_for_all_namespaces,
            "StatefulSet": apps.list_stateful_set_for_all_namespaces,
            "PersistentVolumeClaim": core.list_persistent_volume_claim_for_all_namespaces,
            "Role": rbac.list_role_for_all_namespaces,
            "RoleBinding": rbac.list_role_binding_for_all_namespaces,
            "ClusterRole": rbac.list_cluster_role,
            "ClusterRoleBinding": rbac.list_cluster_role_binding,
            "HorizontalPodAutoscaler": k8s.AutoscalingV2Api(
                api
            ).list_horizontal_pod_autoscaler_for_all_namespaces,
            "ReplicationController": core.list_replication_controller_for_all_namespaces,
            "APIService": k8s.ApiregistrationV1Api(api).list_api_service,
        }
    state: dict[Key, tuple[str, str]] = {}
    revision = 0
    for kind, lister in listers.items():
        body = _raw(lister)
        revision = max(revision, int(body["metadata"]["resourceVersion"]))
        for item in body["items"]:
            meta = item["metadata"]
            key = (kind, meta.get("namespace", ""), meta["name"])
            state[key] = (meta["uid"], meta["resourceVersion"])
    return state, revision


def _settled(api: Any) -> bool:
    """The model-like Deployment runs both its pods, ready, and says so in its status."""
    apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
    d = _raw(apps.read_namespaced_deployment, "web", "keep")
    status = d.get("status") or {}
    if status.get("observedGeneration") != d["metadata"]["generation"]:
        return False
    if any(status.get(k) != 2 for k in ("replicas", "readyReplicas", "availableReplicas")):
        return False
    pods = _raw(core.list_namespaced_pod, "keep")["items"]
    return len(pods) == 2 and all(
        c["type"] != "Ready" or c["status"] == "True"
        for p in pods
        for c in p["status"].get("conditions", [])
    )


def _populate(api: Any) -> None:
    core = k8s.CoreV1Api(api)
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "keep"}})
    k8s.AppsV1Api(api).create_namespaced_deployment("keep", deployment("web", replicas=2))
    core.create_namespaced_secret(
        "keep", {"metadata": {"name": "token"}, "stringData": {"token": "s3cr3t"}}
    )
    k8s.CustomObjectsApi(api).create_namespaced_custom_object(
        "autoscaling.aibrix.ai",
        "v1alpha1",
        "keep",
        "podautoscalers",
        {
            "apiVersion": "autoscaling.aibrix.ai/v1alpha1",
            "kind": "PodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"maxReplicas": 3, "scalingStrategy": "KPA"},
        },
    )


def _idle_node(api: Any) -> str:
    """A node no pod runs on (deleting it moves nothing else)."""
    core = k8s.CoreV1Api(api)
    busy = {p["spec"].get("nodeName") for p in _raw(core.list_pod_for_all_namespaces)["items"]}
    return next(
        str(n["metadata"]["name"])
        for n in _raw(core.list_node)["items"]
        if n["metadata"]["name"] not in busy
    )


def _watch(api: Any, namespace: str, rv: str) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of the ConfigMap events a watch from `rv` gets in 2 s."""
    response = k8s.CoreV1Api(api).list_namespaced_config_map(
        namespace, watch=True, resource_version=rv, timeout_seconds=2, _preload_content=False
    )
    seen = []
    for line in response.data.decode().splitlines():
        event = json.loads(line)
        obj = event["object"]
        if event["type"] == "ERROR":
            seen.append(("ERROR", str(obj.get("code")), obj.get("reason", "")))
            continue
        seen.append((event["type"], obj["metadata"]["name"], obj["metadata"]["resourceVersion"]))
    return seen


def _kubectl_web(sim: Kubesim) -> str:
    """kubectl's view of the Deployment: its resourceVersion and ready replicas."""
    jsonpath = "jsonpath={.metadata.resourceVersion} {.status.readyReplicas}"
    done = kubectl(sim.kubeconfig, "get", "deploy", "web", "-n", "keep", "-o", jsonpath)
    return done.stdout


def _config_map(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {"k": name}}


@pytest.mark.kubectl
@STOPPED_BY
async def test_a_restarted_kubesim_serves_the_cluster_it_was_left_with(
    sim: Kubesim, how: signal.Signals
) -> None:
    await sim.started()
    api = sim.client()
    nodes_before = {n["metadata"]["name"] for n in _raw(k8s.CoreV1Api(api).list_node)["items"]}
    await asyncio.to_thread(_populate, api)
    gone = await asyncio.to_thread(_idle_node, api)
    await asyncio.to_thread(k8s.CoreV1Api(api).delete_node, gone)
    await eventually(lambda: asyncio.to_thread(_settled, api), within=60)
    core = k8s.CoreV1Api(api)
    before_map = _raw(core.list_namespaced_config_map, "keep")["metadata"]["resourceVersion"]
    await asyncio.to_thread(core.create_namespaced_config_map, "keep", _config_map("before"))
    state, revision = await asyncio.to_thread(cluster_state, api)
    started = [k for k in state if k[0] == "Event" and k[1] == "keep"]
    assert started, "the kubelet recorded Events for the pods"
    shown_before = await asyncio.to_thread(_kubectl_web, sim)
    assert shown_before.endswith(" 2")

    await asyncio.to_thread(sim.stop, how)
    await sim.started()
    api = sim.client()
    core = k8s.CoreV1Api(api)

    # the same objects, uids and resourceVersions; nothing written since (no Event either)
    after, revision_after = await asyncio.to_thread(cluster_state, api)
    assert after == state
    assert revision_after == revision
    nodes = {n["metadata"]["name"] for n in _raw(core.list_node)["items"]}
    assert nodes == nodes_before - {gone}, "the scenario is not seeded again"
    # the pods keep running: not restarted, not started again
    for pod in _raw(core.list_namespaced_pod, "keep")["items"]:
        assert pod["status"]["phase"] == "Running"
        assert [cs["restartCount"] for cs in pod["status"]["containerStatuses"]] == [0]
    assert await asyncio.to_thread(_kubectl_web, sim) == shown_before
    assert _raw(core.read_namespaced_secret, "token", "keep")["data"]["token"] == "czNjcjN0"

    # a list+watch from the last revision sees only what changes after it
    listed = _raw(core.list_namespaced_config_map, "keep")["metadata"]["resourceVersion"]
    assert int(listed) == revision
    created = await asyncio.to_thread(
        core.create_namespaced_config_map, "keep", _config_map("after")
    )
    assert int(created.metadata.resource_version) == revision + 1
    assert await asyncio.to_thread(_watch, api, "keep", listed) == [
        ("ADDED", "after", str(revision + 1))
    ]
    # and a watch from before the restart resumes where it was
    assert await asyncio.to_thread(_watch, api, "keep", before_map) == [
        ("ADDED", "before", state[("ConfigMap", "keep", "before")][1]),
        ("ADDED", "after", str(revision + 1)),
    ]


async def test_a_record_cut_short_by_a_crash_is_dropped_and_the_log_goes_on(sim: Kubesim) -> None:
    await sim.started()
    api = sim.client()
    core = k8s.CoreV1Api(api)
    await asyncio.to_thread(core.create_namespaced_config_map, "default", _config_map("kept"))
    state, revision = await asyncio.to_thread(cluster_state, api)
    # the last write: nothing reacts to a ConfigMap, so its record ends the log
    await asyncio.to_thread(core.create_namespaced_config_map, "default", _config_map("torn"))
    await asyncio.to_thread(sim.stop, signal.SIGKILL)
    wal = sim.data_dir / "wal"
    whole = wal.stat().st_size
    os.truncate(wal, whole - 7)  # the crash came in the middle of writing it

    await sim.started()
    api = sim.client()
    core = k8s.CoreV1Api(api)
    assert "dropped" in sim.process.tail()
    assert await asyncio.to_thread(cluster_state, api) == (state, revision)
    names = [
        c["metadata"]["name"] for c in _raw(core.list_namespaced_config_map, "default")["items"]
    ]
    assert "torn" not in names
    assert "kept" in names
    # what is written after the cut is read back on the next start: the log was repaired
    again = await asyncio.to_thread(
        core.create_namespaced_config_map, "default", _config_map("again")
    )
    assert int(again.metadata.resource_version) == revision + 1
    await asyncio.to_thread(sim.stop, signal.SIGTERM)
    await sim.started()
    core = k8s.CoreV1Api(sim.client())
    read = _raw(core.read_namespaced_config_map, "again", "default")
    assert read["metadata"]["uid"] == again.metadata.uid
    assert read["metadata"]["resourceVersion"] == str(revision + 1)


async def test_a_second_kubesim_on_the_same_directory_refuses_to_start(
    sim: Kubesim, tmp_path: Path
) -> None:
    await sim.started()
    other = Kubesim(sim.data_dir, tmp_path / "other")
    with pytest.raises(EmbeddedServerError, match="exited with 1"):
        await asyncio.to_thread(other.start)
    assert "is in use by another kubesim" in other.process.tail()
    # and the first one was not disturbed
    core = k8s.CoreV1Api(sim.client())
    assert _raw(core.list_node)["items"]


#: one of each kind kubesim keeps beside the models' (a Job, a CronJob, sets, RBAC, ...)
ALL_KINDS = Path(__file__).parent.parent / "data" / "kubesim_all_kinds.yaml"


def _create_all_kinds(api: Any) -> None:
    create_from_yaml: Any = utils.create_from_yaml
    create_from_yaml(api, str(ALL_KINDS))


def _all_kinds_settled(api: Any) -> bool:
    """The Job has completed, the StatefulSet runs its two pods and the DaemonSet one
    on every node, all ready."""
    batch, apps = k8s.BatchV1Api(api), k8s.AppsV1Api(api)
    job = _raw(batch.read_namespaced_job, "y-job", "default").get("status") or {}
    sts = _raw(apps.read_namespaced_stateful_set, "y-sts", "default").get("status") or {}
    ds = _raw(apps.read_namespaced_daemon_set, "y-ds", "default").get("status") or {}
    return (
        job.get("succeeded") == 1
        and sts.get("readyReplicas") == 2
        and 0 < ds.get("desiredNumberScheduled", 0) == ds.get("numberReady")
    )


def _pods(api: Any) -> dict[str, tuple[str, str, list[int]]]:
    """name -> (uid, phase, restart counts) of the pods in `default`."""
    return {
        p["metadata"]["name"]: (
            p["metadata"]["uid"],
            p["status"]["phase"],
            [cs["restartCount"] for cs in p["status"].get("containerStatuses", [])],
        )
        for p in _raw(k8s.CoreV1Api(api).list_namespaced_pod, "default")["items"]
    }


@STOPPED_BY
async def test_the_workload_rbac_and_stored_kinds_survive_a_restart_and_nothing_runs_again(
    sim: Kubesim, how: signal.Signals
) -> None:
    await sim.started()
    api = sim.client()
    await asyncio.to_thread(_create_all_kinds, api)
    await eventually(lambda: asyncio.to_thread(_all_kinds_settled, api), within=60)
    state, revision = await asyncio.to_thread(cluster_state, api, more=True)
    kinds = {kind for kind, _, _ in state}
    assert {"Job", "CronJob", "DaemonSet", "StatefulSet", "ClusterRoleBinding"} <= kinds
    assert {"HorizontalPodAutoscaler", "ReplicationController", "APIService"} <= kinds
    pods = await asyncio.to_thread(_pods, api)
    job_pods = [name for name in pods if name.startswith("y-job-")]
    assert [pods[name][1] for name in job_pods] == ["Succeeded"]
    assert {"y-sts-0", "y-sts-1"} <= set(pods)

    await asyncio.to_thread(sim.stop, how)
    await sim.started()
    api = sim.client()

    # every object as it was (uid and resourceVersion), and nothing written since: the
    # Job is not run again, the sets' pods are not made again, no Event is recorded
    after, revision_after = await asyncio.to_thread(cluster_state, api, more=True)
    assert after == state
    assert revision_after == revision
    assert await asyncio.to_thread(_pods, api) == pods
    # and it stays so once the controllers have had time to act on what they found
    await asyncio.sleep(1.5)  # a CronJob clock tick and a kubelet pass
    assert await asyncio.to_thread(cluster_state, api, more=True) == (state, revision)
