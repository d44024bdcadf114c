"""`jan-models keys`: create, list and revoke API keys, straight in MongoDB.

A key is printed once, at creation; only its SHA-256 is stored, and `list` shows the
key's id (its first characters) instead.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer

from jan_models.commands.api_database import with_api_database
from services.api.adapters.api_keys import AmbiguousKeyError, ApiKeys, KeyNotFoundError
from shared.names import Collection

keys_app = typer.Typer(help="Manage API keys (stored as SHA-256 in MongoDB).", no_args_is_help=True)
T = TypeVar("T")


def _with_keys(action: Callable[[ApiKeys], Awaitable[T]]) -> T:
    return with_api_database(
        lambda db: action(ApiKeys(db)),
        app_name="jan-models-keys",
        collections=(Collection.API_KEYS,),
    )


@keys_app.command("create")
def create(
    org: Annotated[int, typer.Option("--org", min=0, help="Organization the key acts for")],
    name: Annotated[str, typer.Option("--name", help="What the key is for")] = "",
) -> None:
    """Create a key and print it; it is not shown again."""
    new = _with_keys(
        lambda keys: keys.create(organization_id=org, name=name, now=datetime.now(UTC))
    )
    typer.echo(new.key)
    typer.echo(f"id {new.prefix}  org {org}  (store the key now: it is not shown again)", err=True)


@keys_app.command("list")
def list_keys(
    org: Annotated[int | None, typer.Option("--org", help="Only this organization's keys")] = None,
) -> None:
    """List keys by id, never the keys themselves."""
    records = _with_keys(lambda keys: keys.all(organization_id=org))
    typer.echo(f"{'ID':<12} {'ORG':>8}  {'CREATED':<20} {'REVOKED':<20} NAME")
    for record in records:
        revoked = record.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ") if record.revoked_at else "-"
        created = record.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        typer.echo(
            f"{record.key_id:<12} {record.organization_id:>8}  {created:<20} {revoked:<20} "
            f"{record.name}"
        )


@keys_app.command("revoke")
def revoke(
    reference: Annotated[str, typer.Argument(help="The key's id or a prefix of it")],
) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    try:
        record = _with_keys(lambda keys: keys.revoke(reference, now=datetime.now(UTC)))
    except (KeyNotFoundError, AmbiguousKeyError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"revoked {record.key_id} (org {record.organization_id})")
