"""`jan-models asyncapi`: write the NATS contract as AsyncAPI 3.0 YAML (docs/asyncapi.yaml)."""

from pathlib import Path
from typing import Annotated

import typer

from shared.asyncapi import build_document, render_yaml


def asyncapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
) -> None:
    """Print (or write) the commands, events and queries as an AsyncAPI 3.0 document."""
    text = render_yaml(build_document())
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
