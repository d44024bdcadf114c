"""The day-two scenario at a tiny size, so it cannot rot: a whole stack, every model
created, then patched, each followed until it runs the new generation."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from jan_models.bench import machine
from jan_models.bench.day_two import run_day_two
from jan_models.bench.report import Run
from jan_models.bench.sizes import Scenario, Sizes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


async def test_the_day_two_scenario_measures_patch_beside_post(tmp_path: Path) -> None:
    run = Run(started_at=datetime.now(UTC), machine=machine.describe(), options={})
    sizes = Sizes.tiny()
    await run_day_two(sizes=sizes, run=run, work=tmp_path)

    post, patch, up, rolled = run.rows
    assert {row.scenario for row in run.rows} == {Scenario.DAY_TWO}
    assert post.n == patch.n == sizes.day_two_models
    assert (post.errors, patch.errors) == (0, 0)
    assert up.n == rolled.n == sizes.day_two_models
    assert (up.errors, rolled.errors) == (0, 0)
    assert rolled.p50_ms is not None
    assert rolled.p50_ms > 0
    assert len(run.checks) == 2
