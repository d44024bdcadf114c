"""The console in a real browser (Debian's chromium, driven by Playwright) against the whole
stack: the key prompt, the cluster, creating the seed's model and watching it run without a
reload, the API's error text, delete, All models, axe-core, and no console errors; day two
on a model's page: scale, restart, a stale If-Match, a metadata edit, each followed live."""

import os
import re
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    async_playwright,
    expect,
)

from jan_models.stack import LocalStack
from tests.e2e.test_day_two import cpu_body, create_running, patch, running_at
from tests.e2e.test_walkthrough import MODELS, body
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "data" / "axe-4.14.1.min.js"
SEED_NAME = "qwen3-coder-30b"
TOO_LARGE_GPUS = 16


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    assert shutil.which("chromium") == CHROMIUM, "make test installs Debian's chromium"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        await launched.close()


class Console:
    """A page of the console, and every console error and page error it raised."""

    def __init__(self, page: Page, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    async def screenshot(self, name: str) -> None:
        await self.page.screenshot(path=self.shots / f"{name}.png", full_page=True)

    async def serious_accessibility_violations(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it stands."""
        if not await self.page.evaluate("typeof window.axe !== 'undefined'"):
            # Through the DevTools protocol: the page's policy rightly refuses inline scripts.
            await self.page.evaluate(AXE.read_text())
        result: dict[str, Any] = await self.page.evaluate(
            "axe.run(document, {resultTypes: ['violations']})"
        )
        return [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]][:3]}
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]


@pytest.fixture
async def console(browser: Browser, tmp_path: Path) -> AsyncIterator[Console]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    yield Console(page, tmp_path)
    await context.close()
    # `JAN_MODELS_CONSOLE_SHOTS=docs/console` refreshes the README's pictures.
    if target := os.environ.get("JAN_MODELS_CONSOLE_SHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        for shot in tmp_path.glob("*.png"):
            shutil.copy(shot, Path(target) / shot.name)


async def ask_for_gpus(page: Page, count: int) -> None:
    for label in ("Minimum GPUs", "Maximum GPUs", "GPUs per replica"):
        await page.get_by_label(label).fill(str(count))


async def delete_and_wait(api: httpx.AsyncClient, public_id: str) -> None:
    """Deleted, and gone: its name is free again for the session's other tests."""
    assert (await api.delete(f"{MODELS}/{public_id}")).status_code == 204

    async def gone() -> bool:
        return (await api.get(f"{MODELS}/{public_id}")).status_code == 404

    await eventually(gone, within=60)


async def test_the_console_walkthrough(
    console: Console, stack: LocalStack, api_key: str, api: httpx.AsyncClient
) -> None:
    page = console.page
    response = await page.goto(f"{stack.api_url}/console")
    assert response is not None
    assert response.status == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]

    # The key is asked once and kept in this tab's session storage only.
    await expect(page.get_by_label("API key")).to_be_visible()
    assert await console.serious_accessibility_violations() == []
    await page.get_by_label("API key").fill("jm_not_a_key")
    await page.get_by_role("button", name="Connect").click()
    await expect(page.locator("#key-error")).to_have_text(
        "The API refused the key: missing or invalid API key"
    )
    await page.get_by_label("API key").fill(api_key)
    await page.get_by_role("button", name="Connect").click()
    await expect(page.locator("#live")).to_have_text("Live")
    assert await page.evaluate("sessionStorage.getItem('jan-models.api-key')") == api_key
    assert await page.evaluate("localStorage.length") == 0
    await page.evaluate("window.sameDocument = true")

    # Cluster: kubesim's GPU nodes as tiles, its GPUs counted, every component ready.
    cluster = (await api.get("/v1/organization/models/status")).json()["cluster_status"]
    await expect(page.locator("#cluster-summary")).to_contain_text(f"{cluster['total_gpus']} GPUs")
    tiles = page.locator("#nodes .tile .name")
    await expect(tiles).to_have_count(len(cluster["gpu_nodes"]))
    assert sorted(await tiles.all_text_contents()) == sorted(
        node["node_name"] for node in cluster["gpu_nodes"]
    )
    await expect(page.locator("#components .badge")).to_have_text(["ready"] * 4)
    products = {node["gpu_type"] for node in cluster["gpu_nodes"]}
    await expect(page.locator("#products tbody tr")).to_have_count(len(products))
    await console.screenshot("cluster")
    assert await console.serious_accessibility_violations() == []

    # Create: the documented example, first too large (the API's text is shown), then as is.
    await page.get_by_role("link", name="Models", exact=True).click()
    await page.get_by_role("link", name="Create model").click()
    await page.get_by_role("button", name="Fill in the documented example").click()
    await expect(page.get_by_label("Name", exact=True)).to_have_value(SEED_NAME)
    await ask_for_gpus(page, TOO_LARGE_GPUS)
    await page.get_by_role("button", name="Create", exact=True).click()
    await expect(page.locator("#create-error")).to_have_text(
        f"no GPU node can satisfy the requirements: min {TOO_LARGE_GPUS} GPUs with 24Gi VRAM"
    )
    await console.screenshot("create")
    assert await console.serious_accessibility_violations() == []
    await ask_for_gpus(page, 1)
    await page.get_by_role("button", name="Create", exact=True).click()

    # The model's page follows it live: creating -> deploying -> running, no reload.
    await expect(page).to_have_url(re.compile(r"#/models/mdl_[a-z0-9]{12}$"))
    await expect(page.locator("#model-status")).to_have_text("running", timeout=60_000)
    statuses = await page.locator("#model-events .badge").all_text_contents()
    assert statuses[:3] == ["creating", "deploying", "running"], statuses
    assert await page.evaluate("window.sameDocument") is True
    await expect(page.locator("#model-resources")).to_contain_text("Running", timeout=20_000)
    await console.screenshot("model-created")
    assert await console.serious_accessibility_violations() == []

    # Models: the list shows it running, filtered by search.
    await page.get_by_role("link", name="← Models").click()
    await page.get_by_label("Search models").fill(SEED_NAME)
    row = page.locator("#models-list .row", has_text=SEED_NAME)
    await expect(row.locator(".badge")).to_have_text("running")
    await expect(row).to_contain_text("1")  # replicas, from /all
    await console.screenshot("models")
    assert await console.serious_accessibility_violations() == []

    # All models in the cluster: managed and unmanaged, as /all gives them.
    await page.get_by_role("link", name="All models").click()
    entry = page.locator("#all-list .row", has_text=SEED_NAME)
    await expect(entry).to_contain_text("managed · yours")
    await console.screenshot("all-models")
    assert await console.serious_accessibility_violations() == []

    # Delete, with a confirmation; the page learns of the deletion from the stream.
    await page.get_by_role("link", name="Models", exact=True).click()
    await page.locator("#models-list .row a", has_text=SEED_NAME).click()
    await page.get_by_role("button", name="Delete…").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(f"Delete {SEED_NAME}?")
    await dialog.get_by_role("button", name="Delete").click()
    await expect(page.locator("#model-notice")).to_have_text(
        "This model has been deleted.", timeout=60_000
    )
    public_id = page.url.rsplit("/", 1)[1]
    await page.get_by_role("link", name="← Models").click()
    await expect(page.locator("#models-list .row", has_text=SEED_NAME)).to_have_count(0)

    async def gone() -> bool:  # the name is free again for the other tests of the session
        return (await api.get(f"/v1/organization/models/{public_id}")).status_code == 404

    await eventually(gone, within=60)
    assert await page.evaluate("window.sameDocument") is True

    # The only errors in the browser's console are the two refusals the test asked for.
    refused = "Failed to load resource: the server responded with a status of"
    assert Counter(console.errors) == Counter(
        [f"{refused} 401 (Unauthorized)", f"{refused} 400 (Bad Request)"]
    ), console.errors


# Every text the model's status badge shows, in order, from the moment this is installed.
_RECORD_STATUSES = """() => {
  window.statusesSeen = [document.getElementById("model-status").textContent];
  new MutationObserver(() => {
    const now = document.getElementById("model-status").textContent;
    if (window.statusesSeen[window.statusesSeen.length - 1] !== now) window.statusesSeen.push(now);
  }).observe(document.getElementById("model-status"), { childList: true, characterData: true, subtree: true });
}"""


_SHOWN_UPDATING_THEN_RUNNING = """() => {
  const seen = window.statusesSeen;
  return seen.length >= 2 && seen[seen.length - 2] === "updating" && seen[seen.length - 1] === "running";
}"""


async def statuses_seen(page: Page) -> list[str]:
    seen: list[str] = await page.evaluate("window.statusesSeen")
    return seen


async def test_day_two_on_a_models_page(
    console: Console, stack: LocalStack, api_key: str, api: httpx.AsyncClient
) -> None:
    """Scale 1 -> 2, a refused scale, a stale If-Match, a restart and a new display name,
    each from the model's page and each followed live from the event stream, no reload."""
    page = console.page
    name = "console-day-two"
    public_id = await create_running(api, cpu_body(name))
    await page.context.add_init_script(f"sessionStorage.setItem('jan-models.api-key', {api_key!r})")
    await page.goto(f"{stack.api_url}/console#/models/{public_id}")
    await expect(page.locator("#model-status")).to_have_text("running")
    await expect(page.locator("#model-ready")).to_have_text("1")
    await page.evaluate("window.sameDocument = true")
    await page.evaluate(_RECORD_STATUSES)
    replicas = page.get_by_label("Replicas", exact=True)
    scale = page.get_by_role("button", name="Scale", exact=True)

    # Scale 1 -> 2: the replicas ready follow the stream up to 2.
    await replicas.fill("2")
    await scale.click()
    await expect(page.locator("#model-notice")).to_have_text("Scaling to 2 replicas.")
    await expect(page.locator("#model-desired")).to_have_text("2", timeout=60_000)
    await expect(page.locator("#model-ready")).to_have_text("2", timeout=60_000)
    await expect(page.locator("#model-status")).to_have_text("running", timeout=60_000)
    details = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
    assert details["generation"] == 2
    await expect(page.locator("#model-generation")).to_contain_text("2")
    # Its pods kept, the new generation may run within a frame: the history shows it came.
    update = page.locator("#model-events li", has_text="deployment_config.replicas")
    await expect(update).to_contain_text("updated · gen 2")

    # A scale the API refuses: the page shows the API's own words for that value.
    refused = await patch(api, public_id, {"deployment_config": {"replicas": 1001}})
    assert refused.status_code == 400, refused.text
    await replicas.fill("1001")
    await scale.click()
    await expect(page.locator("#model-error")).to_have_text(refused.json()["error"])

    # A change made meanwhile elsewhere: the page's If-Match is stale, the API says 412.
    await replicas.fill("3")  # started from generation 2
    elsewhere = await api.post(f"{MODELS}/{public_id}/restart")
    assert elsewhere.status_code == 202, elsewhere.text
    generation = elsewhere.json()["model"]["generation"]
    await scale.click()
    await expect(page.locator("#model-error")).to_have_text(
        f"model changed: its generation is now {generation}"
    )
    await expect(page.locator("#model-notice")).to_contain_text(f"generation {generation}")
    await running_at(api, public_id, generation)
    await expect(page.locator("#model-status")).to_have_text("running", timeout=60_000)
    assert (await api.get(f"{MODELS}/{public_id}")).json()["model"]["replicas"] == 2

    # Restart, confirmed: updating, then running again, live.
    await page.evaluate(_RECORD_STATUSES)
    await page.get_by_role("button", name="Restart…").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(f"Restart {name}?")
    assert await console.serious_accessibility_violations() == []
    await dialog.get_by_role("button", name="Restart").click()
    await expect(page.locator("#model-notice")).to_have_text(
        f"Restarting: generation {generation + 1} replaces the pods."
    )
    # The notice is written with the answer, the status on the next frame: wait for the
    # page to have shown `updating` then `running`, not for a `running` still on screen.
    await page.wait_for_function(_SHOWN_UPDATING_THEN_RUNNING, timeout=60_000)
    await expect(page.locator("#model-status")).to_have_text("running")
    seen = await statuses_seen(page)
    assert seen[-2:] == ["updating", "running"], seen
    await expect(page.locator("#model-events li", has_text="restart").first).to_be_visible()

    # Metadata: a new display name, same generation, no pods touched.
    await page.locator("#edit-form").get_by_label("Display name").fill("Console day two")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#model-notice")).to_have_text("Saved.")
    await expect(page.locator("#model-title")).to_have_text(f"Console day two ({name})")
    assert (await api.get(f"{MODELS}/{public_id}")).json()["model"]["generation"] == generation + 1
    await expect(page.locator("#model-conditions tbody tr").first).to_be_visible()
    # /all, read again after the events, shows it running in the cluster too.
    await expect(page.locator("#model-resources")).to_contain_text("Running", timeout=30_000)
    await console.screenshot("model")
    assert await console.serious_accessibility_violations() == []
    assert await page.evaluate("window.sameDocument") is True

    await delete_and_wait(api, public_id)
    # The only error in the browser's console is the 412 the test provoked.
    assert console.errors == [
        "Failed to load resource: the server responded with a status of 412 (Precondition Failed)"
    ], console.errors


def detail(page: Page, name: str) -> Locator:
    """The value a model page's Details card shows for `name`."""
    return page.locator("#model-details dt", has_text=re.compile(f"^{name}$")).locator(
        "xpath=following-sibling::dd[1]"
    )


async def test_an_autoscaled_models_page_scales_its_bounds(
    console: Console, stack: LocalStack, api_key: str, api: httpx.AsyncClient
) -> None:
    """An autoscaled model's Scale card moves its autoscaler's minimum and maximum, checks
    them in the API's words first, and turns into the replicas input (and back) when the
    model stops (or starts) autoscaling elsewhere, live."""
    page = console.page
    name = "console-autoscaled"
    payload = body(name, gpu_count=None)  # the seed's: autoscaled, 1 to 8 replicas
    payload["requirements"] = {"cpu": "100m", "memory": "128Mi"}
    public_id = await create_running(api, payload)
    await page.context.add_init_script(f"sessionStorage.setItem('jan-models.api-key', {api_key!r})")
    await page.goto(f"{stack.api_url}/console#/models/{public_id}")
    await expect(page.locator("#model-status")).to_have_text("running")
    await page.evaluate("window.sameDocument = true")
    form = page.locator("#scale-form")
    least = form.get_by_label("Minimum replicas")
    most = form.get_by_label("Maximum replicas")
    scale = form.get_by_role("button", name="Scale", exact=True)

    # The bounds as the details give them, the replicas now as text, no replicas input.
    await expect(least).to_have_value("1")
    await expect(most).to_have_value("8")
    await expect(form.get_by_label("Replicas", exact=True)).to_be_hidden()
    await expect(page.locator("#scale-now")).to_have_text(
        "Now 1 replica wanted, 1 ready; the autoscaler chooses between these bounds."
    )
    await expect(detail(page, "Replicas")).to_have_text(
        "autoscaled, 1 to 8 on num_requests_running 40"
    )
    await expect(detail(page, "Rollout")).to_have_text("Recreate")
    await expect(detail(page, "Hugging Face token")).to_have_text("yes")
    await expect(detail(page, "Secret environment")).to_have_text("none")
    assert await console.serious_accessibility_violations() == []

    # Bounds the API would refuse: its own words, and nothing sent.
    for bounds, fields in [
        ({"min_replicas": 6, "max_replicas": 4}, ("6", "4")),
        ({"min_replicas": 1, "max_replicas": 1001}, ("1", "1001")),
        ({"min_replicas": 0, "max_replicas": 4}, ("0", "4")),
    ]:
        refused = await patch(api, public_id, {"deployment_config": {"autoscaling_config": bounds}})
        assert refused.status_code == 400, refused.text
        await least.fill(fields[0])
        await most.fill(fields[1])
        await scale.click()
        await expect(page.locator("#model-error")).to_have_text(refused.json()["error"])
    unchanged = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
    assert unchanged["generation"] == 1
    assert unchanged["deployment_config"]["autoscaling_config"]["max_replicas"] == 8

    # A new maximum: a new generation, read back in the details and the form.
    await least.fill("1")
    await most.fill("5")
    await scale.click()
    await expect(page.locator("#model-notice")).to_have_text(
        "Autoscaling between 1 and 5 replicas."
    )
    await expect(page.locator("#model-error")).to_have_text("")
    changed = (await api.get(f"{MODELS}/{public_id}")).json()["model"]
    assert changed["generation"] == 2
    scaling = changed["deployment_config"]["autoscaling_config"]
    assert (scaling["min_replicas"], scaling["max_replicas"]) == (1, 5)
    await expect(detail(page, "Replicas")).to_have_text(
        "autoscaled, 1 to 5 on num_requests_running 40"
    )
    await expect(page.locator("#model-status")).to_have_text("running", timeout=60_000)
    await expect(most).to_have_value("5")
    await console.screenshot("model-autoscaled")

    # Autoscaling turned off elsewhere: the card shows the replicas input, live; then on again.
    off = await patch(api, public_id, {"deployment_config": {"enable_autoscaling": False}})
    assert off.status_code == 200, off.text
    await running_at(api, public_id, 3)
    replicas = form.get_by_label("Replicas", exact=True)
    await expect(replicas).to_be_visible(timeout=30_000)
    await expect(replicas).to_have_value("1")
    await expect(least).to_be_hidden()
    await expect(detail(page, "Replicas")).to_have_text("1")
    on = await patch(api, public_id, {"deployment_config": {"enable_autoscaling": True}})
    assert on.status_code == 200, on.text
    await running_at(api, public_id, 4)
    await expect(most).to_have_value("5", timeout=30_000)
    await expect(replicas).to_be_hidden()
    assert await console.serious_accessibility_violations() == []
    assert await page.evaluate("window.sameDocument") is True

    await delete_and_wait(api, public_id)
    assert console.errors == [], console.errors
