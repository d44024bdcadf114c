"""The three services have one shape: whoever knows one knows where everything is in the
others. `app.py` wires (`build`), `runtime.py` holds the lifecycle, `running(settings)` runs
the service in-process for tests, and `run(settings)` is the one entry point that both
`python -m services.<name>` and `jan-models <name>` call."""

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SERVICES = {"api": "ApiSettings", "deployer": "DeployerSettings", "inventory": "InventorySettings"}


def imported_names(path: Path) -> set[tuple[str, str]]:
    """(module, name) of every `from module import name` in the file, at any depth."""
    return {
        (node.module or "", alias.name)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


@pytest.mark.parametrize("service", SERVICES)
def test_app_wires_and_runtime_holds_the_lifecycle(service: str) -> None:
    app = importlib.import_module(f"services.{service}.app")
    importlib.import_module(f"services.{service}.runtime")

    assert callable(app.build)
    assert inspect.isasyncgenfunction(inspect.unwrap(app.running))
    assert list(inspect.signature(app.running).parameters) == ["settings"]


@pytest.mark.parametrize("service", SERVICES)
def test_one_entry_point_with_one_signature(service: str) -> None:
    run = importlib.import_module(f"services.{service}.app").run
    settings = importlib.import_module(f"services.{service}.settings")
    signature = inspect.signature(run, eval_str=True)

    assert list(signature.parameters) == ["settings"]
    parameter = signature.parameters["settings"]
    assert parameter.annotation == getattr(settings, SERVICES[service]) | None
    assert parameter.default is None
    assert signature.return_annotation is None


@pytest.mark.parametrize("service", SERVICES)
def test_the_module_and_the_command_call_that_entry_point(service: str) -> None:
    entry = (f"services.{service}.app", "run")

    assert entry in imported_names(ROOT / "services" / service / "__main__.py")
    assert entry in imported_names(ROOT / "jan_models" / "commands" / f"{service}.py")


def test_no_service_keeps_a_second_entry_module() -> None:
    extra = {"serve.py", "main.py", "server.py"}

    assert [
        p for s in SERVICES for p in (ROOT / "services" / s).glob("*.py") if p.name in extra
    ] == []
