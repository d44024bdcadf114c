"""The production image drops kubesim and the benchmarks; the CLI still serves every service."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def image_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages as the image installs them: kubesim and jan_models.bench left out."""
    site = tmp_path_factory.mktemp("image-site")
    for package in ("shared", "services", "jan_models"):
        shutil.copytree(
            ROOT / package,
            site / package,
            ignore=shutil.ignore_patterns("__pycache__", "bench")
            if package == "jan_models"
            else shutil.ignore_patterns("__pycache__"),
        )
    return site


def run_cli(
    site: Path, *args: str, code: str = "from jan_models.cli import app; app()"
) -> subprocess.CompletedProcess[str]:
    """The CLI in an interpreter that sees only `site` and the third-party packages.

    `-S` skips the site module, so the development install's path entry (which would
    find kubesim in the checkout) is not read; the dependencies come from purelib.
    """
    purelib = sysconfig.get_paths()["purelib"]
    return subprocess.run(
        [sys.executable, "-S", "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=site,
        env={**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{purelib}"},
        timeout=60,
        check=False,
    )


def test_the_image_removes_the_simulator_and_the_benchmarks() -> None:
    removed = re.search(r'rm -rf "\$site/kubesim" "\$site/jan_models/bench"', DOCKERFILE)

    assert removed is not None


@pytest.mark.parametrize("command", ["api", "deployer", "inventory", "keys", "asyncapi"])
def test_each_service_command_is_there_without_them(image_site: Path, command: str) -> None:
    result = run_cli(image_site, command, "--help")

    assert result.returncode == 0, result.stderr


def test_without_them_bench_is_not_offered_and_nothing_imports_them(image_site: Path) -> None:
    assert not (image_site / "kubesim").exists()
    assert not (image_site / "jan_models" / "bench").exists()
    assert run_cli(image_site, code="import kubesim").returncode != 0
    listing = run_cli(image_site, "--help")

    assert listing.returncode == 0, listing.stderr
    assert " bench " not in listing.stdout
    assert " api " in listing.stdout
    assert run_cli(image_site, "bench").returncode != 0
