"""`jan-models kubesim`: run the Kubernetes API simulator until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer


async def _serve(
    *,
    host: str,
    port: int,
    scenario: Path | None,
    kubeconfig_out: Path | None,
    ready_delay: float,
    data_dir: Path | None,
) -> None:
    from kubesim import KubeSim, default_scenario, load_scenario  # only this subcommand pays

    sim = KubeSim(
        load_scenario(scenario) if scenario else default_scenario(),
        ready_delay=ready_delay,
        data_dir=data_dir,
    )
    if data_dir is not None:
        kept = "the cluster kept in" if sim.restored else "a new cluster, kept in"
        typer.echo(f"kubesim: {kept} {data_dir}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim.serve(host=host, port=port):
        typer.echo(f"kubesim serving the Kubernetes API at {sim.url}")
        if kubeconfig_out is not None:
            path = sim.write_kubeconfig(kubeconfig_out)
            typer.echo(f"kubeconfig: {path}  (kubectl --kubeconfig {path} get nodes)")
        await stop.wait()
    typer.echo("kubesim stopped")


def kubesim(
    port: Annotated[int, typer.Option(help="Port to listen on (plain HTTP).")] = 6443,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario YAML; the built-in GPU scenario when omitted.")
    ] = None,
    kubeconfig_out: Annotated[
        Path | None, typer.Option(help="Write a kubeconfig for the simulator here.")
    ] = None,
    ready_delay: Annotated[
        float, typer.Option(help="Seconds from scheduling until a pod is Running and Ready.")
    ] = 1.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Keep the cluster in this directory and take it up again on the next start "
            "(in memory only when omitted)."
        ),
    ] = None,
) -> None:
    """Run kubesim, a simulated Kubernetes API server with GPU nodes."""
    from kubesim.journal import JournalError

    try:
        asyncio.run(
            _serve(
                host=host,
                port=port,
                scenario=scenario,
                kubeconfig_out=kubeconfig_out,
                ready_delay=ready_delay,
                data_dir=data_dir,
            )
        )
    except JournalError as exc:
        typer.echo(f"kubesim: {exc}", err=True)
        raise typer.Exit(1) from exc
