"""A whole run: the chosen scenarios, each group on its own fresh stack, one after the
other (they share two cores), then the table and the JSON file."""

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from jan_models.bench import machine
from jan_models.bench.console import run_console
from jan_models.bench.create import run_create
from jan_models.bench.day_two import run_day_two
from jan_models.bench.reads import run_reads
from jan_models.bench.report import Run
from jan_models.bench.scale import run_scale
from jan_models.bench.sizes import READS, Scenario, Sizes


async def run_suite(
    *, scenarios: frozenset[Scenario], sizes: Sizes, size_name: str, keep: Path | None = None
) -> Run:
    """Runs `scenarios`; the stacks' data and logs go to `keep` (else a removed temp dir)."""
    run = Run(
        started_at=datetime.now(UTC),
        machine=machine.describe(),
        options={"scenarios": sorted(scenarios), "sizes": size_name, **_sizes(sizes)},
    )
    work = keep or Path(tempfile.mkdtemp(prefix="jan-models-bench-"))
    try:
        if scenarios & READS:
            await run_reads(sizes=sizes, run=run, work=work / "reads", scenarios=scenarios)
        if Scenario.CREATE in scenarios:
            await run_create(sizes=sizes, run=run, work=work / "create")
        if Scenario.INVENTORY in scenarios:
            await run_scale(sizes=sizes, run=run, work=work / "inventory")
        if Scenario.CONSOLE in scenarios:
            await run_console(sizes=sizes, run=run, work=work / "console")
        if Scenario.DAY_TWO in scenarios:
            await run_day_two(sizes=sizes, run=run, work=work / "day-two")
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return run


def _sizes(sizes: Sizes) -> dict[str, float | int]:
    return {name: getattr(sizes, name) for name in sizes.__slots__}
