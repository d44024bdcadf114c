"""`jan-models inventory`: the inventory service, configured by `JAN_MODELS_*` variables."""

from typing import Annotated

import typer


def inventory(
    port: Annotated[
        int | None,
        typer.Option(
            help="Health and metrics port (default: $JAN_MODELS_INVENTORY_HTTP_PORT or 8082)"
        ),
    ] = None,
) -> None:
    """Watch the cluster, keep the projections, answer status and model queries."""
    from services.inventory.app import run
    from services.inventory.settings import InventorySettings

    settings = InventorySettings()
    if port is not None:
        settings = settings.model_copy(update={"inventory_http_port": port})
    run(settings)
