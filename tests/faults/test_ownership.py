"""Ownership against the whole stack (DESIGN 9): what is ours is repaired, what is not is
never touched.

- Each kind a model owns, deleted by hand, comes back with the same generation, and the
  model's pods keep running (same pod names) unless the Deployment itself was deleted.
- Someone else's Service, Secret or PVC named like a model's: a 409 when it was there
  before the create; `failed` with reason `Conflict` when it appears after admission. Either
  way it is left exactly as it was (same body and resourceVersion; kubesim's audit log
  shows no write to it), and deleting the model leaves it in place.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jan_models.stack import LocalStack, service_token
from shared.labels import GENERATION_ANNOTATION, MODEL_ID
from shared.names import DEFAULT_NAMESPACE
from tests.faults.conftest import MODELS, Cluster, eventually, light_body, start_stack

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

NS = DEFAULT_NAMESPACE
CORE = f"/api/v1/namespaces/{NS}"
PATHS = {
    "Service": f"{CORE}/services",
    "Secret": f"{CORE}/secrets",
    "PersistentVolumeClaim": f"{CORE}/persistentvolumeclaims",
    "ServiceMonitor": f"/apis/monitoring.coreos.com/v1/namespaces/{NS}/servicemonitors",
    "PodAutoscaler": f"/apis/autoscaling.aibrix.ai/v1alpha1/namespaces/{NS}/podautoscalers",
    "Deployment": f"/apis/apps/v1/namespaces/{NS}/deployments",
}
PLURALS = {kind: path.rsplit("/", 1)[1] for kind, path in PATHS.items()}
WRITES = frozenset({"create", "update", "patch", "delete"})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from start_stack(
        tmp_path_factory,
        extra_env={
            "JAN_MODELS_INVENTORY_DRIFT_GRACE_SECONDS": "0.5",
            # a create reads the inventory's latest status, so "before the create" is exact
            "JAN_MODELS_API_STATUS_CACHE_SECONDS": "0",
        },
    )


def full_body(name: str) -> dict[str, Any]:
    """Every object a model can own: token Secret, PVC, Service, Deployment, autoscaler
    (and the ServiceMonitor, whose CRD kubesim serves)."""
    return light_body(name, enable_pvc=True, enable_autoscaling=True)


def object_name(kind: str, model: str) -> str:
    return {"Secret": f"{model}-hf-token", "PersistentVolumeClaim": f"{model}-cache"}.get(
        kind, model
    )


async def model_status(api: httpx.AsyncClient, public_id: str) -> tuple[str, str | None]:
    response = await api.get(f"{MODELS}/{public_id}")
    response.raise_for_status()
    model = response.json()["model"]
    return model["status"], model.get("status_reason")


async def wait_status(api: httpx.AsyncClient, public_id: str, wanted: str) -> None:
    async def reached() -> bool:
        return (await model_status(api, public_id))[0] == wanted

    await eventually(reached, within=90)


async def pods_of(cluster: Cluster, public_id: str) -> set[str]:
    response = await cluster.http.get(
        f"{CORE}/pods", params={"labelSelector": f"{MODEL_ID}={public_id}"}
    )
    response.raise_for_status()
    return {
        pod["metadata"]["name"]
        for pod in response.json()["items"]
        if not pod["metadata"].get("deletionTimestamp")
    }


async def generations(cluster: Cluster, public_id: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for kind, path in PATHS.items():
        response = await cluster.http.get(path, params={"labelSelector": f"{MODEL_ID}={public_id}"})
        response.raise_for_status()
        for item in response.json()["items"]:
            found[kind] = item["metadata"]["annotations"][GENERATION_ANNOTATION]
    return found


async def audit_since(cluster: Cluster, since: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (
        await cluster.control.get("/_kubesim/audit/log", params={"since": since})
    ).json()
    return entries


async def audit_mark(cluster: Cluster) -> int:
    entries = await audit_since(cluster, 0)
    return int(entries[-1]["seq"]) if entries else 0


async def test_each_kind_deleted_by_hand_comes_back_and_only_the_deployment_restarts_pods(
    api: httpx.AsyncClient, cluster: Cluster
) -> None:
    created = await api.post(MODELS, json=full_body("own-repair"))
    assert created.status_code == 201, created.text
    public_id = created.json()["model"]["public_id"]
    await wait_status(api, public_id, "running")
    before = await generations(cluster, public_id)
    assert set(before) == set(PATHS), before
    pods = await pods_of(cluster, public_id)
    assert pods

    for kind in PATHS:
        name = object_name(kind, "own-repair")
        path = f"{PATHS[kind]}/{name}"
        old_uid = (await cluster.http.get(path)).json()["metadata"]["uid"]
        assert (await cluster.http.delete(path)).status_code in (200, 202)

        async def back(path: str = path, old_uid: str = old_uid) -> bool:
            response = await cluster.http.get(path)
            return response.status_code == 200 and response.json()["metadata"]["uid"] != old_uid

        await eventually(back, within=60)
        await wait_status(api, public_id, "running")
        assert await generations(cluster, public_id) == before, f"{kind}: generation moved"
        if kind != "Deployment":
            assert await pods_of(cluster, public_id) == pods, f"{kind}: pods restarted"

    assert (await model_status(api, public_id))[0] == "running"


FOREIGN: dict[str, dict[str, Any]] = {
    "Service": {"spec": {"selector": {"app": "theirs"}, "ports": [{"name": "http", "port": 80}]}},
    "Secret": {"stringData": {"token": "theirs"}},
    "PersistentVolumeClaim": {
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    },
}


async def make_foreign(cluster: Cluster, kind: str, name: str) -> dict[str, Any]:
    body = {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {"name": name, "labels": {"app": "theirs"}},
        **FOREIGN[kind],
    }
    response = await cluster.http.post(PATHS[kind], json=body)
    assert response.status_code == 201, response.text
    settled: dict[str, Any] = {}

    async def bound() -> bool:  # kubesim binds a claim at once: its own write, not ours
        listed = await cluster.http.get(
            PATHS[kind], params={"fieldSelector": f"metadata.name={name}"}
        )  # a list: the fault rule holding the deployer back refuses only `get`
        [item] = listed.json()["items"]
        settled.update(item)
        return kind != "PersistentVolumeClaim" or item["status"].get("phase") == "Bound"

    await eventually(bound, within=10)
    return settled


def writes_to(audit: list[dict[str, Any]], kind: str, name: str) -> list[str]:
    deployer = service_token("deployer")
    return [
        e["verb"]
        for e in audit
        if e["user"] == deployer
        and e["resource"] == PLURALS[kind]
        and e["name"] == name
        and e["verb"] in WRITES
    ]


def sentence(kind: str, name: str) -> str:
    return f"{kind} {NS}/{name} already exists and is not managed by jan-models"


@pytest.mark.parametrize("kind", list(FOREIGN))
async def test_someone_elses_object_is_refused_before_and_fails_the_model_after_admission(
    api: httpx.AsyncClient, cluster: Cluster, kind: str
) -> None:
    namespace = await cluster.http.post("/api/v1/namespaces", json={"metadata": {"name": NS}})
    assert namespace.status_code in (201, 409)
    mark = await audit_mark(cluster)
    # before the create: 409, nothing stored
    model = f"own-before-{kind.lower()}"
    name = object_name(kind, model)
    held = await make_foreign(cluster, kind, name)

    async def refused() -> bool:
        response = await api.post(MODELS, json=full_body(model))
        assert response.status_code in (409, 503), response.text  # 503: not synced yet
        return response.status_code == 409 and response.json() == {"error": sentence(kind, name)}

    await eventually(refused, within=30)
    assert model not in {m["name"] for m in (await api.get(MODELS)).json()["models"]}

    # after admission: the deployer is held back (its read of that name answers 503) until
    # the object exists, then finds it is not ours
    late_model = f"own-after-{kind.lower()}"
    late_name = object_name(kind, late_model)
    rule = await cluster.control.post(
        "/_kubesim/fault-rules",
        json={"code": 503, "verb": "get", "resource": PLURALS[kind], "namespace": NS,
              "name": late_name},
    )  # fmt: skip
    rule.raise_for_status()
    created = await api.post(MODELS, json=full_body(late_model))
    assert created.status_code == 201, created.text
    public_id = created.json()["model"]["public_id"]
    late_held = await make_foreign(cluster, kind, late_name)
    after_made = await audit_mark(cluster)
    (await cluster.control.delete(f"/_kubesim/fault-rules/{rule.json()['id']}")).raise_for_status()
    await wait_status(api, public_id, "failed")
    _, reason = await model_status(api, public_id)
    assert reason == f"Conflict: {sentence(kind, late_name)}"

    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204

    async def removed() -> bool:
        return (await api.get(f"{MODELS}/{public_id}")).status_code == 404

    await eventually(removed, within=60)
    audit = await audit_since(cluster, mark)
    for path_name, original in ((name, held), (late_name, late_held)):
        now = await cluster.http.get(f"{PATHS[kind]}/{path_name}")
        assert now.status_code == 200, f"{kind} {path_name} was deleted"
        assert now.json() == original, f"{kind} {path_name} was changed"
    assert writes_to(audit, kind, name) == []
    assert writes_to(await audit_since(cluster, after_made), kind, late_name) == []
    # nothing of the failed model is left behind either
    leftovers = await generations(cluster, public_id)
    assert leftovers == {}


async def test_a_claim_delete_refused_for_a_while_keeps_the_model_deleting_with_why_then_ends(
    api: httpx.AsyncClient, cluster: Cluster
) -> None:
    """DESIGN 9's level-triggered delete: while the API server refuses the PVC's delete (a
    403), the model stays `deleting` with a reason naming what is left, its name taken;
    once the refusal stops the delete finishes, nothing of the model is left, and the name
    can be used again."""
    model = "own-refused-delete"
    claim = f"{PATHS['PersistentVolumeClaim']}/{object_name('PersistentVolumeClaim', model)}"
    created = await api.post(MODELS, json=full_body(model))
    assert created.status_code == 201, created.text
    public_id = created.json()["model"]["public_id"]
    await wait_status(api, public_id, "running")
    rule = await cluster.control.post(
        "/_kubesim/fault-rules",
        json={"code": 403, "verb": "delete", "resource": "persistentvolumeclaims", "namespace": NS,
              "name": object_name("PersistentVolumeClaim", model), "message": "pvc delete refused"},
    )  # fmt: skip
    rule.raise_for_status()
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204

    async def says_why() -> bool:
        status, reason = await model_status(api, public_id)
        return status == "deleting" and "PersistentVolumeClaim" in (reason or "")

    await eventually(says_why, within=60)
    _, reason = await model_status(api, public_id)
    assert reason is not None
    assert reason.startswith("delete not finished: Forbidden"), reason
    assert (await cluster.http.get(claim)).status_code == 200  # refused: still there
    taken = await api.post(MODELS, json=full_body(model))
    assert taken.status_code == 409, taken.text  # the name is not free while it is left

    (await cluster.control.delete(f"/_kubesim/fault-rules/{rule.json()['id']}")).raise_for_status()

    async def removed() -> bool:
        return (await api.get(f"{MODELS}/{public_id}")).status_code == 404

    await eventually(removed, within=120)
    assert await generations(cluster, public_id) == {}
    assert await pods_of(cluster, public_id) == set()
    assert (await cluster.http.get(claim)).status_code == 404
    again = await api.post(MODELS, json=full_body(model))
    assert again.status_code == 201, again.text
