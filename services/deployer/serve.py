"""Running the deployer as its own process, configured by environment variables only."""

import asyncio

from services.deployer.app import build_app
from services.deployer.settings import DeployerSettings
from shared.logs import configure_logging


def serve(settings: DeployerSettings | None = None) -> None:
    settings = settings or DeployerSettings()
    configure_logging(settings.log_level, settings.log_format, service="deployer")
    app = build_app(settings)
    options = {
        "host": settings.deployer_http_host,
        "port": settings.deployer_http_port,
        "log_config": None,
        "access_log": "false",
    }
    asyncio.run(app.run(run_extra_options=options))  # type: ignore[arg-type]  # uvicorn options
