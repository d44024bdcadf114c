"""`jan-models deployer` as its own process: env-only configuration, probes, SIGKILL and restart."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nats.js import JetStreamContext

from jan_models.embedded import free_port
from shared import messaging
from tests.deployer.conftest import EventLog
from tests.shared.examples import seed_create_command
from tests.waiting import eventually

pytestmark = pytest.mark.integration


class DeployerProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "jan-models"), "deployer"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def deployer_process(
    nats_url: str, kubeconfig_path: Path, jetstream: JetStreamContext, tmp_path: Path
) -> Iterator[tuple[DeployerProcess, int]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JAN_MODELS_")},
        "JAN_MODELS_ENVIRONMENT": "test",
        "JAN_MODELS_NATS_URL": nats_url,
        "JAN_MODELS_KUBECONFIG": str(kubeconfig_path),
        "JAN_MODELS_DEPLOYER_HTTP_PORT": str(port),
        "JAN_MODELS_DEPLOYER_ACK_WAIT": "2",
        "JAN_MODELS_LOG_FORMAT": "json",
    }
    process = DeployerProcess(env, tmp_path / "deployer.log")
    process.start()
    yield process, port
    process.stop()


async def test_the_process_serves_probes_and_survives_sigkill(
    deployer_process: tuple[DeployerProcess, int], jetstream: JetStreamContext, events: EventLog
) -> None:
    process, port = deployer_process
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:

        async def ready() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(ready, within=90, every=0.1)  # a loaded machine starts it slowly
        assert (await client.get("/healthz")).is_success
        first = seed_create_command().model_copy(update={"hf_token_encrypted": None})
        await messaging.publish_command(jetstream, first)
        await events.wait_for(first.public_id, "applied")

        process.kill()
        second = first.model_copy(update={"generation": 2, "cause": "update"})
        await messaging.publish_command(jetstream, second)
        process.start()
        await eventually(ready, within=90, every=0.1)  # a loaded machine starts it slowly

        # The kill may land between the `applied` event and the ack of generation 1 (the
        # test reads the event within milliseconds): JetStream then redelivers it, and
        # applying it again before generation 2 is correct at-least-once behaviour.
        async def second_generation_applied() -> bool:
            applied = await events.wait_for(first.public_id, "applied")
            return [e.data.generation for e in applied][-1] == 2

        await eventually(second_generation_applied, within=60)
        assert "jan_models_deployer_commands_total" in (await client.get("/metrics")).text
    assert b'"public_id": "mdl_abc123def456"' in process.log_path.read_bytes()
