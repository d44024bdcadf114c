"""The `jan-models` console script."""

import typer

app = typer.Typer(help="jan-models: deploy LLM model servers onto your Kubernetes GPU cluster.")


@app.callback()
def main() -> None:
    """jan-models control plane."""
