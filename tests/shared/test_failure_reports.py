"""With ast.parse broken for the rest of the process (CPython gh-106905), a failing test
is still reported as failed, with its frames and exception, and the run goes on."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

POISONED = """
import ast


def test_fails_after_the_ast_state_is_poisoned(monkeypatch):
    def broken(*args, **kwargs):
        raise SystemError("AST constructor recursion depth mismatch (before=120, after=172)")

    monkeypatch.setattr(ast, "parse", broken)
    assert 1 + 1 == 3, "the failure to report"


def test_the_run_goes_on():
    assert True
"""


def run(tmp_path: Path, *plugins: str) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_poisoned.py"
    test.write_text(POISONED)
    options = [arg for plugin in plugins for arg in ("-p", plugin)]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            *options,
            "--rootdir",
            str(tmp_path),
            "-c",
            "/dev/null",
            str(test),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_the_plugin_the_run_ends_in_an_internal_error(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert result.returncode == 3, result.stdout  # INTERNALERROR: the second test never ran
    assert "INTERNALERROR" in result.stdout


def test_the_failure_is_reported_plainly_and_the_run_goes_on(tmp_path: Path) -> None:
    result = run(tmp_path, "tests.plugins.reports")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    assert "test_poisoned.py:10: in test_fails_after_the_ast_state_is_poisoned" in result.stdout
    assert "AssertionError: the failure to report" in result.stdout
    assert "INTERNALERROR" not in result.stdout
