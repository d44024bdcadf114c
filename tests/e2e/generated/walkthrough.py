"""The seed's walkthrough through a client generated from `/openapi.json` by
openapi-python-client, as an integrating team would write it: typed bodies, no casts.

`tests/e2e/test_generated_client.py` generates the `jan_models_client` package beside this
file's copy, runs it against the stack (`walkthrough.py URL KEY`) and type-checks it with
`mypy --strict`; the repository's own mypy run leaves it out (the package is generated).
"""

import sys
import time

from jan_models_client import AuthenticatedClient
from jan_models_client.api.organization_models import (
    create_model,
    delete_model,
    get_cluster_status,
    get_model,
    list_all_models,
    list_models,
)
from jan_models_client.models import (
    AllModelsBody,
    CreatedBody,
    CreatedModelStatus,
    CreateModelRequest,
    DeploymentConfigRequest,
    DetailsBody,
    ErrorBody,
    GpuRequirements,
    ModelDetailsStatus,
    ModelListBody,
    Requirements,
    StatusBody,
)

NAME = "client-walkthrough"
DEADLINE_SECONDS = 90.0


def details(client: AuthenticatedClient, model_id: str) -> DetailsBody | ErrorBody:
    answer = get_model.sync(model_id, client=client)
    assert isinstance(answer, DetailsBody | ErrorBody), answer
    return answer


class Check:
    def __init__(self, status: ModelDetailsStatus | None) -> None:
        self.status = status

    def __call__(self, answer: DetailsBody | ErrorBody) -> bool:
        if self.status is None:
            return isinstance(answer, ErrorBody)
        return isinstance(answer, DetailsBody) and answer.model.status == self.status


def until(what: str, reached: Check, client: AuthenticatedClient, model_id: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not reached(details(client, model_id)):
        assert time.monotonic() < deadline, f"{model_id} never became {what}"
        time.sleep(0.5)


def main(base_url: str, key: str) -> None:
    client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)

    status = get_cluster_status.sync(client=client)
    assert isinstance(status, StatusBody), status
    assert status.cluster_status.has_gpus
    assert status.cluster_status.total_gpus >= 1

    request = CreateModelRequest(
        name=NAME,
        display_name="Client Walkthrough",
        huggingface_id="Qwen/Qwen3-0.6B",
        requirements=Requirements(
            cpu="500m", memory="1Gi", gpu=GpuRequirements(min_gpus=1, max_gpus=1)
        ),
        deployment_config=DeploymentConfigRequest(
            image="vllm/vllm-openai:v0.10.2",
            command=["vllm"],
            args=["serve", "Qwen/Qwen3-0.6B", "--served-model-name", NAME],
        ),
        tags=["walkthrough"],
    )
    created = create_model.sync(client=client, body=request)
    assert isinstance(created, CreatedBody), created
    assert created.model.status is CreatedModelStatus.CREATING
    model_id = created.model.public_id

    until("running", Check(ModelDetailsStatus.RUNNING), client, model_id)
    by_integer = details(client, str(created.model.id))
    assert isinstance(by_integer, DetailsBody)
    assert by_integer.model.public_id == model_id
    assert by_integer.model.endpoint_url.endswith(":8000")
    config = by_integer.model.deployment_config
    assert config.image == "vllm/vllm-openai:v0.10.2"
    assert config.replicas == 1
    assert config.autoscaling_config is None
    assert config.has_hugging_face_token is False
    assert config.secret_env_names == []

    listed = list_models.sync(client=client, tag=["walkthrough"])
    assert isinstance(listed, ModelListBody), listed
    assert [m.public_id for m in listed.models] == [model_id]
    assert listed.next_offset is None

    everything = list_all_models.sync(client=client)
    assert isinstance(everything, AllModelsBody), everything
    mine = [m for m in everything.models if m.name == NAME]
    assert len(mine) == 1
    assert mine[0].is_own is True

    deleted = delete_model.sync_detailed(model_id, client=client)
    assert deleted.status_code == 204
    until("gone", Check(None), client, model_id)
    gone = details(client, model_id)
    assert isinstance(gone, ErrorBody)
    assert gone.error == f"model '{model_id}' not found"
    print("walkthrough ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
