"""`jan-models keys` against MongoDB, and `jan-models api` as its own process."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from typer.testing import CliRunner

from jan_models.cli import app
from jan_models.embedded import free_port
from services.api.adapters.quotas import LEDGER_ID
from shared.names import Collection

pytestmark = pytest.mark.integration


def test_keys_create_list_revoke(
    mongodb_url: str, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAN_MODELS_MONGODB_URL", mongodb_url)
    monkeypatch.setenv("JAN_MODELS_MONGODB_DATABASE", f"keys_{os.getpid()}_{time.time_ns()}")
    runner = CliRunner()

    created = runner.invoke(app, ["keys", "create", "--org", "42", "--name", "ci"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert re.fullmatch(r"jm_[A-Za-z0-9_-]{40}", key)

    listed = runner.invoke(app, ["keys", "list", "--org", "42"])
    assert listed.exit_code == 0
    assert key not in listed.stdout
    assert key[:11] in listed.stdout
    assert " 42 " in listed.stdout
    assert runner.invoke(app, ["keys", "list", "--org", "7"]).stdout.count("\n") == 1

    revoked = runner.invoke(app, ["keys", "revoke", key[:9]])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.stdout
    again = runner.invoke(app, ["keys", "list"])
    [row] = again.stdout.splitlines()[1:]
    assert len(re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row)) == 2, "created and revoked"
    missing = runner.invoke(app, ["keys", "revoke", "jm_nothing"])
    assert missing.exit_code == 1


def test_quota_set_list_clear(mongodb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAN_MODELS_MONGODB_URL", mongodb_url)
    database_name = f"quota_{os.getpid()}_{time.time_ns()}"
    monkeypatch.setenv("JAN_MODELS_MONGODB_DATABASE", database_name)
    runner = CliRunner()

    assert runner.invoke(app, ["quota", "set", "--org", "42", "--gpus", "8"]).exit_code == 0
    assert runner.invoke(app, ["quota", "set", "--org", "7", "--gpus", "1"]).exit_code == 0
    assert runner.invoke(app, ["quota", "set", "--org", "7", "--gpus", "2"]).exit_code == 0
    listed = runner.invoke(app, ["quota", "list"])
    assert [line.split() for line in listed.stdout.splitlines()[1:]] == [["7", "2"], ["42", "8"]]
    assert runner.invoke(app, ["quota", "set", "--org", "7", "--gpus", "-1"]).exit_code != 0

    cleared = runner.invoke(app, ["quota", "clear", "--org", "42"])
    assert (cleared.exit_code, cleared.stdout.strip()) == (0, "org 42: unlimited")
    assert runner.invoke(app, ["quota", "clear", "--org", "42"]).exit_code == 1
    assert runner.invoke(app, ["quota", "list"]).stdout.splitlines()[1:] == ["       7  2"]
    # the admission ledger carries the same limits, written in the same transaction
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    try:
        ledger = client[database_name][Collection.ADMISSIONS].find_one({"_id": LEDGER_ID})
    finally:
        client.close()
    assert (ledger or {}).get("limits") == {"7": 2}


def test_the_api_runs_as_its_own_process_from_environment_alone(
    mongodb_url: str, nats_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "JAN_MODELS_API_PORT": str(port),
        "JAN_MODELS_NATS_URL": nats_url,
        "JAN_MODELS_MONGODB_URL": mongodb_url,
        "JAN_MODELS_MONGODB_DATABASE": f"proc_{os.getpid()}",
        "JAN_MODELS_LOG_FORMAT": "json",
    }
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "jan-models"), "api"], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and ready is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
            except httpx.TransportError:
                time.sleep(0.1)
        assert ready is not None, (tmp_path / "api.log").read_text()
        assert ready.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/v1/organization/models").status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        log.close()
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Finished server process" in (tmp_path / "api.log").read_text()
