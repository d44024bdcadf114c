"""schemathesis against the running stack, as an integrating team would run it: every check
(response conformance included) over every phase (examples, coverage, fuzzing, and the
stateful one that follows the 201's links), bounded by `schemathesis.toml` beside this
file, which also says where the document cannot speak. The event stream never ends by
design and is left out; its refusals are pinned in tests/api/test_event_stream.py."""

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jan_models.stack import LocalStack
from tests.faults.conftest import new_key, start_stack

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from start_stack(tmp_path_factory)


def test_schemathesis_finds_nothing_with_every_check_over_every_phase(
    stack: LocalStack, tmp_path: Path
) -> None:
    key = asyncio.run(new_key(stack, 7101))
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            f"{stack.api_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            "all",
            "--exclude-checks",
            "use_after_free",  # see schemathesis.toml
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--exclude-operation-id",
            "streamModelEvents",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    summary = output.split("SUMMARY")[-1]
    assert "failure" not in summary, summary
    assert " passed" in summary, summary
