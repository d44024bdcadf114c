"""A model's details body is rendered once per version of the model, never served stale."""

from dataclasses import replace
from datetime import UTC, datetime

import orjson
from bson import ObjectId

from services.api.documents import new_model_document
from services.api.records import ModelDetails
from services.api.requests import CreateModelRequest
from services.api.views import detail_view
from services.api.web.examples import SEED_CREATE_REQUEST
from services.api.web.rendered import RenderedDetails

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def details(model_id: int = 1) -> ModelDetails:
    request = CreateModelRequest.model_validate({**SEED_CREATE_REQUEST, "name": f"m{model_id}"})
    document = new_model_document(
        request,
        model_id=model_id,
        public_id=f"mdl_{model_id:012d}",
        organization_id=7,
        hf_token_encrypted=None,
        now=NOW,
        due_at=NOW,
    )
    document["_id"] = ObjectId()
    return ModelDetails.from_document(document)


def test_the_same_version_of_a_model_is_rendered_once_and_a_new_one_again() -> None:
    rendered = RenderedDetails()
    first = details()

    body = rendered.body(first)
    # the cache hands the same record out until the model changes; its config is read
    # afresh each time (an equal dict)
    again = rendered.body(ModelDetails(first.model, dict(first.deployment_config)))
    running = replace(first.model, status="running")
    moved = rendered.body(ModelDetails(running, first.deployment_config))
    config = first.deployment_config | {"image": "vllm/vllm-openai:v0.11.0"}
    reconfigured = rendered.body(ModelDetails(running, config))
    # an equal record that is not the same object (read from MongoDB) is rendered again
    equal = rendered.body(ModelDetails(replace(running), config))

    assert again is body
    assert orjson.loads(body) == detail_view(first)
    assert orjson.loads(moved)["model"]["status"] == "running"
    assert orjson.loads(reconfigured)["model"]["deployment_config"]["image"].endswith("v0.11.0")
    assert equal == reconfigured
    assert equal is not reconfigured


def test_it_holds_a_bounded_number_of_bodies() -> None:
    rendered = RenderedDetails(held=2)
    one, two, three = details(1), details(2), details(3)
    body = rendered.body(one)
    rendered.body(two)
    assert rendered.body(one) is body  # asked again: now the most recent
    rendered.body(three)  # drops two, the least recently asked
    assert rendered.body(one) is body
    assert len(rendered._held) == 2
