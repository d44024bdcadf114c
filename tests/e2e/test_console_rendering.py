"""How the console draws what the API may answer, in a real browser, with the API's answers
chosen by the test: the admission fields of `/status` when present, and data that looks
like markup shown as text. The page and its headers are the package's own."""

import json
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from services.api.web.console import ASSETS, HEADERS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ORIGIN = "http://console.test"
HOSTILE = '<img src=x onerror="window.injected=1">'
CHROMIUM = "/usr/bin/chromium"


def gpu_node(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "node_name": name,
        "gpu_count": 8,
        "gpu_type": "NVIDIA-H100-80GB-HBM3",
        "total_vram": "655360Mi",
        "available_vram": "81920Mi",
        **fields,
    }


STATUS = {
    "organization_id": 1,
    "cluster_status": {
        "has_gpus": True,
        "total_nodes": 3,
        "gpu_nodes": [
            gpu_node(
                "gpu-busy",
                allocated_gpus=6,
                reserved_gpus=1,
                free_gpus=1,
                schedulable=True,
            ),
            gpu_node(
                HOSTILE,
                allocated_gpus=0,
                reserved_gpus=0,
                free_gpus=8,
                schedulable=False,
                unschedulable_reason="node is cordoned",
            ),
        ],
        "total_gpus": 16,
        "gpu_operator_ok": True,
        "aibrix_ok": False,
        "kuberay_ok": True,
        "envoy_gateway_ok": True,
    },
    "quota": {"max_gpus": 8, "used_gpus": 7},
}
HOSTILE_ENTRY: dict[str, Any] = {
    "id": 1,
    "public_id": "mdl_aaaaaaaaaaaa",
    "name": "hostile",
    "display_name": HOSTILE,
    "status": "running",
    "model_type": "completion",
}
MODELS = {"models": [HOSTILE_ENTRY], "total": 1}
DETAIL = {
    **HOSTILE_ENTRY,
    "organization_id": 1,
    "description": HOSTILE,
    "generation": 3,
    "observed_generation": 3,
    "replicas": 2,
    "ready_replicas": 1,
    "updated_replicas": 2,
    "tags": [HOSTILE],
    "is_public": False,
    "deployment_config": {
        "image": HOSTILE,
        "image_pull_policy": "IfNotPresent",
        "gpu_count": None,
        "enable_pvc": False,
        "enable_autoscaling": False,
        "autoscaling_config": None,
        "replicas": 2,
        "rollout": {"strategy": "Recreate", "max_surge": 0, "max_unavailable": 1},
        "has_hugging_face_token": False,
        "secret_env_names": [HOSTILE],
    },
    "conditions": [
        {
            "type": "Degraded",
            "status": "True",
            "reason": "CrashLoopBackOff",
            "message": HOSTILE,
            "last_transition_time": "2025-01-01T10:00:00Z",
        }
    ],
}


async def answer(route: Route) -> None:
    path = route.request.url.removeprefix(ORIGIN).split("#", 1)[0]
    if path.startswith("/console"):
        name = path.removeprefix("/console").strip("/") or "index.html"
        asset = ASSETS[name]
        await route.fulfill(body=asset.body, content_type=asset.media_type, headers=HEADERS)
    elif path.startswith("/v1/organization/models/events/stream"):
        await route.fulfill(
            body="retry: 2000\nid: 0\n: connected\n\n", content_type="text/event-stream"
        )
    elif path.startswith("/v1/organization/models/status"):
        await route.fulfill(json=STATUS)
    elif path.startswith("/v1/organization/models/all"):
        await route.fulfill(json={"models": [], "total": 0})
    elif path.startswith("/v1/organization/models?"):
        await route.fulfill(json=MODELS)
    elif path == "/v1/organization/models/mdl_aaaaaaaaaaaa":
        await route.fulfill(json={"model": DETAIL}, headers={"ETag": '"3"'})
    else:
        await route.fulfill(status=404, json={"error": f"not found: {path}"})


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    assert shutil.which("chromium") == CHROMIUM, "make test installs Debian's chromium"
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"]
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        await context.add_init_script(
            f"sessionStorage.setItem('jan-models.api-key', {json.dumps('jm_test')})"
        )
        await context.route(f"{ORIGIN}/**", answer)
        yield await context.new_page()
        await browser.close()


async def test_node_tiles_show_use_and_schedulability_when_status_gives_them(page: Page) -> None:
    await page.goto(f"{ORIGIN}/console#/cluster")
    busy = page.locator("#nodes .tile", has_text="gpu-busy")
    await expect(busy.locator(".use")).to_have_text("6 used · 1 reserved · 1 free")
    await expect(busy.locator(".gpus")).to_have_text("■■■■■■▣□")
    await expect(busy.locator(".memory")).to_have_text(
        "8 \N{MULTIPLICATION SIGN} GPU · 640Gi VRAM · 80Gi free"
    )
    cordoned = page.locator("#nodes .tile", has_text="cordoned")
    await expect(cordoned.locator(".why")).to_have_text("not schedulable: node is cordoned")
    await expect(page.locator("#cluster-summary")).to_have_text(
        "3 nodes, 2 with GPUs, 16 GPUs, 9 free"
    )
    await expect(page.locator("#products tbody td")).to_have_text(
        ["NVIDIA-H100-80GB-HBM3", "2", "16", "9"]
    )
    aibrix = page.locator("#components li", has_text="Aibrix")
    await expect(aibrix).to_contain_text("not ready")
    await expect(aibrix).to_contain_text("missing: podautoscalers.autoscaling.aibrix.ai")
    await expect(page.locator("#quota dt")).to_have_text(["max gpus", "used gpus"])
    await expect(page.locator("#quota dd")).to_have_text(["8", "7"])


async def test_values_that_look_like_markup_are_shown_as_text(page: Page) -> None:
    await page.goto(f"{ORIGIN}/console#/cluster")
    await expect(page.locator("#nodes .tile .name", has_text="onerror")).to_have_text(HOSTILE)
    await page.goto(f"{ORIGIN}/console#/models")
    await expect(page.locator("#models-list .row")).to_contain_text(HOSTILE)
    assert await page.locator("main img").count() == 0
    assert await page.evaluate("window.injected") is None


async def test_a_models_page_shows_its_replicas_conditions_and_markup_as_text(page: Page) -> None:
    await page.goto(f"{ORIGIN}/console#/models/mdl_aaaaaaaaaaaa")
    await expect(page.locator("#model-ready")).to_have_text("1")
    await expect(page.locator("#model-desired")).to_have_text("2")
    await expect(page.locator("#model-generation")).to_have_text("3")
    await expect(page.locator("#model-conditions tbody td")).to_have_text(
        ["Degraded", "True", "CrashLoopBackOff", HOSTILE]
    )
    await expect(page.locator("#edit-display-name")).to_have_value(HOSTILE)
    await expect(page.locator("#edit-tags")).to_have_value(HOSTILE)
    await expect(page.get_by_label("Replicas", exact=True)).to_have_value("2")
    await expect(page.locator("#model-details")).to_contain_text(f"{HOSTILE} (pull IfNotPresent)")
    await expect(page.locator("#model-details")).to_contain_text(f"Secret environment{HOSTILE}")
    assert await page.locator("main img").count() == 0
    assert await page.evaluate("window.injected") is None
