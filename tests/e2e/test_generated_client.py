"""A client nobody here wrote: openapi-python-client generates one from the running api's
`/openapi.json`, the seed's walkthrough runs through it against the stack, and
`mypy --strict` accepts the walkthrough as written (typed bodies, no casts)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from jan_models.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

BIN = Path(sys.executable).parent
WALKTHROUGH = Path(__file__).parent / "generated" / "walkthrough.py"
PACKAGE = "jan_models_client"


def run(*command: str | Path, cwd: Path, timeout: float) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd)},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command[0]} exited {done.returncode}:\n{output[-5000:]}"
    return output


def test_a_generated_client_runs_the_walkthrough_and_type_checks_strictly(
    stack: LocalStack, api_key: str, tmp_path: Path
) -> None:
    document = httpx.get(f"{stack.api_url}/openapi.json", timeout=10).json()
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(document))
    generated = run(
        BIN / "openapi-python-client",
        "generate",
        "--path",
        spec,
        "--meta",
        "none",
        "--output-path",
        tmp_path / PACKAGE,
        cwd=tmp_path,
        timeout=120,
    )
    assert "warning" not in generated.lower(), generated
    shutil.copy(WALKTHROUGH, tmp_path / WALKTHROUGH.name)

    checked = run(
        BIN / "mypy",
        "--strict",
        "--follow-imports=silent",  # the generator's own code is not ours to judge
        "--no-incremental",
        WALKTHROUGH.name,
        cwd=tmp_path,
        timeout=180,
    )
    assert "Success: no issues found in 1 source file" in checked
    walked = run(
        BIN / "python", WALKTHROUGH.name, stack.api_url, api_key, cwd=tmp_path, timeout=150
    )
    assert walked.strip().endswith("walkthrough ok")
