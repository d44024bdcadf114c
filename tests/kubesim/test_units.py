"""Pure-function tests: selectors, quantities, patches, field sets, scenarios."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from kubesim import GenerateSpec, default_scenario, generate_nodes
from kubesim.errors import ApiError
from kubesim.fieldsets import apply, now_iso, now_micro, object_fields
from kubesim.patching import json_patch, merge_patch, strategic_merge
from kubesim.quantity import is_quantity, parse_quantity
from kubesim.selectors import field_selector, label_selector
from kubesim.storage import new_uid
from kubesim.tables import human_duration


def _obj(labels: dict[str, str], **extra: object) -> dict[str, object]:
    return {"metadata": {"name": "x", "labels": labels}, **extra}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=1", {"a": "1"}, True),
        ("a==1", {"a": "2"}, False),
        ("a!=1", {}, True),
        ("a in (1, 2),b", {"a": "2", "b": "x"}, True),
        ("a notin (1,2)", {"a": "1"}, False),
        ("!a", {"b": "1"}, True),
        ("a", {}, False),
    ],
)
def test_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    match = label_selector(selector)
    assert match is not None
    assert match(_obj(labels)) is expected


def test_bad_label_selector_is_400() -> None:
    with pytest.raises(ApiError) as err:
        label_selector("a in 1")
    assert err.value.code == 400


def test_field_selector() -> None:
    match = field_selector("status.phase!=Running,spec.nodeName=n1")
    assert match is not None
    assert match(_obj({}, spec={"nodeName": "n1"}, status={"phase": "Pending"}))
    assert not match(_obj({}, spec={"nodeName": "n1"}, status={"phase": "Running"}))


def test_quantities() -> None:
    assert parse_quantity("500m") == Decimal("0.5")
    assert parse_quantity("2Gi") == 2 * 2**30
    assert parse_quantity("1e3") == 1000
    assert parse_quantity(4) == 4
    assert not is_quantity("lots")


def test_patches() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None}, "d": [1]}) == {
        "a": {"c": 2},
        "d": [1],
    }
    assert json_patch({"a": [1, 2]}, [{"op": "add", "path": "/a/-", "value": 3}]) == {
        "a": [1, 2, 3]
    }
    with pytest.raises(ApiError):
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    live = {
        "containers": [
            {"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]},
            {"name": "b"},
        ]
    }
    patched = strategic_merge(
        live,
        {
            "containers": [
                {"name": "a", "env": [{"name": "F", "value": "2"}]},
                {"name": "b", "$patch": "delete"},
            ]
        },
    )
    assert patched == {
        "containers": [
            {
                "name": "a",
                "image": "x",
                "env": [{"name": "E", "value": "1"}, {"name": "F", "value": "2"}],
            }
        ]
    }


def test_apply_prunes_fields_the_manager_dropped() -> None:
    first = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}},
        "data": {"x": "1"},
    }
    live: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "managedFields": []},
    }
    live = apply(live, first, manager="m", force=False, api_version="v1")
    second = {**first, "metadata": {"name": "c", "labels": {"a": "1"}}}
    live = apply(live, second, manager="m", force=False, api_version="v1")
    assert live["metadata"]["labels"] == {"a": "1"}
    assert ("f:metadata", "f:labels", "f:a") in object_fields(live)
    with pytest.raises(ApiError) as err:
        apply(live, {**second, "data": {"x": "2"}}, manager="other", force=False, api_version="v1")
    assert err.value.code == 409
    forced = apply(
        live, {**second, "data": {"x": "2"}}, manager="other", force=True, api_version="v1"
    )
    assert forced["data"] == {"x": "2"}


def test_default_scenario_and_generation() -> None:
    scenario = default_scenario()
    gpus = {n.name: n.gpu for n in scenario.nodes if n.gpu}
    assert gpus["gpu-h100-1"] is not None
    assert gpus["gpu-h100-1"].count == 8
    nodes = generate_nodes(GenerateSpec(count=100, gpu_share=0.5))
    assert len(nodes) == 100
    assert 20 < sum(1 for n in nodes if n.gpu) < 80


def test_a_conflict_names_list_items_by_their_keys_as_the_apiserver_prints_them() -> None:
    def pod(image: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "vllm", "image": image}]},
        }

    live: dict[str, Any] = {**pod("a:1"), "metadata": {"name": "p", "managedFields": []}}
    live = apply(live, pod("a:1"), manager="first", force=False, api_version="v1")
    with pytest.raises(ApiError) as err:
        apply(live, pod("a:2"), manager="second", force=False, api_version="v1")
    assert err.value.message == (
        'Apply failed with 1 conflict: conflict with "first": .spec.containers[name="vllm"].image'
    )


@pytest.mark.parametrize(
    ("seconds", "printed"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (185, "3m5s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (3 * 365 * 86400 + 86400, "3y1d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_ages_print_as_kubectl_prints_them(seconds: int, printed: str) -> None:
    assert human_duration(seconds) == printed


def test_uids_are_distinct_version_4_uuids_in_canonical_text() -> None:
    uids = [new_uid() for _ in range(20_000)]
    assert len(set(uids)) == len(uids)
    for uid in uids[:2000]:
        parsed = uuid.UUID(uid)
        assert str(parsed) == uid
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


def test_micro_time_is_the_apiserver_micro_time_of_now() -> None:
    before = datetime.now(UTC)
    text = now_micro()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text)
    assert before <= datetime.fromisoformat(text) <= after
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", now_iso())
