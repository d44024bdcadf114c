"""The details' day-two fields over HTTP, fed by events on the real MODEL_EVENTS stream."""

from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from shared.events import (
    AppliedData,
    DegradedData,
    FailedData,
    ModelApplied,
    ModelDegraded,
    ModelFailed,
    ModelRunning,
    RunningData,
)
from tests.api.conftest import KeyFactory
from tests.api.test_status_events import (
    DEPLOYMENT,
    SOURCE,
    created_model,
    detail,
    emit,
    ref,
    wait_status,
)
from tests.waiting import poll

pytestmark = pytest.mark.integration


async def applied(js: JetStreamContext, model: dict[str, Any]) -> None:
    """What the deployer says once it applied the model's objects."""
    await emit(js, ModelApplied.of(AppliedData(**ref(model), objects=[DEPLOYMENT]), source=SOURCE))


def conditions(model: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in model["conditions"]}


async def test_details_follow_a_model_through_its_life(
    http: httpx.AsyncClient, key_for: KeyFactory, jetstream: JetStreamContext
) -> None:
    headers = await key_for(5)
    model = await created_model(http, headers)

    await applied(jetstream, model)
    deploying = await wait_status(http, model, headers, "deploying")
    assert deploying["observed_generation"] == 1
    assert conditions(deploying)["Applied"] == ("True", "Applied")
    assert conditions(deploying)["Available"] == ("Unknown", "Pending")

    running = RunningData(**ref(model), replicas=1, ready_replicas=1, updated_replicas=1)
    await emit(jetstream, ModelRunning.of(running, source="/jan-models/inventory"))
    up = await wait_status(http, model, headers, "running")
    assert (up["replicas"], up["ready_replicas"], up["updated_replicas"]) == (1, 1, 1)
    assert conditions(up) == {
        "Accepted": ("True", "Accepted"),
        "Applied": ("True", "Applied"),
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
        "Degraded": ("False", "Running"),
    }

    crash = "torch.OutOfMemoryError: CUDA out of memory."
    degraded = DegradedData(
        **ref(model), replicas=1, ready_replicas=0, reason="CrashLoopBackOff", message=crash
    )
    await emit(jetstream, ModelDegraded.of(degraded, source="/jan-models/inventory"))
    failed = FailedData(**ref(model), stage="runtime", reason="CrashLoopBackOff", message=crash)
    await emit(jetstream, ModelFailed.of(failed, source="/jan-models/inventory"))
    down = await wait_status(http, model, headers, "failed")
    assert down["status_reason"] == f"CrashLoopBackOff: {crash}"
    assert down["ready_replicas"] == 0
    assert conditions(down)["Available"] == ("False", "CrashLoopBackOff")
    assert conditions(down)["Degraded"] == ("True", "CrashLoopBackOff")
    degraded_condition = next(c for c in down["conditions"] if c["type"] == "Degraded")
    assert degraded_condition["message"] == crash


async def test_an_applied_while_running_updates_conditions_without_moving_the_status(
    http: httpx.AsyncClient, key_for: KeyFactory, jetstream: JetStreamContext
) -> None:
    headers = await key_for(5)
    model = await created_model(http, headers)
    running = RunningData(**ref(model), replicas=1, ready_replicas=1)
    await emit(jetstream, ModelRunning.of(running, source="/jan-models/inventory"))
    up = await wait_status(http, model, headers, "running")
    assert conditions(up)["Applied"] == ("Unknown", "Pending")

    await applied(jetstream, model)
    after = await poll(
        lambda: detail(http, model, headers),
        until=lambda d: conditions(d)["Applied"] == ("True", "Applied"),
    )
    assert after["status"] == "running"
