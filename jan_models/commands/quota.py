"""`jan-models quota`: set, list and clear organizations' GPU quotas, straight in MongoDB.

It reads `JAN_MODELS_MONGODB_URL` like `keys`. A quota counts each model's GPU ask times
the most replicas it may run, from admission until the model is gone.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from jan_models.commands.api_database import with_api_database
from services.api.adapters.quotas import OrganizationQuotas

quota_app = typer.Typer(help="Manage GPU quotas per organization.", no_args_is_help=True)
T = TypeVar("T")


def _with_quotas(action: Callable[[OrganizationQuotas], Awaitable[T]]) -> T:
    return with_api_database(lambda db: action(OrganizationQuotas(db)), app_name="jan-models-quota")


@quota_app.command("set")
def set_quota(
    org: Annotated[int, typer.Option("--org", min=0, help="Organization id")],
    gpus: Annotated[int, typer.Option("--gpus", min=0, help="GPUs its models may count")],
) -> None:
    """Limit an organization's GPUs (ask x most replicas, summed over its models)."""
    quota = _with_quotas(lambda quotas: quotas.set(org, gpus=gpus))
    typer.echo(f"org {quota.organization_id}: {quota.gpus} GPUs")


@quota_app.command("list")
def list_quotas() -> None:
    """Every organization with a quota; the others are unlimited."""
    quotas = _with_quotas(lambda store: store.all())
    typer.echo(f"{'ORG':>8}  GPUS")
    for quota in quotas:
        typer.echo(f"{quota.organization_id:>8}  {quota.gpus}")


@quota_app.command("clear")
def clear_quota(
    org: Annotated[int, typer.Option("--org", min=0, help="Organization id")],
) -> None:
    """Remove an organization's quota: it is unlimited from then on."""
    if not _with_quotas(lambda quotas: quotas.clear(org)):
        typer.echo(f"org {org} has no quota", err=True)
        raise typer.Exit(1)
    typer.echo(f"org {org}: unlimited")
