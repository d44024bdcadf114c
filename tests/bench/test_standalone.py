"""The benchmarks that run on their own live in `jan_models/bench/` beside the suite, and
each one's `--help` runs and says how to run it from there."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from jan_models.cli import app

ROOT = Path(__file__).parents[2]
STANDALONE = ["api_latency", "deployer_throughput", "kubesim_bench"]


@pytest.mark.parametrize("name", STANDALONE)
def test_the_benchmark_runs_as_a_module(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"jan_models.bench.{name}", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert f"-m jan_models.bench.{name}" in result.stdout


def test_the_bench_command_names_every_standalone_benchmark() -> None:
    bench = get_command(app).commands["bench"]  # type: ignore[attr-defined]  # a click Group

    assert all(f"jan_models.bench.{name}" in (bench.help or "") for name in STANDALONE)


def test_no_benchmark_code_is_left_outside_the_package() -> None:
    assert sorted(path.name for path in (ROOT / "bench").glob("*.py")) == []
