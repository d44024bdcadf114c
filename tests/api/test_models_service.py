"""`Models`, the api's application service, on fakes (no server): the gates of a create in
their order with the texts the api answers (its key's rate first), the public-id retry,
what reaches the relay, delete, PATCH and restart; and its reads: a page of the
registry, `/all`, a model's history and an event feed. Each refusal is read as the HTTP
answer it becomes (the web layer's one table from error kind to status)."""

import copy
from collections.abc import Awaitable
from dataclasses import fields
from typing import Any

import orjson
import pytest

from services.api import handlers
from services.api.cluster_models import Rendered
from services.api.history import FeedFilter, HistoryPage
from services.api.identifiers import PublicIdCollisionError
from services.api.listing import NO_FILTER, ModelFilter, WorkloadFilter
from services.api.records import ModelRecord, StoredModel
from services.api.requests import CreateModelRequest
from services.api.views import entity_tag
from services.api.web.errors import STATUS
from services.api.web.examples import SEED_CREATE_REQUEST
from shared.errors import JanModelsError, RateLimitedError
from shared.queries import StatusReply, WorkloadEntry
from shared.records import Document
from tests.api.conftest import cluster_status, gpu_placement, synced_status
from tests.api.fakes import FakeApi, fake_api, model_document

ORG = 123
KEY = "jm_abcdefgh"
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


def create(
    api: FakeApi, request: CreateModelRequest, *, organization_id: int = ORG
) -> Awaitable[ModelRecord]:
    """`Models.create` as the route calls it: the caller's organization and its key."""
    return api.models.create(request, organization_id=organization_id, key_id=KEY)


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

    assert await refusal(create(api, seed_config(args=args))) == (
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

    assert await refusal(create(api, request)) == (400, error)
    assert api.calls == []


async def test_a_taken_name_is_409_answered_by_the_insert_alone(api: FakeApi) -> None:
    await create(api, seed())
    api.calls.clear()

    assert await refusal(create(api, seed())) == (409, TAKEN)
    assert "registry.name_taken" not in api.calls
    assert "relay.kick" not in api.calls


async def test_a_taken_name_is_409_for_a_model_without_gpus_too(api: FakeApi) -> None:
    await create(api, cpu_only())

    assert await refusal(create(api, cpu_only())) == (409, TAKEN)
    assert len(api.registry.models) == 1


async def test_someone_elses_object_of_that_name_is_409(api: FakeApi) -> None:
    api.inventory.reply = synced_status(foreign_objects={"Service": [NAME]})

    assert await refusal(create(api, seed())) == (
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

    assert await refusal(create(api, seed())) == (503, UNAVAILABLE)
    assert api.registry.models == {}


async def test_no_cluster_is_403_with_the_seed_text(api: FakeApi) -> None:
    api.inventory.reply = StatusReply(
        connected=False, in_cluster=False, cluster_status=cluster_status()
    )

    assert await refusal(create(api, seed())) == (403, NOT_IN_CLUSTER)


async def test_missing_aibrix_is_403_with_the_seed_text(api: FakeApi) -> None:
    api.inventory.reply = synced_status(cluster_status=cluster_status(aibrix_ok=False))

    assert await refusal(create(api, seed())) == (403, NO_AIBRIX)


async def test_a_missing_gpu_operator_refuses_only_a_model_with_gpus(api: FakeApi) -> None:
    api.inventory.reply = synced_status(cluster_status=cluster_status(gpu_operator_ok=False))

    assert await refusal(create(api, seed())) == (403, NO_GPU_OPERATOR)
    created = await create(api, cpu_only())
    assert created.status == "creating"


async def test_over_the_quota_is_403_with_the_designs_text(api: FakeApi) -> None:
    holding_seven_of_eight(api)

    assert await refusal(create(api, two_quota_gpus())) == (
        403,
        OVER_QUOTA,
    )
    assert len(api.registry.models) == 1


async def test_exactly_the_quota_is_admitted(api: FakeApi) -> None:
    holding_seven_of_eight(api)

    created = await create(api, seed_config(enable_autoscaling=False))

    assert created.quota_gpus == 1


async def test_no_gpu_node_that_fits_is_400_with_the_seed_text(api: FakeApi) -> None:
    api.inventory.reply = synced_status(placement=gpu_placement(allocatable=2, allocated=1))

    assert await refusal(create(api, two_gpus_of_48gi())) == (
        400,
        NO_FIT,
    )
    assert api.registry.models == {}


async def test_gpus_reserved_for_an_earlier_model_are_not_planned_again(api: FakeApi) -> None:
    api.inventory.reply = synced_status(placement=gpu_placement(allocatable=2))
    await create(api, two_gpus_of_48gi())

    second = two_gpus_of_48gi("second")
    assert await refusal(create(api, second)) == (400, NO_FIT)


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
    answers = [await refusal(create(api, two_quota_gpus()))]
    api.inventory.reply = synced_status(
        cluster_status=cluster_status(aibrix_ok=False), placement=full
    )
    answers.append(await refusal(create(api, two_quota_gpus())))
    api.inventory.reply = synced_status(placement=full)
    answers.append(await refusal(create(api, two_quota_gpus())))
    api.admissions.limits[ORG] = 9
    answers.append(await refusal(create(api, two_quota_gpus())))

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
    await create(api, seed())
    request = refuse(api, refusal_kind)

    assert await refusal(create(api, request)) == (409, TAKEN)
    assert api.calls[-1] == "registry.name_taken"


# --- create: what is stored and published -----------------------------------------------------


async def test_a_model_with_gpus_is_admitted_then_remembered_then_kicked_once(
    api: FakeApi,
) -> None:
    created = await create(api, seed())

    assert api.calls == [
        "inventory.status",
        "registry.next_id",
        "admissions.admit",
        "inventory.status",  # the admission's own, in its turn
        "registry.remember",
        "relay.kick",
    ]
    stored = api.registry.stored(created.public_id)
    assert api.relay.kicked == [stored["outbox"]]
    assert stored["outbox"]["msg_id"] == f"{created.public_id}:create:1"
    assert (stored["planned_nodes"], stored["reservation"], stored["reserved"]) == (
        ["gpu-a100-1"],
        [{"node": "gpu-a100-1", "gpus": 1}],
        True,
    )
    assert (stored["gpus_per_replica"], stored["quota_gpus"]) == (1, 8)
    assert api.registry.remembered == [StoredModel.from_document(stored)]


async def test_a_model_without_gpus_is_one_plain_insert(api: FakeApi) -> None:
    created = await create(api, cpu_only())

    assert api.calls == ["inventory.status", "registry.next_id", "registry.insert", "relay.kick"]
    stored = api.registry.stored(created.public_id)
    assert (stored["planned_nodes"], stored["reserved"], stored["quota_gpus"]) == ([], False, 0)
    assert api.relay.kicked == [stored["outbox"]]


async def test_the_outbox_is_due_after_the_relays_grace(api: FakeApi) -> None:
    created = await create(api, cpu_only())

    outbox = api.registry.stored(created.public_id)["outbox"]
    assert outbox["due_at"] - created.created_at == api.relay.grace


async def test_the_token_is_stored_encrypted_only(api: FakeApi) -> None:
    created = await create(api, seed())

    stored = api.registry.stored(created.public_id)
    assert "hf_your_token_here" not in repr(stored)
    token = api.models.cipher.decrypt(stored["hf_token_encrypted"])
    assert token.get_secret_value() == "hf_your_token_here"


@pytest.mark.parametrize("request_kind", ["with gpus", "without gpus"])
async def test_a_public_id_drawn_twice_is_drawn_again(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, request_kind: str
) -> None:
    draws = iter(["mdl_aaaaaaaaaaaa", "mdl_aaaaaaaaaaaa", "mdl_bbbbbbbbbbbb"])
    monkeypatch.setattr(handlers, "new_public_id", lambda: next(draws))
    await create(api, cpu_only("first"))
    request = seed() if request_kind == "with gpus" else cpu_only()

    created = await create(api, request)

    assert created.public_id == "mdl_bbbbbbbbbbbb"
    assert api.registry.stored("mdl_bbbbbbbbbbbb")["name"] == NAME
    assert api.calls.count("relay.kick") == 2  # once per stored model


async def test_three_public_ids_all_taken_give_up(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers, "new_public_id", lambda: "mdl_aaaaaaaaaaaa")
    await create(api, cpu_only("first"))

    with pytest.raises(PublicIdCollisionError):
        await create(api, cpu_only())
    assert api.calls.count("registry.insert") == 4


# --- reads ------------------------------------------------------------------------------------


async def test_a_model_is_read_by_its_public_id_or_its_id_without_secrets_or_outbox(
    api: FakeApi,
) -> None:
    created = await create(api, seed())

    by_public_id = await api.models.get(created.public_id, organization_id=ORG)
    by_id = await api.models.get(str(created.id), organization_id=ORG)
    details = await api.models.details(created.public_id, organization_id=ORG)

    assert by_public_id == by_id
    hidden = {"_id", "outbox", "hf_token_encrypted", "secret_env_encrypted"}
    assert not hidden & {field.name for field in (*fields(ModelRecord), *fields(details))}
    assert "deployment_config" not in {field.name for field in fields(by_public_id)}
    assert details.deployment_config["has_hugging_face_token"] is True


@pytest.mark.parametrize("organization_id", [ORG, 999])
async def test_reading_an_unknown_or_another_organizations_model_is_404(
    api: FakeApi, organization_id: int
) -> None:
    created = await create(api, seed())
    raw_id = "mdl_000000000000" if organization_id == ORG else created.public_id

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
    created = await create(api, seed())
    public_id = created.public_id

    assert await refusal(api.models.delete(public_id, organization_id=999)) == (
        404,
        f"model '{public_id}' not found",
    )
    assert api.registry.stored(public_id)["status"] == "creating"


@pytest.mark.parametrize("by", ["public_id", "id"])
async def test_a_delete_marks_the_model_deleting_and_kicks_the_relay(api: FakeApi, by: str) -> None:
    created = await create(api, seed())
    api.relay.kicked.clear()

    await api.models.delete(str(getattr(created, by)), organization_id=ORG)

    stored = api.registry.stored(created.public_id)
    assert (stored["status"], stored["generation"]) == ("deleting", 2)
    assert stored["outbox"]["msg_id"] == f"{created.public_id}:delete:2"
    assert api.relay.kicked == [stored["outbox"]]


async def test_deleting_a_deleting_model_kicks_its_pending_command_again(api: FakeApi) -> None:
    created = await create(api, seed())
    public_id = created.public_id
    await api.models.delete(public_id, organization_id=ORG)

    await api.models.delete(public_id, organization_id=ORG)

    stored = api.registry.stored(public_id)
    assert stored["generation"] == 2
    assert [entry["msg_id"] for entry in api.relay.kicked[1:]] == [f"{public_id}:delete:2"] * 2


async def test_deleting_a_deleting_model_whose_command_went_out_sends_the_next_attempt(
    api: FakeApi,
) -> None:
    created = await create(api, seed())
    public_id = created.public_id
    await api.models.delete(public_id, organization_id=ORG)
    del api.registry.stored(public_id)["outbox"]  # the relay published it

    await api.models.delete(public_id, organization_id=ORG)

    assert api.relay.kicked[-1]["msg_id"] == f"{public_id}:delete:2:1"
    assert api.relay.kicked[-1]["event"] is None  # `deleting` was announced once


# --- update (PATCH) and restart ---------------------------------------------------------------


async def created_model(api: FakeApi) -> str:
    created = await create(api, seed())
    api.calls.clear()
    api.relay.kicked.clear()
    return str(created.public_id)


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

    assert updated.model.display_name == "Renamed"


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
    assert (updated.model.generation, updated.model.status) == (1, "creating")
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
    assert (updated.model.generation, updated.model.status) == (2, "updating")
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
    created = await create(api, seed(), organization_id=55)  # 1 GPU x max_replicas 8
    public_id = created.public_id

    over = {"deployment_config": {"autoscaling_config": {"max_replicas": 10}}}
    assert await refusal(api.models.update(public_id, over, organization_id=55)) == (
        403,
        "GPU quota exceeded for organization 55: 2 requested, 8 of 9 in use",
    )
    assert api.registry.stored(public_id)["generation"] == 1
    within = {"deployment_config": {"autoscaling_config": {"max_replicas": 9}}}
    updated = await api.models.update(public_id, within, organization_id=55)
    assert (updated.model.generation, updated.model.quota_gpus) == (2, 9)
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
    assert (restarted.model.generation, restarted.model.status) == (2, "updating")
    stamp = stored["restarted_at"]
    assert stamp.microsecond % 1000 == 0  # what MongoDB keeps, re-applied as is
    command = stored["outbox"]["command"]
    assert (command["generation"], command["cause"]) == (2, "update")
    assert command["restarted_at"] == stamp.isoformat().replace("+00:00", "Z")
    assert stored["outbox"]["event"]["data"]["changed"] == ["restart"]
    assert api.relay.kicked == [stored["outbox"]]


# --- the create rate: per API key, before anything else -------------------------------------


async def test_a_create_beyond_its_keys_burst_is_429_with_retry_after_and_asks_nothing() -> None:
    api = fake_api(create_rate=0.5, create_burst=1)
    await create(api, cpu_only("first"))
    calls = len(api.calls)

    with pytest.raises(RateLimitedError) as raised:
        await create(api, cpu_only("second"))

    assert (STATUS[raised.value.kind], raised.value.message) == (
        429,
        "too many requests: retry in 2s",
    )
    assert raised.value.retry_after_seconds == 2
    assert api.calls[calls:] == []


async def test_each_key_has_its_own_bucket_which_refills_with_time() -> None:
    api = fake_api(create_rate=0.5, create_burst=1)
    await create(api, cpu_only("first"))

    await api.models.create(cpu_only("other-key"), organization_id=ORG, key_id="jm_otherkey")
    assert (await refusal(create(api, cpu_only("second"))))[0] == 429
    api.clock.now += 2
    await create(api, cpu_only("second"))

    assert sorted(m["name"] for m in api.registry.models.values()) == [
        "first",
        "other-key",
        "second",
    ]


async def test_a_refused_create_still_spends_its_token() -> None:
    api = fake_api(create_rate=0.5, create_burst=1)
    api.inventory.unavailable = True
    assert (await refusal(create(api, cpu_only())))[0] == 503
    api.inventory.unavailable = False

    assert (await refusal(create(api, cpu_only())))[0] == 429


# --- reads: a page of the registry, /all, a model's history, an event feed ------------------


def put_model(
    api: FakeApi, model_id: int, *, organization_id: int = ORG, **fields: Any
) -> Document:
    """A stored model of the organization, `mdl_` and its id as its public id."""
    document = model_document() | {
        "id": model_id,
        "public_id": f"mdl_{model_id:012d}",
        "name": f"model-{model_id}",
        "organization_id": organization_id,
        **fields,
    }
    del document["_id"]
    return api.registry.put(document)


async def test_a_page_of_the_organizations_models_by_id_with_its_total_and_next_offset(
    api: FakeApi,
) -> None:
    for model_id in (4, 2, 5, 1, 3):
        put_model(api, model_id)
    put_model(api, 6, organization_id=456)

    first = await api.models.page(organization_id=ORG, where=NO_FILTER, limit=2, offset=1)
    last = await api.models.page(organization_id=ORG, where=NO_FILTER, limit=2, offset=3)
    counted = await api.models.page(organization_id=ORG, where=NO_FILTER, limit=0, offset=0)

    assert ([m.id for m in first.models], first.total, first.next_offset) == ([2, 3], 5, 3)
    assert ([m.id for m in last.models], last.total, last.next_offset) == ([4, 5], 5, None)
    assert (counted.models, counted.total, counted.next_offset) == ([], 5, None)
    assert all(isinstance(m, ModelRecord) for m in first.models)  # no field for a secret


async def test_a_page_counts_only_the_models_its_filter_admits(api: FakeApi) -> None:
    put_model(api, 1, status="running")
    put_model(api, 2)
    put_model(api, 3, status="running")

    page = await api.models.page(
        organization_id=ORG, where=ModelFilter(status="running"), limit=1, offset=0
    )

    assert ([m.id for m in page.models], page.total, page.next_offset) == ([1], 2, 1)


@pytest.mark.parametrize(
    ("limit", "offset", "error"),
    [
        (5000, 0, "limit: must be between 0 and 1000, got 5000"),
        (10, -1, "offset: must not be negative, got -1"),
    ],
)
async def test_a_page_outside_the_bounds_is_400_before_the_registry_is_read(
    api: FakeApi, limit: int, offset: int, error: str
) -> None:
    page = api.models.page(organization_id=ORG, where=NO_FILTER, limit=limit, offset=offset)

    assert await refusal(page) == (400, error)
    assert api.calls == []


def workload(name: str, **fields: Any) -> WorkloadEntry:
    return WorkloadEntry(
        name=name, namespace="jan-models", is_managed=True, status="Running", replicas=1, **fields
    )


def cluster_of_three(api: FakeApi) -> None:
    """The caller's model, another organization's and one not managed by jan-models."""
    own = put_model(api, 1, display_name="Mine", model_type="completion")["public_id"]
    other = put_model(api, 2, organization_id=456)["public_id"]
    api.inventory.workloads = [
        workload("model-1", organization_id=ORG, public_id=own),
        workload("model-2", organization_id=456, public_id=other),
        WorkloadEntry(
            name="external", namespace="default", is_managed=False, status="Pending", replicas=1
        ),
    ]


async def test_all_shows_every_workload_and_the_callers_own_with_their_registry_fields(
    api: FakeApi,
) -> None:
    cluster_of_three(api)

    rendered = await api.models.all_models(
        organization_id=ORG, where=WorkloadFilter(), limit=None, offset=0
    )

    body = orjson.loads(rendered.body)
    assert rendered.etag == entity_tag(rendered.body)
    assert (body["total"], body["next_offset"]) == (3, None)
    own, other, external = body["models"]
    assert (own["is_own"], own["display_name"], own["model_type"]) == (True, "Mine", "completion")
    assert other["is_own"] is False
    assert "display_name" not in other
    assert "is_own" not in external


async def test_all_filters_then_pages(api: FakeApi) -> None:
    cluster_of_three(api)

    rendered = await api.models.all_models(
        organization_id=ORG, where=WorkloadFilter(managed=True), limit=1, offset=1
    )

    body = orjson.loads(rendered.body)
    assert ([m["name"] for m in body["models"]], body["total"], body["next_offset"]) == (
        ["model-2"],
        2,
        None,
    )


async def test_all_is_rendered_once_per_change_of_the_registry_or_the_cluster(
    api: FakeApi,
) -> None:
    cluster_of_three(api)

    async def render() -> Rendered:
        return await api.models.all_models(
            organization_id=ORG, where=WorkloadFilter(), limit=None, offset=0
        )

    first = await render()
    assert await render() is first
    assert api.calls.count("registry.own_models") == 1
    put_model(api, 3)
    assert await render() is not first
    api.inventory.workloads_version = 1
    assert await render() is not first
    assert api.calls.count("registry.own_models") == 3


async def test_all_keeps_nothing_while_the_registry_cannot_tell_its_version(
    api: FakeApi,
) -> None:
    cluster_of_three(api)
    api.registry.version = None

    for _ in range(2):
        await api.models.all_models(
            organization_id=ORG, where=WorkloadFilter(), limit=None, offset=0
        )

    assert api.calls.count("registry.own_models") == 2


async def test_all_answers_the_inventorys_refusal(api: FakeApi) -> None:
    api.inventory.unavailable = True

    rendered = api.models.all_models(
        organization_id=ORG, where=WorkloadFilter(), limit=None, offset=0
    )

    assert await refusal(rendered) == (503, UNAVAILABLE)


def event(public_id: str, sequence: int) -> tuple[int, bytes]:
    return sequence, orjson.dumps({"subject": public_id, "id": f"e{sequence}"})


def event_ids(page: HistoryPage) -> list[str]:
    """The ids of the page's events as the route's body shows them."""
    return [event["id"] for event in orjson.loads(orjson.dumps(page.events))]


async def test_a_models_events_are_paged_after_a_sequence(api: FakeApi) -> None:
    model = put_model(api, 1)
    public_id = model["public_id"]
    api.history.events = [
        event(public_id, 1),
        event("mdl_an0ldermodel", 2),  # an earlier model of the same name
        event(public_id, 3),
        event(public_id, 4),
    ]

    first = await api.models.events(public_id, organization_id=ORG, limit=2, after=None)
    rest = await api.models.events("1", organization_id=ORG, limit=2, after=first.next_after)

    assert (event_ids(first), first.next_after) == (["e1", "e3"], 3)
    assert (event_ids(rest), rest.next_after) == (["e4"], None)
    assert api.history.asked[0] == {
        "organization_id": ORG,
        "name": "model-1",
        "public_id": public_id,
    }


async def test_another_organizations_models_events_are_404_and_not_read(api: FakeApi) -> None:
    public_id = put_model(api, 1, organization_id=456)["public_id"]

    events = api.models.events(public_id, organization_id=ORG, limit=10, after=None)

    assert await refusal(events) == (404, f"model '{public_id}' not found")
    assert "history.page" not in api.calls


@pytest.mark.parametrize(
    ("limit", "after", "error"),
    [
        (0, None, "limit: must be between 1 and 1000, got 0"),
        (10, -1, "after: must not be negative, got -1"),
        (10, 2**64 - 1, f"after: must be below {2**64 - 1}, got {2**64 - 1}"),
    ],
)
async def test_an_events_page_outside_the_bounds_is_400_before_the_model_is_read(
    api: FakeApi, limit: int, after: int | None, error: str
) -> None:
    events = api.models.events("mdl_abc123def456", organization_id=ORG, limit=limit, after=after)

    assert await refusal(events) == (400, error)
    assert api.calls == []


async def test_an_unanswered_history_is_503(api: FakeApi) -> None:
    public_id = put_model(api, 1)["public_id"]
    api.history.unavailable = True

    events = api.models.events(public_id, organization_id=ORG, limit=10, after=None)

    assert await refusal(events) == (503, "event history unavailable, retry shortly")


async def test_an_organizations_feed_starts_after_the_last_event_or_the_given_one(
    api: FakeApi,
) -> None:
    api.feeds.last_sequence = 7

    now = await api.models.open_feed(organization_id=ORG, model=None, after=None)
    resumed = await api.models.open_feed(organization_id=ORG, model=None, after=3)

    assert (now.after, resumed.after) == (7, 3)
    assert [feed.which for feed in api.feeds.opened] == [FeedFilter(organization_id=ORG)] * 2


async def test_a_models_feed_sees_that_model_only(api: FakeApi) -> None:
    public_id = put_model(api, 1)["public_id"]
    feed = await api.models.open_feed(organization_id=ORG, model="1", after=None)

    api.feeds.publish("model.events.123.model-1.accepted", {"subject": public_id})
    api.feeds.publish("model.events.123.model-1.failed", {"subject": "mdl_an0ldermodel"})
    api.feeds.publish("model.events.123.model-2.accepted", {"subject": "mdl_000000000002"})
    api.feeds.publish("model.events.456.model-1.accepted", {"subject": public_id})

    first = await feed.next()
    assert first is not None
    assert (first.sequence, orjson.loads(first.data)) == (1, {"subject": public_id})
    assert await feed.next() is None
    assert api.feeds.opened[0].which == FeedFilter(
        organization_id=ORG, model_name="model-1", public_id=public_id
    )


async def test_a_feed_of_a_model_not_theirs_is_404_and_opens_nothing(api: FakeApi) -> None:
    put_model(api, 1, organization_id=456)

    feed = api.models.open_feed(organization_id=ORG, model="1", after=None)

    assert await refusal(feed) == (404, "model '1' not found")
    assert api.feeds.opened == []
