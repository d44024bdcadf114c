"""`Models`, the api's write rules, on fakes (no server): the gates of a create in their
order with the texts the api answers, the public-id retry, what reaches the relay, and
delete, PATCH and restart. Each refusal is read as the HTTP answer it becomes (the web
layer's one table from error kind to status)."""

import copy
from collections.abc import Awaitable
from typing import Any

import pytest

from services.api import handlers
from services.api.identifiers import PublicIdCollisionError
from services.api.requests import CreateModelRequest
from services.api.web.errors import STATUS
from services.api.web.examples import SEED_CREATE_REQUEST
from shared.errors import JanModelsError
from shared.queries import StatusReply
from shared.records import Document
from tests.api.conftest import cluster_status, gpu_placement, synced_status
from tests.api.fakes import FakeApi, fake_api

ORG = 123
NAME = "qwen3-coder-30b"
TAKEN = f"a model named '{NAME}' already exists in namespace 'jan-models'"
SEED_MISMATCH = (
    "--served-model-name 'wrong-name' must match model name 'qwen3-coder-30b' "
    "(required by Aibrix for autoscaling)"
)
NOT_IN_CLUSTER = "models API only available when running in Kubernetes cluster"
UNAVAILABLE = "cluster inventory unavailable, retry shortly"
NO_AIBRIX = "aibrix CRD not found - required for model deployment"
NO_GPU_OPERATOR = "gpu operator CRD not found - required for model deployment"
NO_FIT = "no GPU node can satisfy the requirements: min 2 GPUs with 48Gi VRAM"
OVER_QUOTA = "GPU quota exceeded for organization 123: 2 requested, 7 of 8 in use"
"""DESIGN section 8's example, to the letter."""


def seed_body(name: str = NAME) -> dict[str, Any]:
    """The seed's create body, for a model called `name`."""
    body = copy.deepcopy(SEED_CREATE_REQUEST) | {"name": name}
    args = body["deployment_config"]["args"]
    args[1] = args[1].replace(f"--served-model-name {NAME}", f"--served-model-name {name}")
    return body


def seed(name: str = NAME) -> CreateModelRequest:
    return CreateModelRequest.model_validate(seed_body(name))


def seed_config(**changes: Any) -> CreateModelRequest:
    body = seed_body()
    body["deployment_config"] |= changes
    return CreateModelRequest.model_validate(body)


def cpu_only(name: str = NAME) -> CreateModelRequest:
    body = seed_body(name)
    body["requirements"] = {"cpu": "2", "memory": "4Gi"}
    body["deployment_config"]["gpu_count"] = 0
    return CreateModelRequest.model_validate(body)


def two_gpus_of_48gi(name: str = NAME) -> CreateModelRequest:
    body = seed_body(name)
    body["requirements"]["gpu"] = {"min_vram": "48Gi", "min_gpus": 2, "max_gpus": 2}
    body["deployment_config"]["gpu_count"] = 2
    return CreateModelRequest.model_validate(body)


def two_quota_gpus() -> CreateModelRequest:
    """1 GPU x at most 2 replicas."""
    body = seed_body()
    body["deployment_config"]["autoscaling_config"]["max_replicas"] = 2
    return CreateModelRequest.model_validate(body)


async def refusal(call: Awaitable[object]) -> tuple[int, str]:
    """The status and the `error` text the api answers for what `call` raises."""
    with pytest.raises(JanModelsError) as raised:
        await call
    return STATUS[raised.value.kind], raised.value.message


def holding_seven_of_eight(api: FakeApi) -> None:
    """Organization 123 may use 8 GPUs and another model of its counts 7."""
    api.admissions.limits[ORG] = 8
    older: Document = {
        "id": 1000,
        "public_id": "mdl_older0000000",
        "organization_id": ORG,
        "namespace": "jan-models",
        "name": "older-model",
        "status": "running",
        "generation": 1,
        "quota_gpus": 7,
    }
    api.registry.put(older)


@pytest.fixture
def api() -> FakeApi:
    return fake_api()


# --- create: the gates, in order --------------------------------------------------------------


async def test_a_served_model_name_other_than_the_name_is_400_before_anything_is_asked(
    api: FakeApi,
) -> None:
    args = seed_body("wrong-name")["deployment_config"]["args"]

    assert await refusal(api.models.create(seed_config(args=args), organization_id=ORG)) == (
        400,
        SEED_MISMATCH,
    )
    assert api.calls == []


@pytest.mark.parametrize(
    ("gpu", "gpu_count", "error"),
    [
        (
            {"min_gpus": 1, "max_gpus": 1},
            2,
            "deployment_config.gpu_count: 2 is above requirements.gpu.max_gpus (1)",
        ),
        (
            {"min_gpus": 2, "max_gpus": 4},
            1,
            "deployment_config.gpu_count: 1 is below requirements.gpu.min_gpus (2)",
        ),
        (
            {"min_vram": "24Gi"},
            0,
            "deployment_config.gpu_count: 0 GPUs cannot provide requirements.gpu.min_vram "
            "(24Gi); ask for at least 1 GPU",
        ),
    ],
)
async def test_a_gpu_ask_that_contradicts_itself_is_400_before_anything_is_asked(
    api: FakeApi, gpu: dict[str, Any], gpu_count: int, error: str
) -> None:
    body = seed_body()
    body["requirements"]["gpu"] = gpu
    body["deployment_config"]["gpu_count"] = gpu_count
    request = CreateModelRequest.model_validate(body)

    assert await refusal(api.models.create(request, organization_id=ORG)) == (400, error)
    assert api.calls == []


async def test_a_taken_name_is_409_answered_by_the_insert_alone(api: FakeApi) -> None:
    await api.models.create(seed(), organization_id=ORG)
    api.calls.clear()

    assert await refusal(api.models.create(seed(), organization_id=ORG)) == (409, TAKEN)
    assert "registry.name_taken" not in api.calls
    assert "relay.kick" not in api.calls


async def test_a_taken_name_is_409_for_a_model_without_gpus_too(api: FakeApi) -> None:
    await api.models.create(cpu_only(), organization_id=ORG)

    assert await refusal(api.models.create(cpu_only(), organization_id=ORG)) == (409, TAKEN)
    assert len(api.registry.models) == 1


async def test_someone_elses_object_of_that_name_is_409(api: FakeApi) -> None:
    api.inventory.reply = synced_status(foreign_objects={"Service": [NAME]})

    assert await refusal(api.models.create(seed(), organization_id=ORG)) == (
        409,
        f"Service jan-models/{NAME} already exists and is not managed by jan-models",
    )
    assert api.registry.models == {}


@pytest.mark.parametrize(
    "outage",
    ["silent", "not synced"],
)
async def test_an_inventory_that_cannot_answer_is_503(api: FakeApi, outage: str) -> None:
    if outage == "silent":
        api.inventory.unavailable = True
    else:
        api.inventory.reply = StatusReply(connected=False, cluster_status=cluster_status())

    assert await refusal(api.models.create(seed(), organization_id=ORG)) == (503, UNAVAILABLE)
    assert api.registry.models == {}


async def test_no_cluster_is_403_with_the_seed_text(api: FakeApi) -> None:
    api.inventory.reply = StatusReply(
        connected=False, in_cluster=False, cluster_status=cluster_status()
    )

    assert await refusal(api.models.create(seed(), organization_id=ORG)) == (403, NOT_IN_CLUSTER)


async def test_missing_aibrix_is_403_with_the_seed_text(api: FakeApi) -> None:
    api.inventory.reply = synced_status(cluster_status=cluster_status(aibrix_ok=False))

    assert await refusal(api.models.create(seed(), organization_id=ORG)) == (403, NO_AIBRIX)


async def test_a_missing_gpu_operator_refuses_only_a_model_with_gpus(api: FakeApi) -> None:
    api.inventory.reply = synced_status(cluster_status=cluster_status(gpu_operator_ok=False))

    assert await refusal(api.models.create(seed(), organization_id=ORG)) == (403, NO_GPU_OPERATOR)
    created = await api.models.create(cpu_only(), organization_id=ORG)
    assert created["status"] == "creating"


async def test_over_the_quota_is_403_with_the_designs_text(api: FakeApi) -> None:
    holding_seven_of_eight(api)

    assert await refusal(api.models.create(two_quota_gpus(), organization_id=ORG)) == (
        403,
        OVER_QUOTA,
    )
    assert len(api.registry.models) == 1


async def test_exactly_the_quota_is_admitted(api: FakeApi) -> None:
    holding_seven_of_eight(api)

    created = await api.models.create(seed_config(enable_autoscaling=False), organization_id=ORG)

    assert created["quota_gpus"] == 1


async def test_no_gpu_node_that_fits_is_400_with_the_seed_text(api: FakeApi) -> None:
    api.inventory.reply = synced_status(placement=gpu_placement(allocatable=2, allocated=1))

    assert await refusal(api.models.create(two_gpus_of_48gi(), organization_id=ORG)) == (
        400,
        NO_FIT,
    )
    assert api.registry.models == {}


async def test_gpus_reserved_for_an_earlier_model_are_not_planned_again(api: FakeApi) -> None:
    api.inventory.reply = synced_status(placement=gpu_placement(allocatable=2))
    await api.models.create(two_gpus_of_48gi(), organization_id=ORG)

    second = two_gpus_of_48gi("second")
    assert await refusal(api.models.create(second, organization_id=ORG)) == (400, NO_FIT)


async def test_when_every_later_gate_would_refuse_they_answer_one_by_one_in_order(
    api: FakeApi,
) -> None:
    """Someone else's object, then a missing CRD, then the quota, then no fitting node:
    each fixed in turn uncovers the next."""
    holding_seven_of_eight(api)
    full = gpu_placement(allocatable=1, allocated=1)
    api.inventory.reply = synced_status(
        foreign_objects={"Service": [NAME]},
        cluster_status=cluster_status(aibrix_ok=False),
        placement=full,
    )
    answers = [await refusal(api.models.create(two_quota_gpus(), organization_id=ORG))]
    api.inventory.reply = synced_status(
        cluster_status=cluster_status(aibrix_ok=False), placement=full
    )
    answers.append(await refusal(api.models.create(two_quota_gpus(), organization_id=ORG)))
    api.inventory.reply = synced_status(placement=full)
    answers.append(await refusal(api.models.create(two_quota_gpus(), organization_id=ORG)))
    api.admissions.limits[ORG] = 9
    answers.append(await refusal(api.models.create(two_quota_gpus(), organization_id=ORG)))

    assert answers == [
        (409, f"Service jan-models/{NAME} already exists and is not managed by jan-models"),
        (403, NO_AIBRIX),
        (403, OVER_QUOTA),
        (400, "no GPU node can satisfy the requirements: min 1 GPUs with 24Gi VRAM"),
    ]


def refuse(api: FakeApi, refusal_kind: str) -> CreateModelRequest:
    """Make the next create of the seed meet `refusal_kind`; the request to send."""
    inventory = api.inventory
    match refusal_kind:
        case "someone else's object":
            inventory.reply = synced_status(foreign_objects={"Service": [NAME]})
        case "silent inventory":
            inventory.unavailable = True
        case "not synced":
            inventory.reply = StatusReply(connected=False, cluster_status=cluster_status())
        case "no cluster":
            inventory.reply = StatusReply(
                connected=False, in_cluster=False, cluster_status=cluster_status()
            )
        case "no aibrix":
            inventory.reply = synced_status(cluster_status=cluster_status(aibrix_ok=False))
        case "over quota":
            api.admissions.limits[ORG] = 8  # the first create counts 8 already
        case "no node fits":
            inventory.reply = synced_status(placement=gpu_placement(allocatable=1, allocated=1))
    return seed()


@pytest.mark.parametrize(
    "refusal_kind",
    [
        "someone else's object",
        "silent inventory",
        "not synced",
        "no cluster",
        "no aibrix",
        "over quota",
        "no node fits",
    ],
)
async def test_a_taken_name_is_409_before_every_later_refusal(
    api: FakeApi, refusal_kind: str
) -> None:
    await api.models.create(seed(), organization_id=ORG)
    request = refuse(api, refusal_kind)

    assert await refusal(api.models.create(request, organization_id=ORG)) == (409, TAKEN)
    assert api.calls[-1] == "registry.name_taken"


# --- create: what is stored and published -----------------------------------------------------


async def test_a_model_with_gpus_is_admitted_then_remembered_then_kicked_once(
    api: FakeApi,
) -> None:
    created = await api.models.create(seed(), organization_id=ORG)

    assert api.calls == [
        "inventory.status",
        "registry.next_id",
        "admissions.admit",
        "inventory.status",  # the admission's own, in its turn
        "registry.remember",
        "relay.kick",
    ]
    stored = api.registry.stored(created["public_id"])
    assert api.relay.kicked == [stored["outbox"]]
    assert stored["outbox"]["msg_id"] == f"{created['public_id']}:create:1"
    assert (stored["planned_nodes"], stored["reservation"], stored["reserved"]) == (
        ["gpu-a100-1"],
        [{"node": "gpu-a100-1", "gpus": 1}],
        True,
    )
    assert (stored["gpus_per_replica"], stored["quota_gpus"]) == (1, 8)
    assert api.registry.remembered == [stored]


async def test_a_model_without_gpus_is_one_plain_insert(api: FakeApi) -> None:
    created = await api.models.create(cpu_only(), organization_id=ORG)

    assert api.calls == ["inventory.status", "registry.next_id", "registry.insert", "relay.kick"]
    stored = api.registry.stored(created["public_id"])
    assert (stored["planned_nodes"], stored["reserved"], stored["quota_gpus"]) == ([], False, 0)
    assert api.relay.kicked == [stored["outbox"]]


async def test_the_outbox_is_due_after_the_relays_grace(api: FakeApi) -> None:
    created = await api.models.create(cpu_only(), organization_id=ORG)

    outbox = api.registry.stored(created["public_id"])["outbox"]
    assert outbox["due_at"] - created["created_at"] == api.relay.grace


async def test_the_token_is_stored_encrypted_only(api: FakeApi) -> None:
    created = await api.models.create(seed(), organization_id=ORG)

    stored = api.registry.stored(created["public_id"])
    assert "hf_your_token_here" not in repr(stored)
    token = api.models.cipher.decrypt(stored["hf_token_encrypted"])
    assert token.get_secret_value() == "hf_your_token_here"


@pytest.mark.parametrize("request_kind", ["with gpus", "without gpus"])
async def test_a_public_id_drawn_twice_is_drawn_again(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, request_kind: str
) -> None:
    draws = iter(["mdl_aaaaaaaaaaaa", "mdl_aaaaaaaaaaaa", "mdl_bbbbbbbbbbbb"])
    monkeypatch.setattr(handlers, "new_public_id", lambda: next(draws))
    await api.models.create(cpu_only("first"), organization_id=ORG)
    request = seed() if request_kind == "with gpus" else cpu_only()

    created = await api.models.create(request, organization_id=ORG)

    assert created["public_id"] == "mdl_bbbbbbbbbbbb"
    assert api.registry.stored("mdl_bbbbbbbbbbbb")["name"] == NAME
    assert api.calls.count("relay.kick") == 2  # once per stored model


async def test_three_public_ids_all_taken_give_up(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers, "new_public_id", lambda: "mdl_aaaaaaaaaaaa")
    await api.models.create(cpu_only("first"), organization_id=ORG)

    with pytest.raises(PublicIdCollisionError):
        await api.models.create(cpu_only(), organization_id=ORG)
    assert api.calls.count("registry.insert") == 4


# --- reads ------------------------------------------------------------------------------------


async def test_a_model_is_read_by_its_public_id_or_its_id_without_secrets_or_outbox(
    api: FakeApi,
) -> None:
    created = await api.models.create(seed(), organization_id=ORG)

    by_public_id = await api.models.get(created["public_id"], organization_id=ORG)
    by_id = await api.models.get(str(created["id"]), organization_id=ORG)
    details = await api.models.details(created["public_id"], organization_id=ORG)

    assert by_public_id == by_id
    hidden = {"_id", "outbox", "hf_token_encrypted", "secret_env_encrypted"}
    assert not hidden & (by_public_id.keys() | details.keys())
    assert "deployment_config" not in by_public_id
    assert details["deployment_config"]["has_hugging_face_token"] is True


@pytest.mark.parametrize("organization_id", [ORG, 999])
async def test_reading_an_unknown_or_another_organizations_model_is_404(
    api: FakeApi, organization_id: int
) -> None:
    created = await api.models.create(seed(), organization_id=ORG)
    raw_id = "mdl_000000000000" if organization_id == ORG else created["public_id"]

    for read in (api.models.get, api.models.details):
        assert await refusal(read(raw_id, organization_id=organization_id)) == (
            404,
            f"model '{raw_id}' not found",
        )


# --- delete -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw_id", ["mdl_000000000000", "42", "not-an-id"])
async def test_deleting_an_unknown_model_is_404(api: FakeApi, raw_id: str) -> None:
    assert await refusal(api.models.delete(raw_id, organization_id=ORG)) == (
        404,
        f"model '{raw_id}' not found",
    )
    assert "relay.kick" not in api.calls


async def test_another_organizations_model_is_404_and_stays(api: FakeApi) -> None:
    created = await api.models.create(seed(), organization_id=ORG)
    public_id = created["public_id"]

    assert await refusal(api.models.delete(public_id, organization_id=999)) == (
        404,
        f"model '{public_id}' not found",
    )
    assert api.registry.stored(public_id)["status"] == "creating"


@pytest.mark.parametrize("by", ["public_id", "id"])
async def test_a_delete_marks_the_model_deleting_and_kicks_the_relay(api: FakeApi, by: str) -> None:
    created = await api.models.create(seed(), organization_id=ORG)
    api.relay.kicked.clear()

    await api.models.delete(str(created[by]), organization_id=ORG)

    stored = api.registry.stored(created["public_id"])
    assert (stored["status"], stored["generation"]) == ("deleting", 2)
    assert stored["outbox"]["msg_id"] == f"{created['public_id']}:delete:2"
    assert api.relay.kicked == [stored["outbox"]]


async def test_deleting_a_deleting_model_kicks_its_pending_command_again(api: FakeApi) -> None:
    created = await api.models.create(seed(), organization_id=ORG)
    public_id = created["public_id"]
    await api.models.delete(public_id, organization_id=ORG)

    await api.models.delete(public_id, organization_id=ORG)

    stored = api.registry.stored(public_id)
    assert stored["generation"] == 2
    assert [entry["msg_id"] for entry in api.relay.kicked[1:]] == [f"{public_id}:delete:2"] * 2


async def test_deleting_a_deleting_model_whose_command_went_out_sends_the_next_attempt(
    api: FakeApi,
) -> None:
    created = await api.models.create(seed(), organization_id=ORG)
    public_id = created["public_id"]
    await api.models.delete(public_id, organization_id=ORG)
    del api.registry.stored(public_id)["outbox"]  # the relay published it

    await api.models.delete(public_id, organization_id=ORG)

    assert api.relay.kicked[-1]["msg_id"] == f"{public_id}:delete:2:1"
    assert api.relay.kicked[-1]["event"] is None  # `deleting` was announced once


# --- update (PATCH) and restart ---------------------------------------------------------------


async def created_model(api: FakeApi) -> str:
    created = await api.models.create(seed(), organization_id=ORG)
    api.calls.clear()
    api.relay.kicked.clear()
    return str(created["public_id"])


async def test_an_if_match_of_another_generation_is_412(api: FakeApi) -> None:
    public_id = await created_model(api)

    assert await refusal(
        api.models.update(public_id, {}, organization_id=ORG, if_match='"99"')
    ) == (412, "model changed: its generation is now 1")


async def test_a_current_if_match_is_accepted(api: FakeApi) -> None:
    public_id = await created_model(api)

    updated = await api.models.update(
        public_id, {"display_name": "Renamed"}, organization_id=ORG, if_match='"1"'
    )

    assert updated["display_name"] == "Renamed"


async def test_changing_a_deleting_model_is_409(api: FakeApi) -> None:
    public_id = await created_model(api)
    await api.models.delete(public_id, organization_id=ORG)

    assert await refusal(
        api.models.update(public_id, {"display_name": "Renamed"}, organization_id=ORG)
    ) == (409, "model is being deleted")
    assert await refusal(api.models.restart(public_id, organization_id=ORG)) == (
        409,
        "model is being deleted",
    )


async def test_a_new_name_is_400(api: FakeApi) -> None:
    public_id = await created_model(api)

    assert await refusal(api.models.update(public_id, {"name": "other"}, organization_id=ORG)) == (
        400,
        "name cannot be changed",
    )


async def test_changing_another_organizations_model_is_404(api: FakeApi) -> None:
    public_id = await created_model(api)

    assert await refusal(
        api.models.update(public_id, {"display_name": "Renamed"}, organization_id=999)
    ) == (404, f"model '{public_id}' not found")


async def test_metadata_alone_keeps_the_generation_and_kicks_nothing(api: FakeApi) -> None:
    public_id = await created_model(api)
    outbox = api.registry.stored(public_id)["outbox"]

    updated = await api.models.update(
        public_id, {"display_name": "Renamed", "tags": ["x"]}, organization_id=ORG
    )

    stored = api.registry.stored(public_id)
    assert (updated["generation"], updated["status"]) == (1, "creating")
    assert (stored["display_name"], stored["tags"], stored["outbox"]) == ("Renamed", ["x"], outbox)
    assert api.calls == ["registry.editable", "registry.change"]


async def test_a_patch_that_changes_nothing_writes_nothing(api: FakeApi) -> None:
    public_id = await created_model(api)

    await api.models.update(public_id, {"display_name": "Qwen3 Coder 30B"}, organization_id=ORG)

    assert api.calls == ["registry.editable"]


async def test_a_cluster_change_is_a_new_generation_updating_and_kicked(api: FakeApi) -> None:
    public_id = await created_model(api)
    image = "vllm/vllm-openai:v0.11.0"

    updated = await api.models.update(
        public_id, {"deployment_config": {"image": image}}, organization_id=ORG
    )

    stored = api.registry.stored(public_id)
    assert (updated["generation"], updated["status"]) == (2, "updating")
    assert stored["deployment_config"]["image"] == image
    command = stored["outbox"]["command"]
    assert (command["generation"], command["cause"]) == (2, "update")
    assert stored["outbox"]["event"]["data"]["changed"] == ["deployment_config.image"]
    assert api.relay.kicked == [stored["outbox"]]
    assert api.calls == [
        "registry.editable",
        "inventory.status",
        "registry.change",
        "relay.kick",
    ]


async def test_a_cluster_change_meets_the_cluster_gates(api: FakeApi) -> None:
    public_id = await created_model(api)
    api.inventory.reply = synced_status(cluster_status=cluster_status(aibrix_ok=False))

    assert await refusal(
        api.models.update(
            public_id, {"deployment_config": {"image": "other:1"}}, organization_id=ORG
        )
    ) == (403, NO_AIBRIX)
    assert api.registry.stored(public_id)["generation"] == 1


async def test_a_change_that_adds_gpus_counts_against_the_quota_for_what_it_adds(
    api: FakeApi,
) -> None:
    api.admissions.limits[55] = 9
    created = await api.models.create(seed(), organization_id=55)  # 1 GPU x max_replicas 8
    public_id = created["public_id"]

    over = {"deployment_config": {"autoscaling_config": {"max_replicas": 10}}}
    assert await refusal(api.models.update(public_id, over, organization_id=55)) == (
        403,
        "GPU quota exceeded for organization 55: 2 requested, 8 of 9 in use",
    )
    assert api.registry.stored(public_id)["generation"] == 1
    within = {"deployment_config": {"autoscaling_config": {"max_replicas": 9}}}
    updated = await api.models.update(public_id, within, organization_id=55)
    assert (updated["generation"], updated["quota_gpus"]) == (2, 9)
    assert api.calls[-2:] == ["registry.remember", "relay.kick"]


async def test_a_change_made_meanwhile_is_412_with_the_new_generation(api: FakeApi) -> None:
    public_id = await created_model(api)
    real_editable = api.registry.editable

    async def read_then_someone_restarts(organization_id: int, model: int | str) -> Any:
        found = await real_editable(organization_id, model)
        api.registry.stored(public_id)["generation"] = 2  # between the read and the write
        return found

    api.registry.editable = read_then_someone_restarts  # type: ignore[method-assign]  # a race, staged

    assert await refusal(
        api.models.update(public_id, {"display_name": "Renamed"}, organization_id=ORG)
    ) == (412, "model changed: its generation is now 2")


async def test_restart_is_a_new_generation_with_its_restart_stamp(api: FakeApi) -> None:
    public_id = await created_model(api)

    restarted = await api.models.restart(public_id, organization_id=ORG)

    stored = api.registry.stored(public_id)
    assert (restarted["generation"], restarted["status"]) == (2, "updating")
    stamp = stored["restarted_at"]
    assert stamp.microsecond % 1000 == 0  # what MongoDB keeps, re-applied as is
    command = stored["outbox"]["command"]
    assert (command["generation"], command["cause"]) == (2, "update")
    assert command["restarted_at"] == stamp.isoformat().replace("+00:00", "Z")
    assert stored["outbox"]["event"]["data"]["changed"] == ["restart"]
    assert api.relay.kicked == [stored["outbox"]]
