"""The objects a model owns, by kind and name: what the deployer applies, and what
admission checks nobody else holds (an object is a model's only when it carries that
model's id label)."""

from typing import Final

SECRET_SUFFIX: Final = "-hf-token"  # noqa: S105  # a name suffix, not a secret
CACHE_SUFFIX: Final = "-cache"


def secret_name(name: str) -> str:
    return f"{name}{SECRET_SUFFIX}"


def cache_claim_name(name: str) -> str:
    return f"{name}{CACHE_SUFFIX}"


def object_names(
    name: str, *, secret: bool, cache: bool, service_monitor: bool, autoscaler: bool
) -> list[tuple[str, str]]:
    """(kind, name) of each object a model of this name would own, in the apply order."""
    names = [("Secret", secret_name(name))] if secret else []
    if cache:
        names.append(("PersistentVolumeClaim", cache_claim_name(name)))
    names += [("Service", name), ("Deployment", name)]
    if service_monitor:
        names.append(("ServiceMonitor", name))
    if autoscaler:
        names.append(("PodAutoscaler", name))
    return names
