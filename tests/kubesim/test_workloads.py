"""The everyday workload kinds, ServiceAccounts, RBAC and the stored kinds: through
kubectl (whose generators send protobuf) and the official async client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config, watch

from kubesim import KubeSim, Scenario, cron
from kubesim.controllers.jobs import SCHEDULED_AT
from kubesim.scenario import NodeSpec
from tests.kubesim.conftest import kubectl, official_client
from tests.plugins.kubesim import SimFactory
from tests.waiting import eventually, poll

pytestmark = pytest.mark.integration


async def _kubectl(kubeconfig: Path, *args: str, ok: bool = True) -> str:
    done = await asyncio.to_thread(kubectl, kubeconfig, *args, ok=ok)
    return done.stdout if ok else done.stdout + done.stderr


async def _json(kubeconfig: Path, *args: str) -> Any:
    return json.loads(await _kubectl(kubeconfig, "get", *args, "-o", "json"))


# -- cron ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "fires"),
    [
        ("*/15 * * * *", "2026-12-01T22:40:30", "2026-12-01T22:45:00"),
        ("0 9 * * 1-5", "2026-12-04T09:00:00", "2026-12-07T09:00:00"),  # Friday -> Monday
        ("@daily", "2026-12-01T22:40:00", "2026-12-02T00:00:00"),
        ("0 0 29 2 *", "2026-03-01T00:00:00", "2028-02-29T00:00:00"),
        ("30 4 1,15 * 5", "2026-12-01T22:40:00", "2026-12-04T04:30:00"),  # day OR weekday
        ("0 12 * jan,jul sun", "2026-12-01T00:00:00", "2027-01-03T12:00:00"),
        ("0 0 * * 7", "2026-12-01T00:00:00", "2026-12-06T00:00:00"),  # 7 is Sunday
    ],
)
def test_cron_schedules_fire_when_cron_would(expression: str, after: str, fires: str) -> None:
    moment = datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert cron.parse(expression).next_after(moment) == datetime.fromisoformat(fires).replace(
        tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("* * * *", "expected exactly 5 fields"),
        ("61 * * * *", "minute out of range"),
        ("*/0 * * * *", "invalid step"),
        ("@fortnightly", "unrecognized descriptor"),
        ("x * * * *", "failed to parse int"),
    ],
)
def test_bad_cron_schedules_are_refused(expression: str, error: str) -> None:
    with pytest.raises(cron.CronError, match=error):
        cron.parse(expression)


# -- ServiceAccounts -------------------------------------------------------------------


@pytest.mark.kubectl
async def test_every_namespace_has_a_default_service_account(kubeconfig_path: Path) -> None:
    await _kubectl(kubeconfig_path, "create", "namespace", "team-a")

    async def has_default() -> bool:
        out = await _kubectl(kubeconfig_path, "get", "sa", "-n", "team-a", ok=False)
        return "default" in out

    await eventually(has_default)
    await _kubectl(kubeconfig_path, "delete", "sa", "default", "-n", "team-a")
    await eventually(has_default)  # put back, as the controller does
    await _kubectl(kubeconfig_path, "create", "serviceaccount", "builder", "-n", "team-a")
    names = await _json(kubeconfig_path, "sa", "-n", "team-a")
    assert sorted(i["metadata"]["name"] for i in names["items"]) == ["builder", "default"]


async def test_a_new_namespace_gets_its_default_service_account_through_the_client(
    api: Any,
) -> None:
    core: Any = client.CoreV1Api(api)
    await core.create_namespace({"metadata": {"name": "team-c"}})

    async def read() -> Any:
        try:
            return await core.read_namespaced_service_account("default", "team-c")
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    account = await poll(read, until=lambda a: a is not None)
    assert account.metadata.namespace == "team-c"
    assert account.metadata.uid
    listed = await core.list_namespaced_service_account("team-c")
    assert [a.metadata.name for a in listed.items] == ["default"]


# -- Jobs ------------------------------------------------------------------------------


def _condition(obj: Any, type_: str) -> Any:
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None
    )


@pytest.mark.kubectl
async def test_a_job_runs_its_pods_to_completion(kubeconfig_path: Path) -> None:
    await _kubectl(
        kubeconfig_path, "create", "job", "once", "--image=busybox", "--", "sh", "-c", "sleep 0.2"
    )
    job = await poll(
        lambda: _json(kubeconfig_path, "job", "once"),
        until=lambda j: _condition(j, "Complete") is not None,
    )
    assert job["status"]["succeeded"] == 1
    assert "active" not in job["status"]
    assert "failed" not in job["status"]
    assert job["status"]["startTime"] <= job["status"]["completionTime"]
    assert _condition(job, "SuccessCriteriaMet")["status"] == "True"
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    pods = await _json(kubeconfig_path, "pods", "-l", "job-name=once")
    (pod,) = pods["items"]
    assert pod["status"]["phase"] == "Succeeded"
    (terminated,) = [cs["state"]["terminated"] for cs in pod["status"]["containerStatuses"]]
    assert terminated["exitCode"] == 0
    assert terminated["reason"] == "Completed"
    table = await _kubectl(kubeconfig_path, "get", "pods", "-l", "job-name=once")
    assert "Completed" in table
    events = await _kubectl(
        kubeconfig_path, "get", "events", "--field-selector", "involvedObject.name=once"
    )
    assert "SuccessfulCreate" in events
    assert "Completed" in events


async def test_parallel_completions_and_the_backoff_limit(api: Any) -> None:
    batch: Any = client.BatchV1Api(api)
    template = {
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "work", "image": "busybox", "command": ["sh", "-c", "exit 0"]}],
        }
    }
    await batch.create_namespaced_job(
        "default",
        {
            "metadata": {"name": "three"},
            "spec": {"completions": 3, "parallelism": 2, "template": template},
        },
    )
    failing = json.loads(json.dumps(template))
    failing["spec"]["containers"][0]["command"] = ["sh", "-c", "sleep 0.1; exit 3"]
    await batch.create_namespaced_job(
        "default",
        {"metadata": {"name": "broken"}, "spec": {"backoffLimit": 2, "template": failing}},
    )

    async def read(name: str) -> Any:
        return (await batch.read_namespaced_job(name, "default")).to_dict()

    three = await poll(lambda: read("three"), until=lambda j: j["status"]["succeeded"] == 3)
    assert three["status"]["completion_time"] is not None
    broken = await poll(
        lambda: read("broken"),
        until=lambda j: any(c["type"] == "Failed" for c in j["status"]["conditions"] or []),
    )
    failed = next(c for c in broken["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert broken["status"]["failed"] == 3  # the first try and two retries
    pods = await client.CoreV1Api(api).list_namespaced_pod(
        "default", label_selector="job-name=broken"
    )
    assert len(pods.items) == 3
    codes = {p.status.container_statuses[0].state.terminated.exit_code for p in pods.items}
    assert codes == {3}
    # a Job's pods must not restart always: the apiserver refuses it
    always = json.loads(json.dumps(template))
    always["spec"]["restartPolicy"] = "Always"
    with pytest.raises(client.ApiException) as exc:
        await batch.create_namespaced_job(
            "default", {"metadata": {"name": "x"}, "spec": {"template": always}}
        )
    assert exc.value.status == 422
    assert 'Unsupported value: "Always"' in json.loads(exc.value.body or "{}")["message"]


@pytest.mark.kubectl
async def test_kubectl_shows_a_job_stopped_at_its_backoff_limit(
    kubeconfig_path: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "job.json"
    manifest.write_text(
        json.dumps(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "flaky"},
                "spec": {
                    "backoffLimit": 1,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {"name": "w", "image": "busybox", "command": ["sh", "-c", "exit 2"]}
                            ],
                        }
                    },
                },
            }
        )
    )
    assert "job.batch/flaky created" in await _kubectl(
        kubeconfig_path, "create", "-f", str(manifest)
    )
    job = await poll(
        lambda: _json(kubeconfig_path, "job", "flaky"),
        until=lambda j: _condition(j, "Failed") is not None,
    )
    assert _condition(job, "Failed")["reason"] == "BackoffLimitExceeded"
    assert _condition(job, "Complete") is None
    assert job["status"]["failed"] == 2  # the first try and one retry, then no more
    assert "active" not in job["status"]
    pods = await _json(kubeconfig_path, "pods", "-l", "job-name=flaky")
    assert sorted(p["status"]["phase"] for p in pods["items"]) == ["Failed", "Failed"]
    # no third pod comes later: the Job has stopped for good
    await asyncio.sleep(1.0)
    assert len((await _json(kubeconfig_path, "pods", "-l", "job-name=flaky"))["items"]) == 2
    row = (await _kubectl(kubeconfig_path, "get", "job", "flaky", "--no-headers")).split()
    assert row[:3] == ["flaky", "Failed", "0/1"]
    described = await _kubectl(kubeconfig_path, "describe", "job", "flaky")
    assert "BackoffLimitExceeded" in described
    assert "Job has reached the specified backoff limit" in described


@pytest.mark.kubectl
async def test_deleting_a_job_deletes_its_pods(kubeconfig_path: Path) -> None:
    await _kubectl(
        kubeconfig_path, "create", "job", "long", "--image=busybox", "--", "sleep", "600"
    )
    await poll(
        lambda: _json(kubeconfig_path, "pods", "-l", "job-name=long"),
        until=lambda p: len(p["items"]) == 1,
    )
    await _kubectl(kubeconfig_path, "delete", "job", "long", "--wait=true")
    await poll(
        lambda: _json(kubeconfig_path, "pods", "-l", "job-name=long"),
        until=lambda p: not p["items"],
    )


# -- CronJobs --------------------------------------------------------------------------


@pytest.mark.kubectl
async def test_a_cron_job_creates_jobs_when_its_schedule_fires(
    kubesim: KubeSim, kubeconfig_path: Path
) -> None:
    now = datetime.now(UTC)
    clock = {"now": now}
    kubesim.controllers.cron_jobs.clock = lambda: clock["now"]
    await _kubectl(
        kubeconfig_path,
        "create",
        "cronjob",
        "tick",
        "--image=busybox",
        "--schedule=*/5 * * * *",
        "--",
        "true",
    )
    await asyncio.sleep(1.5)  # a clock tick: nothing fires before the schedule does
    assert (await _json(kubeconfig_path, "jobs"))["items"] == []
    fired = cron.parse("*/5 * * * *").next_after(now)
    clock["now"] = fired + timedelta(seconds=5)
    jobs = await poll(lambda: _json(kubeconfig_path, "jobs"), until=lambda j: len(j["items"]) == 1)
    (job,) = jobs["items"]
    assert job["metadata"]["name"] == f"tick-{int(fired.timestamp() // 60)}"
    assert job["metadata"]["annotations"][SCHEDULED_AT] == fired.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    cron_job = await poll(
        lambda: _json(kubeconfig_path, "cronjob", "tick"),
        until=lambda c: "lastSuccessfulTime" in (c.get("status") or {}),
    )
    assert cron_job["status"]["lastScheduleTime"] == fired.strftime("%Y-%m-%dT%H:%M:%SZ")
    # kubectl's own way to run one now works from the stored template
    await _kubectl(kubeconfig_path, "create", "job", "by-hand", "--from=cronjob/tick")
    await poll(
        lambda: _json(kubeconfig_path, "job", "by-hand"),
        until=lambda j: (j.get("status") or {}).get("succeeded") == 1,
    )


@pytest.mark.kubectl
async def test_forbid_skips_a_run_while_the_last_is_active(
    kubesim: KubeSim, kubeconfig_path: Path, api: Any
) -> None:
    clock = {"now": datetime.now(UTC)}
    kubesim.controllers.cron_jobs.clock = lambda: clock["now"]
    batch: Any = client.BatchV1Api(api)
    container = {"name": "w", "image": "busybox", "command": ["sleep", "600"]}
    await batch.create_namespaced_cron_job(
        "default",
        {
            "metadata": {"name": "slow"},
            "spec": {
                "schedule": "* * * * *",
                "concurrencyPolicy": "Forbid",
                "jobTemplate": {
                    "spec": {
                        "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}
                    }
                },
            },
        },
    )
    first = cron.parse("* * * * *").next_after(clock["now"])
    clock["now"] = first + timedelta(seconds=1)
    await poll(lambda: _json(kubeconfig_path, "jobs"), until=lambda j: len(j["items"]) == 1)
    clock["now"] = first + timedelta(minutes=1, seconds=1)
    await asyncio.sleep(2.5)  # two clock ticks past the next minute
    assert len((await _json(kubeconfig_path, "jobs"))["items"]) == 1
    refused = await _kubectl(
        kubeconfig_path, "create", "cronjob", "bad", "--image=x", "--schedule=61 * * * *", ok=False
    )
    assert "minute out of range" in refused


async def test_finished_jobs_beyond_the_history_limits_are_deleted(
    kubesim: KubeSim, kubeconfig_path: Path, api: Any
) -> None:
    start = datetime.now(UTC)
    clock = {"now": start}
    kubesim.controllers.cron_jobs.clock = lambda: clock["now"]
    batch: Any = client.BatchV1Api(api)

    def cron_job(name: str, command: list[str], **limits: int) -> Any:
        container = {"name": "w", "image": "busybox", "command": command}
        pod = {"spec": {"restartPolicy": "Never", "containers": [container]}}
        return {
            "metadata": {"name": name},
            "spec": {
                "schedule": "* * * * *",
                "jobTemplate": {"spec": {"backoffLimit": 0, "template": pod}},
                **limits,
            },
        }

    await batch.create_namespaced_cron_job(
        "default", cron_job("ok", ["true"], successfulJobsHistoryLimit=2)
    )
    await batch.create_namespaced_cron_job(
        "default",
        cron_job("bad", ["sh", "-c", "exit 1"]),  # failedJobsHistoryLimit: 1
    )
    created = await batch.read_namespaced_cron_job("ok", "default")
    assert created.spec.failed_jobs_history_limit == 1  # defaulted

    async def jobs_of(owner: str) -> list[str]:
        listed = await batch.list_namespaced_job("default")
        return sorted(
            j.metadata.name
            for j in listed.items
            if j.metadata.owner_references[0].name == owner
            and any(c.type in ("Complete", "Failed") for c in j.status.conditions or [])
        )

    async def finished_are(owner: str, expected: list[str]) -> None:
        await poll(lambda: jobs_of(owner), until=lambda names: names == expected)

    first = cron.parse("* * * * *").next_after(start)
    fired = [first + timedelta(minutes=m) for m in range(4)]
    names = [int(t.timestamp() // 60) for t in fired]
    for count, moment in enumerate(fired, start=1):
        clock["now"] = moment + timedelta(seconds=1)
        # the newest finished Jobs, up to the limit: the older ones are gone
        await finished_are("ok", [f"ok-{n}" for n in names[:count][-2:]])
        await finished_are("bad", [f"bad-{names[count - 1]}"])
    # and their pods with them
    core: Any = client.CoreV1Api(api)
    await poll(
        lambda: core.list_namespaced_pod("default"),
        until=lambda pods: (
            sorted(p.metadata.labels["job-name"] for p in pods.items)
            == sorted([f"ok-{names[2]}", f"ok-{names[3]}", f"bad-{names[3]}"])
        ),
    )
    status = (await batch.read_namespaced_cron_job("ok", "default")).status
    assert status.last_schedule_time == fired[3]


# -- DaemonSets and StatefulSets -------------------------------------------------------

NODES = Scenario(
    name="daemons",
    nodes=[
        NodeSpec(name="n1", labels={"disk": "ssd"}),
        NodeSpec(name="n2", labels={"disk": "ssd"}, unschedulable=True),
        NodeSpec(name="n3"),
        NodeSpec(name="n4", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
    ],
)


def _daemon_set(name: str, **pod_spec: Any) -> Any:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "agent", "image": "agent:1"}], **pod_spec},
            },
        },
    }


@pytest.mark.kubectl
async def test_a_daemon_set_runs_a_pod_on_each_node_that_should_run_it(
    kubesim_factory: SimFactory, tmp_path: Path
) -> None:
    async with kubesim_factory(NODES) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        manifest = tmp_path / "ds.json"
        manifest.write_text(json.dumps(_daemon_set("agent")))
        await _kubectl(kubeconfig, "apply", "-f", str(manifest))

        def nodes_of(pods: Any) -> list[str]:
            return sorted(p["spec"].get("nodeName", "") for p in pods["items"])

        # cordoned n2 keeps its daemon; tainted n4 gets none without a toleration
        pods = await poll(
            lambda: _json(kubeconfig, "pods", "-l", "app=agent"),
            until=lambda p: nodes_of(p) == ["n1", "n2", "n3"],
        )
        ds = await poll(
            lambda: _json(kubeconfig, "ds", "agent"),
            until=lambda d: (d.get("status") or {}).get("numberReady") == 3,
        )
        assert ds["status"]["desiredNumberScheduled"] == 3
        assert ds["status"]["updatedNumberScheduled"] == 3
        tolerations = pods["items"][0]["spec"]["tolerations"]
        assert {
            "key": "node.kubernetes.io/unschedulable",
            "operator": "Exists",
            "effect": "NoSchedule",
        } in tolerations
        # a node labelled into the selector gains one; the others lose theirs
        manifest.write_text(json.dumps(_daemon_set("agent", nodeSelector={"disk": "ssd"})))
        await _kubectl(kubeconfig, "apply", "-f", str(manifest))
        await poll(
            lambda: _json(kubeconfig, "pods", "-l", "app=agent"),
            until=lambda p: nodes_of(p) == ["n1", "n2"],
            timeout=20,
        )
        await _kubectl(kubeconfig, "label", "node", "n3", "disk=ssd")
        await poll(
            lambda: _json(kubeconfig, "pods", "-l", "app=agent"),
            until=lambda p: nodes_of(p) == ["n1", "n2", "n3"],
        )
        table = await _kubectl(kubeconfig, "get", "ds", "agent")
        assert "disk=ssd" in table


def _stateful_set(name: str, image: str, **spec: Any) -> Any:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 3,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
            **spec,
        },
    }


@pytest.mark.kubectl
async def test_a_stateful_set_makes_ordered_pods_with_stable_names_and_claims(
    kubesim_factory: SimFactory, tmp_path: Path
) -> None:
    async with kubesim_factory(ready_delay=0.3) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        seen: list[tuple[str, str]] = []  # (pod, "added" | "ready") in the order they happened

        def record(event: Any) -> None:
            if event.key != "/pods":
                return
            meta = event.obj["metadata"]
            if not meta["name"].startswith("db-"):
                return
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (event.obj.get("status") or {}).get("conditions") or []
            )
            if event.type == "ADDED":
                seen.append((meta["name"], "added"))
            elif ready and (meta["name"], "ready") not in seen:
                seen.append((meta["name"], "ready"))

        sim.storage.add_listener(record)
        claim = {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
        sts = _stateful_set("db", "postgres:17", volumeClaimTemplates=[claim])
        manifest = tmp_path / "sts.json"
        manifest.write_text(json.dumps(sts))
        await _kubectl(kubeconfig, "apply", "-f", str(manifest))
        await poll(
            lambda: _json(kubeconfig, "sts", "db"),
            until=lambda s: (s.get("status") or {}).get("readyReplicas") == 3,
        )
        assert seen == [
            ("db-0", "added"),
            ("db-0", "ready"),
            ("db-1", "added"),
            ("db-1", "ready"),
            ("db-2", "added"),
            ("db-2", "ready"),
        ]
        pod = await _json(kubeconfig, "pod", "db-1")
        assert pod["spec"]["hostname"] == "db-1"
        assert pod["spec"]["subdomain"] == "db"
        assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
        claims = [v for v in pod["spec"]["volumes"] if v["name"] == "data"]
        assert claims == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}}]
        pvcs = await _json(kubeconfig, "pvc")
        assert sorted(p["metadata"]["name"] for p in pvcs["items"]) == [
            "data-db-0",
            "data-db-1",
            "data-db-2",
        ]
        await _kubectl(kubeconfig, "scale", "sts", "db", "--replicas=1")
        await poll(
            lambda: _json(kubeconfig, "pods", "-l", "app=db"),
            until=lambda p: [i["metadata"]["name"] for i in p["items"]] == ["db-0"],
            timeout=20,
        )
        # the claims stay (Retain), for when it scales up again
        assert len((await _json(kubeconfig, "pvc"))["items"]) == 3
        status = (await _json(kubeconfig, "sts", "db"))["status"]
        assert status["replicas"] == 1
        assert status["currentRevision"] == status["updateRevision"]


async def test_the_client_creates_a_daemon_set_and_gets_a_pod_per_eligible_node(
    kubesim_factory: SimFactory, tmp_path: Path
) -> None:
    async with kubesim_factory(NODES) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        async with await config.new_client_from_config(config_file=str(kubeconfig)) as api:
            apps: Any = client.AppsV1Api(api)
            core: Any = client.CoreV1Api(api)
            created = await apps.create_namespaced_daemon_set("default", _daemon_set("logs"))
            assert created.spec.update_strategy.type == "RollingUpdate"  # defaulted
            ds = await poll(
                lambda: apps.read_namespaced_daemon_set("logs", "default"),
                until=lambda d: d.status.number_ready == 3,
            )
            assert ds.status.desired_number_scheduled == 3
            assert ds.status.current_number_scheduled == 3
            pods = await core.list_namespaced_pod("default", label_selector="app=logs")
            # one each on n1, n2 (cordoned) and n3; none on n4, whose taint it does not bear
            assert sorted(p.spec.node_name for p in pods.items) == ["n1", "n2", "n3"]
            for pod in pods.items:
                (owner,) = pod.metadata.owner_references
                assert (owner.kind, owner.name, owner.controller) == ("DaemonSet", "logs", True)


async def test_the_client_creates_a_stateful_set_whose_pods_come_in_order_with_stable_names(
    kubesim_factory: SimFactory, tmp_path: Path
) -> None:
    async with kubesim_factory(ready_delay=0.3) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        async with await config.new_client_from_config(config_file=str(kubeconfig)) as api:
            apps: Any = client.AppsV1Api(api)
            core: Any = client.CoreV1Api(api)
            seen: list[tuple[str, str]] = []  # (pod, "added" | "ready"), as a watch tells it

            # from the revision of a list made before the set: every pod event is seen
            listed = await core.list_namespaced_pod("default", label_selector="app=web")

            async def follow() -> None:
                stream = watch.Watch().stream(
                    core.list_namespaced_pod,
                    "default",
                    label_selector="app=web",
                    resource_version=listed.metadata.resource_version,
                    timeout_seconds=30,
                )
                async for event in stream:
                    pod = event["object"]
                    name = pod.metadata.name
                    ready = any(
                        c.type == "Ready" and c.status == "True"
                        for c in (pod.status.conditions or [])
                    )
                    if event["type"] == "ADDED":
                        seen.append((name, "added"))
                    elif ready and (name, "ready") not in seen:
                        seen.append((name, "ready"))
                    if ("web-2", "ready") in seen:
                        return

            following = asyncio.create_task(follow())
            await apps.create_namespaced_stateful_set("default", _stateful_set("web", "nginx:1.27"))
            await asyncio.wait_for(following, 30)
            # each pod is made only once the one before it is ready
            assert seen == [
                ("web-0", "added"),
                ("web-0", "ready"),
                ("web-1", "added"),
                ("web-1", "ready"),
                ("web-2", "added"),
                ("web-2", "ready"),
            ]
            sts = await apps.read_namespaced_stateful_set("web", "default")
            assert sts.spec.pod_management_policy == "OrderedReady"  # defaulted
            # a deleted pod comes back under the same name, a new pod
            old = await core.read_namespaced_pod("web-1", "default")
            await core.delete_namespaced_pod("web-1", "default", grace_period_seconds=0)
            again = await poll(
                lambda: core.list_namespaced_pod("default", label_selector="app=web"),
                until=lambda pods: any(
                    p.metadata.name == "web-1" and p.metadata.uid != old.metadata.uid
                    for p in pods.items
                ),
            )
            assert sorted(p.metadata.name for p in again.items) == ["web-0", "web-1", "web-2"]
            web_1 = next(p for p in again.items if p.metadata.name == "web-1")
            assert web_1.spec.hostname == "web-1"
            assert web_1.metadata.labels["statefulset.kubernetes.io/pod-name"] == "web-1"


# -- RBAC and the stored kinds ---------------------------------------------------------


@pytest.mark.kubectl
async def test_auth_can_i_is_answered_from_the_rbac_objects(
    kubesim: KubeSim, kubeconfig_path: Path, tmp_path: Path
) -> None:
    await _kubectl(kubeconfig_path, "create", "namespace", "team-b")
    await _kubectl(
        kubeconfig_path,
        "create",
        "role",
        "reader",
        "--verb=get,list",
        "--resource=pods,pods/log",
        "-n",
        "team-b",
    )
    await _kubectl(
        kubeconfig_path,
        "create",
        "rolebinding",
        "alice-reads",
        "--role=reader",
        "--user=alice",
        "-n",
        "team-b",
    )
    await _kubectl(kubeconfig_path, "create", "serviceaccount", "ops", "-n", "team-b")
    await _kubectl(
        kubeconfig_path,
        "create",
        "clusterrole",
        "node-viewer",
        "--verb=get,list,watch",
        "--resource=nodes",
    )
    await _kubectl(
        kubeconfig_path,
        "create",
        "clusterrolebinding",
        "ops-nodes",
        "--clusterrole=node-viewer",
        "--serviceaccount=team-b:ops",
    )

    async def can(*args: str) -> str:
        return (
            (await _kubectl(kubeconfig_path, "auth", "can-i", *args, ok=False))
            .strip()
            .splitlines()[0]
        )

    assert await can("list", "pods", "-n", "team-b", "--as", "alice") == "yes"
    assert await can("get", "pods/log", "-n", "team-b", "--as", "alice") == "yes"
    assert await can("delete", "pods", "-n", "team-b", "--as", "alice") == "no"
    assert await can("list", "pods", "-n", "default", "--as", "alice") == "no"
    assert await can("watch", "nodes", "--as", "system:serviceaccount:team-b:ops") == "yes"
    assert await can("get", "nodes", "--as", "alice") == "no"
    assert await can("delete", "nodes") == "yes"  # the default identity is an admin
    # a client whose token is alice's is alice, without impersonation (kubectl sends no
    # bearer token to a plain-http server, so the official client asks here)
    alice = kubesim.write_kubeconfig(tmp_path / "alice", token="alice")
    async with await config.new_client_from_config(config_file=str(alice)) as as_alice:
        reviews = client.AuthorizationV1Api(as_alice)
        for verb, allowed in (("list", True), ("create", False)):
            body: Any = {
                "spec": {
                    "resourceAttributes": {"namespace": "team-b", "verb": verb, "resource": "pods"}
                }
            }
            answer = await reviews.create_self_subject_access_review(body)
            assert answer.status.allowed is allowed
            if allowed:
                assert answer.status.reason == (
                    'RBAC: allowed by RoleBinding "alice-reads/team-b" of Role "reader" to User "alice"'
                )
    # a review is answered, not stored: there is nothing to list
    listed = await _kubectl(kubeconfig_path, "get", "selfsubjectaccessreviews", ok=False)
    assert "MethodNotAllowed" in listed or "not allow" in listed


@pytest.mark.kubectl
async def test_the_stored_kinds_take_kubectl_apply_with_validation(
    kubeconfig_path: Path, tmp_path: Path, api: Any
) -> None:
    manifests = [
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 5,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "metadata": {"name": "legacy"},
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": "legacy"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
                }
            },
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": "v1beta1.metrics.k8s.io"},
            "spec": {
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "service": {"namespace": "kube-system", "name": "metrics-server"},
            },
        },
    ]
    path = tmp_path / "stored.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))
    await _kubectl(kubeconfig_path, "apply", "-f", str(path))  # no --validate=false needed
    hpa = await _json(kubeconfig_path, "hpa", "web")
    assert hpa["spec"]["minReplicas"] == 1  # defaulted
    rc = await _json(kubeconfig_path, "rc", "legacy")
    assert rc["spec"]["selector"] == {"app": "legacy"}
    assert rc["spec"]["replicas"] == 1
    assert "metrics-server" in await _kubectl(kubeconfig_path, "get", "apiservices")
    explained = await _kubectl(kubeconfig_path, "explain", "job.spec.backoffLimit")
    assert "backoffLimit" in explained
    autoscaling = client.AutoscalingV2Api(api)
    listed = await autoscaling.list_namespaced_horizontal_pod_autoscaler("default")
    assert [h.metadata.name for h in listed.items] == ["web"]


async def test_the_client_creates_and_reads_rbac_objects_with_their_defaults(api: Any) -> None:
    rbac: Any = client.RbacAuthorizationV1Api(api)
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
    role = await rbac.create_namespaced_role(
        "default", {"metadata": {"name": "cm-reader"}, "rules": [rule]}
    )
    cluster_role = await rbac.create_cluster_role(
        {"metadata": {"name": "cm-reader-everywhere"}, "rules": [rule]}
    )
    subjects = [
        {"kind": "User", "name": "bob"},
        {"kind": "Group", "name": "readers"},
        {"kind": "ServiceAccount", "name": "default", "namespace": "default"},
    ]
    binding = await rbac.create_namespaced_role_binding(
        "default",
        {
            "metadata": {"name": "cm-readers"},
            "roleRef": {"kind": "Role", "name": "cm-reader"},
            "subjects": subjects,
        },
    )
    cluster_binding = await rbac.create_cluster_role_binding(
        {
            "metadata": {"name": "cm-readers-everywhere"},
            "roleRef": {"kind": "ClusterRole", "name": "cm-reader-everywhere"},
            "subjects": subjects,
        }
    )
    read = (
        await rbac.read_namespaced_role("cm-reader", "default"),
        await rbac.read_cluster_role("cm-reader-everywhere"),
        await rbac.read_namespaced_role_binding("cm-readers", "default"),
        await rbac.read_cluster_role_binding("cm-readers-everywhere"),
    )
    for made, got in zip((role, cluster_role, binding, cluster_binding), read, strict=True):
        assert got.metadata.uid == made.metadata.uid
        assert got.metadata.resource_version == made.metadata.resource_version
    assert read[0].rules[0].verbs == ["get", "list"]
    assert read[1].rules[0].resources == ["configmaps"]
    # the apiserver fills in the groups left out: roleRef's, and User and Group subjects'
    for bound in read[2:]:
        assert bound.role_ref.api_group == "rbac.authorization.k8s.io"
        assert [(s.kind, s.api_group) for s in bound.subjects] == [
            ("User", "rbac.authorization.k8s.io"),
            ("Group", "rbac.authorization.k8s.io"),
            ("ServiceAccount", ""),
        ]
    listed = await rbac.list_role_binding_for_all_namespaces()
    assert "cm-readers" in [b.metadata.name for b in listed.items]
    # a binding with no role to refer to is refused, as the apiserver refuses it
    with pytest.raises(client.ApiException) as refused:
        await rbac.create_namespaced_role_binding(
            "default", {"metadata": {"name": "nothing"}, "subjects": subjects}
        )
    assert refused.value.status == 422
    causes = json.loads(refused.value.body or "{}")["details"]["causes"]
    assert [c["field"] for c in causes] == ["roleRef.kind", "roleRef.name"]


async def test_the_client_creates_a_replication_controller_stored_with_its_defaults(
    api: Any,
) -> None:
    core: Any = client.CoreV1Api(api)
    created = await core.create_namespaced_replication_controller(
        "default",
        {
            "metadata": {"name": "old-web"},
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": "old-web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                }
            },
        },
    )
    rc = await core.read_namespaced_replication_controller("old-web", "default")
    assert rc.metadata.uid == created.metadata.uid
    # the selector and the labels come from the template's labels; one replica
    assert rc.spec.selector == {"app": "old-web"}
    assert rc.metadata.labels == {"app": "old-web"}
    assert rc.spec.replicas == 1
    assert rc.spec.template.spec.restart_policy == "Always"
    assert rc.spec.template.spec.containers[0].termination_message_path == "/dev/termination-log"
    listed = await core.list_replication_controller_for_all_namespaces()
    assert [r.metadata.name for r in listed.items] == ["old-web"]


async def test_the_client_creates_and_reads_an_api_service(api: Any) -> None:
    registration: Any = client.ApiregistrationV1Api(api)
    created = await registration.create_api_service(
        {
            "metadata": {"name": "v1beta1.custom.metrics.k8s.io"},
            "spec": {
                "group": "custom.metrics.k8s.io",
                "version": "v1beta1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "insecureSkipTLSVerify": True,
                "service": {"namespace": "monitoring", "name": "adapter"},
            },
        }
    )
    read = await registration.read_api_service("v1beta1.custom.metrics.k8s.io")
    assert read.metadata.uid == created.metadata.uid
    assert read.metadata.resource_version == created.metadata.resource_version
    assert read.spec.service.name == "adapter"
    assert read.spec.service.port == 443  # defaulted
    assert read.spec.group_priority_minimum == 100
    listed = await registration.list_api_service()
    assert "v1beta1.custom.metrics.k8s.io" in [a.metadata.name for a in listed.items]


# -- create-from-yaml ------------------------------------------------------------------

#: one of each kind, as a multi-document manifest
ALL_KINDS = Path(__file__).parent.parent / "data" / "kubesim_all_kinds.yaml"


def _create_from_yaml_and_read_back(kubeconfig: Path, manifest: Path) -> dict[str, Any]:
    """`kubernetes.utils.create_from_yaml` with the sync client, then each object read
    back through its typed API: kind -> (created, read) as plain dicts."""
    from kubernetes import client as sync_client
    from kubernetes import utils

    api = official_client(kubeconfig)
    create_from_yaml: Any = utils.create_from_yaml
    created = [obj for group in create_from_yaml(api, str(manifest)) for obj in group]
    batch: Any = sync_client.BatchV1Api(api)
    apps: Any = sync_client.AppsV1Api(api)
    core: Any = sync_client.CoreV1Api(api)
    rbac: Any = sync_client.RbacAuthorizationV1Api(api)
    autoscaling: Any = sync_client.AutoscalingV2Api(api)
    registration: Any = sync_client.ApiregistrationV1Api(api)
    readers: dict[str, Callable[[], Any]] = {
        "Job": lambda: batch.read_namespaced_job("y-job", "default"),
        "CronJob": lambda: batch.read_namespaced_cron_job("y-cron", "default"),
        "DaemonSet": lambda: apps.read_namespaced_daemon_set("y-ds", "default"),
        "StatefulSet": lambda: apps.read_namespaced_stateful_set("y-sts", "default"),
        "ServiceAccount": lambda: core.read_namespaced_service_account("y-sa", "default"),
        "Role": lambda: rbac.read_namespaced_role("y-role", "default"),
        "RoleBinding": lambda: rbac.read_namespaced_role_binding("y-rb", "default"),
        "ClusterRole": lambda: rbac.read_cluster_role("y-cr"),
        "ClusterRoleBinding": lambda: rbac.read_cluster_role_binding("y-crb"),
        "HorizontalPodAutoscaler": lambda: autoscaling.read_namespaced_horizontal_pod_autoscaler(
            "y-hpa", "default"
        ),
        "ReplicationController": lambda: core.read_namespaced_replication_controller(
            "y-rc", "default"
        ),
        "APIService": lambda: registration.read_api_service("v1beta1.y.example.com"),
    }
    assert [obj.kind for obj in created] == list(readers)
    return {
        obj.kind: (api.sanitize_for_serialization(obj), api.sanitize_for_serialization(read()))
        for obj, read in zip(created, readers.values(), strict=True)
    }


async def test_create_from_yaml_creates_every_kind_and_reads_each_back(
    kubeconfig_path: Path,
) -> None:
    objects = await asyncio.to_thread(_create_from_yaml_and_read_back, kubeconfig_path, ALL_KINDS)
    for kind, (created, read) in objects.items():
        assert read["metadata"]["uid"] == created["metadata"]["uid"], kind
        assert read["metadata"]["name"].startswith(("y-", "v1beta1.y.")), kind
    # stored as the apiserver stores them: defaulted
    assert objects["Job"][1]["spec"]["backoffLimit"] == 6
    assert objects["CronJob"][1]["spec"]["successfulJobsHistoryLimit"] == 3
    assert objects["StatefulSet"][1]["spec"]["podManagementPolicy"] == "OrderedReady"
    hpa = objects["HorizontalPodAutoscaler"][1]["spec"]
    assert hpa["minReplicas"] == 1
    assert hpa["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    assert objects["ReplicationController"][1]["spec"]["selector"] == {"app": "y-rc"}
    crb = objects["ClusterRoleBinding"][1]
    assert crb["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert crb["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "carol"}
    ]
    assert objects["APIService"][1]["spec"]["service"]["port"] == 443
    # and the workloads run: the Job completes, the sets make their pods
    async with await config.new_client_from_config(config_file=str(kubeconfig_path)) as api:
        batch: Any = client.BatchV1Api(api)
        apps: Any = client.AppsV1Api(api)
        await poll(
            lambda: batch.read_namespaced_job("y-job", "default"),
            until=lambda j: j.status.succeeded == 1,
        )
        await poll(
            lambda: apps.read_namespaced_stateful_set("y-sts", "default"),
            until=lambda s: s.status.ready_replicas == 2,
        )
        await poll(
            lambda: apps.read_namespaced_daemon_set("y-ds", "default"),
            until=lambda d: 0 < d.status.desired_number_scheduled == (d.status.number_ready or 0),
        )
