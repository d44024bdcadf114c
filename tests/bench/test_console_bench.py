"""The console scenario at a tiny size, so it cannot rot: a whole stack, a real browser,
and its figures recorded with their checks. (The real sizes are `make bench`.)"""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from jan_models.bench import machine
from jan_models.bench.console import EVENTS, LOADS, run_console
from jan_models.bench.report import Run, table
from jan_models.bench.sizes import Scenario, Sizes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


async def test_the_console_scenario_measures_load_events_and_scrolling(tmp_path: Path) -> None:
    run = Run(started_at=datetime.now(UTC), machine=machine.describe(), options={})
    await run_console(sizes=Sizes.tiny(), run=run, work=tmp_path)

    load, cold, everything, event, scroll = run.rows
    assert {row.scenario for row in run.rows} == {Scenario.CONSOLE}
    assert load.n == everything.n == LOADS
    assert load.p50_ms is not None
    assert load.p50_ms > 0
    assert everything.p50_ms is not None
    assert everything.p50_ms >= load.p50_ms  # the newest page is drawn before every page is read
    assert cold.value is not None
    assert cold.value > 0
    assert event.n == EVENTS
    assert event.p99_ms is not None
    assert scroll.unit == "ms"
    assert [check.target for check in run.checks] == [
        "console shows data < 1.5 s after load",
        "a model event reaches the page < 300 ms after it is published",
        "no long task > 100 ms while scrolling",
    ]
    assert "console: model event published -> on screen" in table(run)
