"""Scenario 7: the console in a real browser (Debian's chromium) on the reads cluster.

Figures taken inside the page: how long after navigation the models are on screen (the
console marks `jan-models:data-shown` once the newest page is drawn) and every model is
read (`jan-models:models-loaded`), the first load in a fresh browser (nothing cached)
among them; how long after a model event is published it is on screen (publish time
against the page's clock, same machine); and the longest task while the models list and
the node tiles are scrolled end to end.
"""

import json
import secrets
import time
from pathlib import Path
from typing import Any, Final

from jan_models.bench import clusters
from jan_models.bench.reads import ORGANIZATION_ID, reads_stack
from jan_models.bench.report import Check, Row, Run
from jan_models.bench.sizes import Scenario, Sizes
from jan_models.bench.stats import Latency
from shared import messaging
from shared.events import ModelRunning, RunningData

CHROMIUM: Final = "/usr/bin/chromium"
DATA_SHOWN: Final = "jan-models:data-shown"
MODELS_LOADED: Final = "jan-models:models-loaded"
LOADS: Final = 5
EVENTS: Final = 50
LONG_TASK_LIMIT_MS: Final = 100.0

_WATCH_LONG_TASKS: Final = """() => {
  window.benchLongTasks = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.benchLongTasks.push(entry.duration);
  }).observe({ type: "longtask" });
}"""
_SCROLL: Final = """async (selector) => {
  const box = document.querySelector(selector);
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  for (const down of [true, false]) {
    for (let step = 0; step <= 100; step++) {
      const at = (box.scrollHeight - box.clientHeight) * step / 100;
      box.scrollTop = down ? at : box.scrollHeight - box.clientHeight - at;
      await frame();
      await frame();
    }
  }
  return box.scrollHeight;
}"""


async def run_console(*, sizes: Sizes, run: Run, work: Path) -> None:
    from playwright.async_api import async_playwright  # a dev dependency, as the browser is

    key = f"bench-{secrets.token_hex(16)}"
    async with (
        reads_stack(sizes=sizes, work=work, key=key) as stack,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        await context.add_init_script(
            f"sessionStorage.setItem('jan-models.api-key', {json.dumps(key)})"
        )
        page = await context.new_page()
        loads, everything = [], []
        for _ in range(LOADS):
            await page.goto("about:blank")  # else the same URL is only a fragment change
            await page.goto(f"{stack.api_url}/console#/models", wait_until="commit")
            # Each load runs to the end, so the next one does not share the api with it.
            await page.wait_for_function(
                f"() => performance.getEntriesByName({MODELS_LOADED!r}).length > 0",
                timeout=120_000,
            )
            shown, loaded = await page.evaluate(
                f"[{DATA_SHOWN!r}, {MODELS_LOADED!r}].map("
                "(name) => performance.getEntriesByName(name)[0].startTime)"
            )
            loads.append(shown / 1000)
            everything.append(loaded / 1000)
        await page.wait_for_function("() => document.getElementById('live').textContent === 'Live'")
        delays = await _event_delays(page, stack.nats_url, sizes=sizes)
        await page.evaluate(_WATCH_LONG_TASKS)
        await page.evaluate(_SCROLL, "#models-list")
        await page.evaluate("location.hash = '#/cluster'")
        await page.wait_for_selector("#nodes .tile")
        await page.evaluate(_SCROLL, "#nodes")
        long_tasks: list[float] = await page.evaluate("window.benchLongTasks")
        await browser.close()
    _record(
        run, sizes=sizes, loads=loads, everything=everything, delays=delays, long_tasks=long_tasks
    )


async def _event_delays(page: Any, nats_url: str, *, sizes: Sizes) -> list[float]:
    """Seconds from publishing each of EVENTS events to the page having drawn it."""
    nats = await messaging.connect(nats_url, name="jan-models-bench-console")
    js = nats.jetstream()
    delays = []
    try:
        for number in range(EVENTS):
            index = 1 + number * max(1, sizes.registry // EVENTS) % sizes.registry
            event = ModelRunning.of(
                RunningData(
                    organization_id=ORGANIZATION_ID,
                    model_id=index,
                    public_id=clusters.public_id(index),
                    name=clusters.model_name(index),
                    generation=1,
                    replicas=1,
                    ready_replicas=1,
                ),
                source="/jan-models/bench",
            )
            published = time.time() * 1000
            await messaging.publish_event(js, event)
            await page.wait_for_function(
                "(id) => window.janModelsLastEvent && window.janModelsLastEvent.id === id",
                arg=event.id,
            )
            shown = await page.evaluate("performance.timeOrigin + window.janModelsLastEvent.shown")
            delays.append(max(0.0, shown - published) / 1000)
    finally:
        await nats.close()
    return delays


def _record(
    run: Run,
    *,
    sizes: Sizes,
    loads: list[float],
    everything: list[float],
    delays: list[float],
    long_tasks: list[float],
) -> None:
    scale = f"{sizes.nodes:,} nodes, {sizes.registry:,} models"
    load = Latency.of(loads, elapsed=None)
    event = Latency.of(delays, elapsed=None)
    longest = max(long_tasks, default=0.0)
    run.rows += [
        _row(f"console: models on screen after load ({scale})", load),
        Row(
            scenario=Scenario.CONSOLE,
            name="console: first load in a fresh browser, models on screen",
            n=1,
            value=loads[0] * 1000,
            unit="ms",
        ),
        _row("console: every model read after load", Latency.of(everything, elapsed=None)),
        _row("console: model event published -> on screen", event),
        Row(
            scenario=Scenario.CONSOLE,
            name="console: longest task while scrolling models and nodes",
            n=len(long_tasks),
            value=longest,
            unit="ms",
        ),
    ]
    run.checks += [
        Check(
            scenario=Scenario.CONSOLE,
            target="console shows data < 1.5 s after load",
            measured=f"p50 {load.p50_ms:.0f} ms, worst of {load.n} {max(loads) * 1000:.0f} ms "
            f"(first, cold: {loads[0] * 1000:.0f} ms)",
            met=max(loads) < 1.5,
        ),
        Check(
            scenario=Scenario.CONSOLE,
            target="a model event reaches the page < 300 ms after it is published",
            measured=f"p50 {event.p50_ms:.0f} ms, p99 {event.p99_ms:.0f} ms",
            met=(event.p99_ms or 0) < 300,
        ),
        Check(
            scenario=Scenario.CONSOLE,
            target=f"no long task > {LONG_TASK_LIMIT_MS:.0f} ms while scrolling",
            measured=f"{len(long_tasks)} long tasks, longest {longest:.0f} ms",
            met=longest <= LONG_TASK_LIMIT_MS,
        ),
    ]


def _row(name: str, latency: Latency) -> Row:
    return Row(
        scenario=Scenario.CONSOLE,
        name=name,
        n=latency.n,
        p50_ms=latency.p50_ms,
        p99_ms=latency.p99_ms,
    )
