"""The README names every variable the code reads and every event type it publishes."""

import re
from pathlib import Path

import pytest
from typer.main import get_command

from jan_models.cli import app
from shared.names import EventType
from tests.deploy.test_configuration import SETTINGS, variables_read_by

README = (Path(__file__).parents[2] / "README.md").read_text()


@pytest.mark.parametrize("service", SETTINGS)
def test_every_service_variable_is_documented(service: str) -> None:
    missing = {v for v in variables_read_by(SETTINGS[service]) if f"`{v}`" not in README}

    assert not missing, f"README lacks {sorted(missing)}"


def test_every_dev_option_variable_is_documented() -> None:
    dev = get_command(app).commands["dev"]  # type: ignore[attr-defined]  # a click Group
    variables = {param.envvar for param in dev.params if param.envvar}

    assert variables
    assert not {v for v in variables if f"`{v}`" not in README}


def test_the_two_commands_come_first() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)

    assert first_block is not None
    assert [line.split()[:2] for line in first_block.group(1).splitlines()] == [
        ["make", "dev"],
        ["make", "test"],
    ]


def test_the_events_section_lists_every_event_type() -> None:
    listed = re.search(r"`type` one of (.*?)\. Filter", README, re.S)

    assert listed is not None
    assert set(re.findall(r"`(\w+)`", listed.group(1))) == {str(kind) for kind in EventType}
