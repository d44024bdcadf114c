"""The `jan-models` console script: one subcommand per part, each in its own module.

The production image ships without kubesim and the benchmark suite: `bench` is offered
only where `jan_models.bench` is installed, and `kubesim` imports the simulator only
when it runs.
"""

from importlib.util import find_spec

import typer

from jan_models.commands import api as api_command
from jan_models.commands import asyncapi as asyncapi_command
from jan_models.commands import deployer as deployer_command
from jan_models.commands import dev as dev_command
from jan_models.commands import inventory as inventory_command
from jan_models.commands import kubesim as kubesim_command
from jan_models.commands.keys import keys_app
from jan_models.commands.quota import quota_app

app = typer.Typer(
    help="jan-models: deploy LLM model servers onto your Kubernetes GPU cluster.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """jan-models control plane."""


# Subcommands register below, one line each.
app.command("dev")(dev_command.dev)
app.command("kubesim")(kubesim_command.kubesim)
app.command("deployer")(deployer_command.deployer)
app.command("inventory")(inventory_command.inventory)
app.command("api")(api_command.api)
if find_spec("jan_models.bench") is not None:
    from jan_models.commands import bench as bench_command

    app.command("bench")(bench_command.bench)
app.command("asyncapi")(asyncapi_command.asyncapi)
app.add_typer(keys_app, name="keys")
app.add_typer(quota_app, name="quota")
