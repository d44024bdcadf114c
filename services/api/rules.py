"""Rules across fields of a create request, beyond what each field checks by itself."""

from shared.errors import (
    ServedModelNameMismatchError,
    ServedModelNameMissingError,
    ServedModelNameNotLiteralError,
)
from shared.model_spec import DeploymentConfig
from shared.served_name import served_names


def check_served_model_name(*, name: str, config: DeploymentConfig) -> None:
    """Aibrix routes by name: the first name vLLM serves must be the model name.

    The flag is required when autoscaling is on; when present it must match exactly
    (`qwen` is not `qwen3`), whether or not autoscaling is on, in every command that
    carries it, and it must be literal: a name the shell builds cannot be checked.
    """
    found = served_names([*config.command, *config.args])
    if not found:
        if config.enable_autoscaling:
            raise ServedModelNameMissingError(model_name=name)
        return
    for served in found:
        first = served.names[0] if served.names else None
        if first is not None and not first.literal:
            raise ServedModelNameNotLiteralError(served_name=first.text, model_name=name)
        if first is None or first.text != name:
            raise ServedModelNameMismatchError(
                served_name=first.text if first else "", model_name=name
            )
