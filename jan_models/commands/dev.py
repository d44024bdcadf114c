"""`jan-models dev`: the whole system on this machine, what `make dev` runs.

Starts an embedded nats-server with JetStream, the MongoDB-compatible server and kubesim
with a GPU scenario (all three durable under the data directory, so a second `dev` finds
the models and the cluster as it left them), and the three services;
prints where everything is (each service's metrics URL too) once all are ready; with
`--prometheus`, runs Prometheus against the stack with the alert rules loaded; stops it
all on Ctrl-C or SIGTERM.
"""

import asyncio
import contextlib
import secrets
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from jan_models.monitoring import EmbeddedPrometheus
from jan_models.stack import LocalStack, StackConfig

DEV_KEY_PREFIX = "jm_dev_"


def dev(
    data_dir: Annotated[
        Path,
        typer.Option(
            envvar="JAN_MODELS_DEV_DATA_DIR",
            help="Where NATS, MongoDB, kubesim and logs keep their files",
        ),
    ] = Path(".jan-models"),
    api_port: Annotated[int, typer.Option(envvar="JAN_MODELS_DEV_API_PORT")] = 8000,
    api_host: Annotated[str, typer.Option(envvar="JAN_MODELS_DEV_API_HOST")] = "127.0.0.1",
    nats_port: Annotated[int, typer.Option(envvar="JAN_MODELS_DEV_NATS_PORT")] = 4222,
    mongo_port: Annotated[int, typer.Option(envvar="JAN_MODELS_DEV_MONGO_PORT")] = 27017,
    kubesim_port: Annotated[int, typer.Option(envvar="JAN_MODELS_DEV_KUBESIM_PORT")] = 6443,
    org_id: Annotated[
        int, typer.Option(envvar="JAN_MODELS_DEV_ORG_ID", help="Organization of the dev API key")
    ] = 1,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="JAN_MODELS_DEV_API_KEY", help="Use this key instead of a random one"),
    ] = None,
    mongodb_url: Annotated[
        str | None,
        typer.Option(
            envvar="JAN_MODELS_MONGODB_URL", help="Use this MongoDB instead of the embedded one"
        ),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            envvar="JAN_MODELS_DEV_KUBECONFIG", help="Use this cluster instead of kubesim"
        ),
    ] = None,
    scenario: Annotated[
        Path | None, typer.Option(envvar="JAN_MODELS_DEV_SCENARIO", help="kubesim scenario YAML")
    ] = None,
    ready_delay: Annotated[
        float,
        typer.Option(
            envvar="JAN_MODELS_DEV_READY_DELAY",
            help="Seconds a simulated pod takes to become ready",
        ),
    ] = 2.0,
    prometheus: Annotated[
        bool,
        typer.Option(
            "--prometheus",
            envvar="JAN_MODELS_DEV_PROMETHEUS",
            help="Also run Prometheus (Debian's package) against the stack, alert rules loaded",
        ),
    ] = False,
    prometheus_port: Annotated[int, typer.Option(envvar="JAN_MODELS_DEV_PROMETHEUS_PORT")] = 9090,
) -> None:
    """Run everything locally: NATS, MongoDB, a simulated GPU cluster and the three services."""
    config = dev_stack_config(
        data_dir,
        api_host=api_host,
        api_port=api_port,
        nats_port=nats_port,
        mongo_port=mongo_port,
        kubesim_port=kubesim_port,
        mongodb_url=mongodb_url,
        kubeconfig=kubeconfig,
        scenario=scenario,
        ready_delay=ready_delay,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    typer.echo(f"starting jan-models in {config.data_dir} (logs in {config.data_dir / 'logs'}) ...")
    stack = LocalStack(config)
    with stack.running(), contextlib.ExitStack() as extras:
        key = api_key or DEV_KEY_PREFIX + secrets.token_urlsafe(24)
        from jan_models.dev_keys import ensure_dev_key  # pymongo: only `dev` pays for it

        asyncio.run(ensure_dev_key(stack.mongodb_url, organization_id=org_id, key=key))
        prometheus_url = None
        if prometheus:
            server = EmbeddedPrometheus(
                name="prometheus",
                port=prometheus_port,
                log_path=config.data_dir / "logs" / "prometheus.log",
                targets=stack.metrics_urls,
                data_dir=config.data_dir / "prometheus",
            )
            prometheus_url = extras.enter_context(server).url
        typer.echo(_summary(stack, key=key, org_id=org_id, prometheus_url=prometheus_url))
        stop.wait()
        typer.echo("stopping ...")
    typer.echo("stopped.")


def dev_stack_config(data_dir: Path, **options: Any) -> StackConfig:
    """The stack `jan-models dev` runs on `data_dir`: kubesim keeps its cluster there
    (`keep_cluster`), as NATS and MongoDB keep theirs, so a second `dev` on the same
    directory finds the models running in the objects the first left, rather than an
    empty cluster that drift repair fills again. `options` are the other StackConfig
    fields (ports, scenario, ready delay, ...)."""
    return StackConfig(data_dir=data_dir.resolve(), keep_cluster=True, **options)


def _summary(stack: LocalStack, *, key: str, org_id: int, prometheus_url: str | None) -> str:
    cluster = (
        f"kubesim at {stack.kubesim_url}"
        if stack.kubesim is not None
        else f"the cluster in {stack.kubeconfig_path}"
    )
    metrics = "\n".join(
        f"  {'Metrics' if index == 0 else '':<15}{name:<11}{url}"
        for index, (name, url) in enumerate(stack.metrics_urls.items())
    )
    if prometheus_url is not None:
        metrics += f"\n  Prometheus     {prometheus_url}   (alerts: {prometheus_url}/alerts)"
    return f"""
jan-models is running against {cluster}.

  API            {stack.api_url}   (docs: {stack.api_url}/docs)
  API key        {key}   (organization {org_id})
  kubeconfig     {stack.kubeconfig_path}   (kubectl --kubeconfig {stack.kubeconfig_path} get nodes)
  MongoDB        {stack.mongodb_url}
  NATS           {stack.nats_url}
{metrics}

Try:
  curl -s -H "Authorization: Bearer {key}" {stack.api_url}/v1/organization/models/status

More keys: JAN_MODELS_MONGODB_URL='{stack.mongodb_url}' jan-models keys create --org 456
Ctrl-C stops everything.
"""
