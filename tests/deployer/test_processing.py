"""How one delivered command is settled: ack, nak with backoff, or term, and which events go out."""

import json

from pydantic import SecretStr

from services.deployer.failures import ClusterError, retry_delay
from services.deployer.inbox import MalformedCommand, read_command
from services.deployer.processing import CommandProcessor, RetryPolicy, Verdict
from shared.names import FIELD_MANAGER
from shared.secrets import TokenCipher
from shared.settings import DEV_ENCRYPTION_KEY
from tests.deployer.fakes import FakeCluster, FakeDelivery, FakeEvents
from tests.shared.examples import seed_create_command, seed_delete_command

CIPHER = TokenCipher(SecretStr(DEV_ENCRYPTION_KEY))
POLICY = RetryPolicy(max_attempts=3, base=0.5, ceiling=4.0, keepalive_interval=0.01)


def processor(cluster: FakeCluster, events: FakeEvents) -> CommandProcessor:
    return CommandProcessor(cluster=cluster, events=events, cipher=CIPHER, policy=POLICY)


def create_bytes(**changes: object) -> bytes:
    command = seed_create_command().model_copy(update={"hf_token_encrypted": None, **changes})
    return command.model_dump_json().encode()


async def run(
    data: bytes, cluster: FakeCluster, events: FakeEvents, attempt: int = 1
) -> FakeDelivery:
    delivery = FakeDelivery(data=data, attempt=attempt)
    await processor(cluster, events).process(delivery, read_command(data))
    return delivery


async def test_success_publishes_applied_then_acks() -> None:
    cluster, events = FakeCluster(), FakeEvents()
    delivery = await run(create_bytes(), cluster, events)
    assert delivery.verdict == "ack"
    assert events.types == ["applied"]
    applied = events.published[0]
    assert applied.nats_subject == "model.events.123.qwen3-coder-30b.applied"
    assert applied.source == "/jan-models/deployer"
    assert len(applied.data.objects) == 5  # type: ignore[attr-defined]


async def test_a_repair_emits_repaired_after_applied() -> None:
    events = FakeEvents()
    await run(create_bytes(cause="repair"), FakeCluster(), events)
    assert events.types == ["applied", "repaired"]


async def test_delete_publishes_deleted() -> None:
    events = FakeEvents()
    delivery = await run(seed_delete_command().model_dump_json().encode(), FakeCluster(), events)
    assert delivery.verdict == "ack"
    assert events.types == ["deleted"]


async def test_transient_errors_are_nakked_with_growing_delay_and_no_event() -> None:
    events = FakeEvents()
    delays = []
    for attempt in (1, 2):
        cluster = FakeCluster(
            fail_apply=[ClusterError(status=500, reason="InternalError", message="x")]
        )
        delivery = await run(create_bytes(), cluster, events, attempt=attempt)
        assert delivery.settled[0][0] == "nak"
        delays.append(delivery.settled[0][1])
    assert delays == [0.5, 1.0]
    assert events.published == []


async def test_retry_after_is_honoured_and_backoff_is_capped() -> None:
    assert retry_delay(attempt=1, base=0.5, ceiling=30, hint=5) == 5
    assert retry_delay(attempt=20, base=0.5, ceiling=30) == 30


async def test_transient_errors_become_failed_after_the_last_attempt() -> None:
    events = FakeEvents()
    cluster = FakeCluster(
        fail_apply=[ClusterError(status=503, reason="ServiceUnavailable", message="busy")]
    )
    delivery = await run(create_bytes(), cluster, events, attempt=3)
    assert delivery.verdict == "ack"
    assert events.types == ["failed"]
    assert events.published[0].data.reason == "ServiceUnavailable"  # type: ignore[attr-defined]


async def test_a_rejected_manifest_fails_at_once_with_the_kubernetes_reason() -> None:
    events = FakeEvents()
    error = ClusterError(status=422, reason="Invalid", message='Deployment "x" is invalid')
    delivery = await run(create_bytes(), FakeCluster(fail_apply=[error]), events)
    assert delivery.verdict == "ack"
    failed = events.published[0]
    assert failed.type == "ai.jan.model.failed"
    assert (failed.data.stage, failed.data.reason) == ("apply", "Invalid")  # type: ignore[attr-defined]
    assert failed.data.message == 'Deployment "x" is invalid'  # type: ignore[attr-defined]


async def test_an_event_nats_refuses_means_the_command_is_retried() -> None:
    delivery = await run(create_bytes(), FakeCluster(), FakeEvents(fail=1))
    assert delivery.settled[0][0] == "nak"


async def test_carrying_a_command_out_again_publishes_under_the_same_ids() -> None:
    """A redelivery (crash before the ack, or a refused publish) re-publishes with the
    same Nats-Msg-Id and CloudEvent id, so JetStream drops it; `failed` is per delivery."""
    events = FakeEvents()
    for attempt in (1, 2):
        delivery = FakeDelivery(data=create_bytes(cause="repair"), attempt=attempt, msg_id="m:1")
        await processor(FakeCluster(), events).process(delivery, read_command(delivery.data))
    assert events.msg_ids == ["m:1:applied", "m:1:repaired"] * 2
    first, second = events.published[:2], events.published[2:]
    assert [e.id for e in first] == [e.id for e in second]
    assert len({e.id for e in first}) == 2

    failing = FakeEvents()
    for attempt in (1, 2):
        delivery = FakeDelivery(data=create_bytes(), attempt=attempt, msg_id="m:2")
        cluster = FakeCluster(
            fail_apply=[ClusterError(status=422, reason="Invalid", message="bad")]
        )
        await processor(cluster, failing).process(delivery, read_command(delivery.data))
    assert failing.msg_ids == ["m:2:failed:1", "m:2:failed:2"]


async def test_a_malformed_command_with_identity_is_terminated_with_a_failed_event() -> None:
    raw = json.loads(create_bytes())
    raw["requirements"]["cpu"] = "two cores"
    events = FakeEvents()
    delivery = await run(json.dumps(raw).encode(), FakeCluster(), events)
    assert delivery.verdict == "term"
    failed = events.published[0]
    assert (failed.data.stage, failed.data.reason) == ("command", "MalformedCommand")  # type: ignore[attr-defined]
    assert "requirements" in failed.data.message  # type: ignore[attr-defined]


async def test_garbage_is_terminated_without_an_event() -> None:
    events = FakeEvents()
    command = read_command(b"\xff not json")
    assert isinstance(command, MalformedCommand)
    assert command.ref is None
    delivery = await run(b"\xff not json", FakeCluster(), events)
    assert delivery.verdict == "term"
    assert events.published == []


async def test_a_long_apply_tells_jetstream_it_is_still_working() -> None:
    class SlowCluster(FakeCluster):
        async def apply(
            self, manifest: dict[str, object], *, force: bool, manager: str = FIELD_MANAGER
        ) -> None:
            import asyncio

            await asyncio.sleep(0.05)
            await super().apply(manifest, force=force, manager=manager)

    delivery = FakeDelivery(data=create_bytes())
    outcome = await processor(SlowCluster(), FakeEvents()).process(
        delivery, read_command(delivery.data)
    )
    assert outcome.verdict is Verdict.ACK
    assert delivery.progress_beats >= 3


def delete_bytes(attempt: int = 0) -> bytes:
    return seed_delete_command().model_copy(update={"attempt": attempt}).model_dump_json().encode()


async def test_a_failing_delete_is_never_given_up_and_says_why_now_and_then() -> None:
    cluster, events = FakeCluster(), FakeEvents()
    refused = ClusterError(status=403, reason="Forbidden", message="pvc delete refused")
    cluster.fail_kinds["PersistentVolumeClaim"] = refused
    verdicts = [
        (await run(delete_bytes(), cluster, events, attempt=attempt)).verdict
        for attempt in range(1, 10)
    ]

    assert verdicts == ["nak"] * 9  # far past max_attempts (3): still tried again
    assert events.types == ["failed"] * 4  # deliveries 1, 2, 4 and 8
    failed = events.published[0]
    assert failed.data.stage == "delete"  # type: ignore[attr-defined]
    assert failed.data.reason == "Forbidden"  # type: ignore[attr-defined]
    assert "PersistentVolumeClaim: 403" in failed.data.message  # type: ignore[attr-defined]

    del cluster.fail_kinds["PersistentVolumeClaim"]
    assert (await run(delete_bytes(), cluster, events, attempt=10)).verdict == "ack"
    assert events.types[-1] == "deleted"


async def test_a_delete_is_not_finished_while_a_pod_of_the_model_is_left() -> None:
    cluster, events = FakeCluster(), FakeEvents()
    labels = {"jan-server.menlo.ai/model-id": "mdl_abc123def456"}
    pod = {"kind": "Pod", "metadata": {"name": "qwen-abc", "labels": labels}}
    cluster.objects[("Pod", "jan-models", "qwen-abc")] = pod
    fast = RetryPolicy(max_attempts=3, base=0.5, ceiling=4.0, pod_wait=0.05)
    delivery = FakeDelivery(data=delete_bytes())

    first = CommandProcessor(cluster=cluster, events=events, cipher=CIPHER, policy=fast)
    await first.process(delivery, read_command(delivery.data))

    assert delivery.verdict == "nak"
    assert events.types == ["failed"]
    assert events.published[0].data.reason == "PodsTerminating"  # type: ignore[attr-defined]
    del cluster.objects[("Pod", "jan-models", "qwen-abc")]  # the pod exits
    again = FakeDelivery(data=delete_bytes(), attempt=2)
    await first.process(again, read_command(again.data))
    assert again.verdict == "ack"
    assert events.types == ["failed", "deleted"]


def test_a_repeated_delete_has_a_message_id_of_its_own() -> None:
    first = seed_delete_command()
    second = first.model_copy(update={"attempt": 1})

    assert first.msg_id == "mdl_abc123def456:delete:1"
    assert second.msg_id == "mdl_abc123def456:delete:1:1"


async def test_events_carry_the_commands_trace_and_none_without_one() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    traced, untraced = FakeEvents(), FakeEvents()
    await run(create_bytes(traceparent=traceparent), FakeCluster(), traced)
    await run(create_bytes(), FakeCluster(), untraced)
    assert [e.traceparent for e in traced.published] == [traceparent]
    assert [e.traceparent for e in untraced.published] == [None]
    assert "traceparent" not in json.loads(untraced.published[0].model_dump_json())
