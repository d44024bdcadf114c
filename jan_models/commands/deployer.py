"""`jan-models deployer`: the deployer service, configured by `JAN_MODELS_*` variables."""

from typing import Annotated

import typer


def deployer(
    port: Annotated[
        int | None,
        typer.Option(
            help="Health and metrics port (default: $JAN_MODELS_DEPLOYER_HTTP_PORT or 8081)"
        ),
    ] = None,
) -> None:
    """Apply model commands from JetStream to the Kubernetes cluster."""
    from services.deployer.app import run
    from services.deployer.settings import DeployerSettings

    settings = DeployerSettings()
    if port is not None:
        settings = settings.model_copy(update={"deployer_http_port": port})
    run(settings)
