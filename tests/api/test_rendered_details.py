"""A model's details body is rendered once per version of the model, never served stale."""

from dataclasses import replace

import orjson

from services.api.records import ModelDetails
from services.api.views import detail_view
from services.api.web.rendered import RenderedDetails
from tests.api.test_settling import stored


def details(model_id: int = 1) -> ModelDetails:
    """A model as the api creates it, as its details show it."""
    return ModelDetails.from_document(stored(model_id))


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
