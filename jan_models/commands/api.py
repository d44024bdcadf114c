"""`jan-models api`: the REST api, configured by `JAN_MODELS_*` environment variables."""


def api() -> None:
    """Serve the Organization Models API (JAN_MODELS_API_HOST, JAN_MODELS_API_PORT)."""
    from services.api.app import run  # imported here so other subcommands start faster

    run()
