"""`jan-models bench`: run the benchmark suite, print the table, write the JSON figures."""

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from jan_models.bench.report import table, write_json
from jan_models.bench.sizes import Scenario, Sizes


def bench(
    scenario: Annotated[
        list[Scenario] | None,
        typer.Option("--scenario", "-s", help="Run only this scenario (repeatable)."),
    ] = None,
    quick: Annotated[
        bool, typer.Option(help="Scaled-down sizes (hundreds, not thousands) for a quick run.")
    ] = False,
    results: Annotated[
        Path, typer.Option(help="Directory for the JSON figures, one file per run.")
    ] = Path("bench/results"),
    keep: Annotated[
        Path | None, typer.Option(help="Keep the stacks' data and logs in this directory.")
    ] = None,
) -> None:
    """Measure the api against the direct (jan-server) way and against the floors.

    Three narrower benchmarks run on their own, each with `--help`:
    `python -m jan_models.bench.api_latency` (the api's hot paths, 10,000 models),
    `python -m jan_models.bench.deployer_throughput` (create commands through the
    deployer) and `python -m jan_models.bench.kubesim_bench` (kubesim at 5,000 nodes).
    """
    from jan_models.bench.suite import run_suite  # heavy; every other subcommand skips it

    chosen = frozenset(scenario) if scenario else frozenset(Scenario)
    sizes = Sizes.quick() if quick else Sizes()
    run = asyncio.run(
        run_suite(scenarios=chosen, sizes=sizes, size_name="quick" if quick else "full", keep=keep)
    )
    typer.echo(table(run))
    typer.echo(f"\nfigures: {write_json(run, results)}")
