"""The simulated clusters the suite seeds, and the create bodies it sends."""

from jan_models.bench import clusters
from jan_models.bench.loadgen import create_body
from kubesim.scenario import Scenario
from services.api.requests import CreateModelRequest
from services.api.rules import check_served_model_name
from shared import labels


def test_reads_cluster_has_the_organizations_managed_models_with_gpu_pods() -> None:
    data = clusters.reads_scenario(
        nodes=40, gpu_share=0.25, deployments=30, managed=3, organization_id=7
    )
    scenario = Scenario.model_validate(data)
    assert len(scenario.all_nodes()) == 40 + 4  # generated plus the default scenario's
    managed = [o for o in data["objects"] if o["metadata"]["labels"].get(labels.MANAGED)]
    assert [o["metadata"]["name"] for o in managed] == ["bench-00001", "bench-00002", "bench-00003"]
    first = managed[0]
    assert first["metadata"]["labels"][labels.ORGANIZATION_ID] == "7"
    assert first["metadata"]["labels"][labels.MODEL_ID] == clusters.public_id(1)
    container = first["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"][labels.GPU_RESOURCE] == "1"
    unmanaged = [o for o in data["objects"] if o not in managed]
    assert len(unmanaged) == 27
    assert all(o["spec"]["replicas"] == 0 for o in unmanaged)
    assert all(labels.MODEL_NAME in o["metadata"]["labels"] for o in unmanaged)


def test_create_cluster_has_a_gpu_for_every_create() -> None:
    scenario = Scenario.model_validate(clusters.create_scenario(gpu_nodes=5))
    gpus = sum(node.gpu.count for node in scenario.all_nodes() if node.gpu is not None)
    assert gpus >= 5 * 8


def test_scale_cluster_is_the_inventory_benchmarks_shape() -> None:
    data = clusters.scale_scenario(nodes=100, deployments=50)
    assert data["generate"]["gpu_share"] == 0.5
    assert len(data["objects"]) == 50
    assert Scenario.model_validate(data).generate is not None


def test_create_bodies_are_valid_and_name_their_served_model() -> None:
    body = create_body(clusters.create_template(), "create-00042")
    request = CreateModelRequest.model_validate(body)
    assert request.name == "create-00042"
    assert "--served-model-name create-00042 " in body["deployment_config"]["args"][1]
    check_served_model_name(name=request.name, config=request.deployment_config.spec())
    assert "hugging_face_token" not in body["deployment_config"]
