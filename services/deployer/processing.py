"""Carrying out one delivered command and settling its message.

Ack after success, and after a permanent failure once its `failed` event is out.
Transient failures are nak'ed with a growing delay so JetStream redelivers them; after
`max_attempts` deliveries the last error of an apply is treated as permanent, so no
apply is retried for ever. A delete is the exception: it is never given up, whatever
the error (a 403 on a PVC may be lifted by an admin tomorrow), because giving up would
leave the model's GPUs, volume and token Secret behind with nobody to remove them. It is
nak'ed with the capped backoff for as long as it fails, and its `failed` event (stage
`delete`) is published on the first failed delivery and on every power-of-two one, so
the api can show why the model is still `deleting` without an event every 30 s.
A message that cannot be read is terminated. The message's ack deadline is pushed back
while a long apply runs. Events are published before the ack: if NATS refuses the
event, the command is nak'ed, and its redelivery publishes the events without writing the
objects again (the model's turn record names the message whose writes were made, see
`turns`); a redelivery of a command already reported is only acknowledged.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from uuid import NAMESPACE_URL, uuid5

from services.deployer import metrics
from services.deployer.delivery import Delivery
from services.deployer.failures import ClusterError, CommandRejectedError, retry_delay
from services.deployer.inbox import MalformedCommand
from services.deployer.operations import applied_objects, apply_model, delete_model
from services.deployer.ports import Cluster, EventSink
from services.deployer.turns import (
    Busy,
    EveryTurnGranted,
    Granted,
    ModelTurns,
    Repeated,
    Superseded,
    rank_of,
)
from shared import tracing
from shared.commands import CreateModel, DeleteModel, ModelRef
from shared.events import (
    AppliedData,
    CloudEvent,
    DeletedData,
    FailedData,
    ModelApplied,
    ModelDeleted,
    ModelFailed,
    ModelRepaired,
    RepairedData,
)
from shared.names import EventType
from shared.secrets import TokenCipher

log = logging.getLogger(__name__)

EVENT_SOURCE: Final = "/jan-models/deployer"


class Verdict(StrEnum):
    ACK = "ack"
    NAK = "nak"
    TERM = "term"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    delay: float = 0.0


@dataclass(slots=True)
class _Progress:
    applied: bool
    """The command's cluster writes are all made (by this delivery or an earlier one)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 12
    base: float = 0.5
    ceiling: float = 30.0
    keepalive_interval: float = 20.0
    """How often a long apply tells JetStream it is still working (a third of ack_wait)."""
    pod_wait: float = 2.0
    """How long a delete waits for the model's pods to exit before it comes back later."""


class CommandProcessor:
    def __init__(
        self,
        *,
        cluster: Cluster,
        events: EventSink,
        cipher: TokenCipher,
        policy: RetryPolicy,
        turns: ModelTurns | None = None,
    ) -> None:
        self._cluster = cluster
        self._events = events
        self._cipher = cipher
        self._policy = policy
        self._turns: ModelTurns = turns or EveryTurnGranted()

    async def process(
        self, delivery: Delivery, command: CreateModel | DeleteModel | MalformedCommand
    ) -> Outcome:
        if isinstance(command, MalformedCommand):
            return await self._malformed(delivery, command)
        tracing.current.set(command.traceparent)  # its events and log lines follow its trace
        context = {
            "public_id": command.public_id,
            "msg_id": delivery.msg_id,
            "verb": command.verb,
            "generation": command.generation,
            "attempt": delivery.attempt,
        }
        try:
            turn = await self._turns.take(
                command.public_id, rank_of(command), msg_id=delivery.msg_id
            )
        except Exception as exc:
            log.warning("could not take the model's turn", extra=context)
            return await self._retry(delivery, command, exc, context)
        if isinstance(turn, Busy):
            # another replica is acting on this model: come back once its lease is out
            delay = min(max(turn.retry_in, self._policy.base / 5), self._policy.ceiling)
            await delivery.nak(delay)
            metrics.COMMANDS.labels(command.verb, "waited").inc()
            return Outcome(Verdict.NAK, delay)
        if isinstance(turn, Superseded):
            log.info("superseded by a later command; nothing to do", extra=context)
            await delivery.ack()
            metrics.COMMANDS.labels(command.verb, "superseded").inc()
            return Outcome(Verdict.ACK)
        if isinstance(turn, Repeated):
            log.info("carried out and reported already; a duplicate delivery", extra=context)
            await delivery.ack()
            metrics.COMMANDS.labels(command.verb, "duplicate").inc()
            return Outcome(Verdict.ACK)
        outcome = Outcome(Verdict.NAK)
        progress = _Progress(applied=turn.applied)
        try:
            outcome = await self._in_turn(delivery, command, context, progress)
        finally:
            await self._give_back(
                turn,
                done=outcome.verdict is Verdict.ACK,
                applied=progress.applied,
                context=context,
            )
        return outcome

    async def _give_back(
        self, turn: Granted, *, done: bool, applied: bool, context: dict[str, object]
    ) -> None:
        try:
            await self._turns.give_back(turn, done=done, applied=applied)
        except Exception:
            log.exception(
                "could not give back the model's turn; its lease will run out", extra=context
            )

    async def _in_turn(
        self,
        delivery: Delivery,
        command: CreateModel | DeleteModel,
        context: dict[str, object],
        progress: _Progress,
    ) -> Outcome:
        started = time.perf_counter()
        try:
            async with self._keepalive(delivery):
                await self._carry_out(command, delivery, progress)
        except (ClusterError, CommandRejectedError) as exc:
            return await self._failure(delivery, command, exc, context)
        except Exception as exc:  # a bug must not kill the consumer; retry, then give up
            log.exception("unexpected error carrying out a command", extra=context)
            return await self._failure(delivery, command, exc, context)
        finally:
            metrics.APPLY_SECONDS.labels(command.verb).observe(time.perf_counter() - started)
        await delivery.ack()
        metrics.COMMANDS.labels(command.verb, "ok").inc()
        log.info("command carried out", extra=context)
        return Outcome(Verdict.ACK)

    async def _carry_out(
        self, command: CreateModel | DeleteModel, delivery: Delivery, progress: _Progress
    ) -> None:
        ref = _ref(command)
        if isinstance(command, CreateModel):
            if progress.applied:
                log.info(
                    "written by an earlier delivery; publishing its events only",
                    extra={"public_id": command.public_id, "msg_id": delivery.msg_id},
                )
                objects = await applied_objects(command, cluster=self._cluster, cipher=self._cipher)
            else:
                objects = await apply_model(command, cluster=self._cluster, cipher=self._cipher)
                progress.applied = True
            await self._publish(
                ModelApplied.of(AppliedData(**ref, objects=objects), source=EVENT_SOURCE), delivery
            )
            if command.cause == "repair":
                data = RepairedData(**ref, objects=objects)
                await self._publish(ModelRepaired.of(data, source=EVENT_SOURCE), delivery)
        else:
            removed = await delete_model(
                command, cluster=self._cluster, pod_wait=self._policy.pod_wait
            )
            await self._publish(
                ModelDeleted.of(DeletedData(**ref, objects=removed), source=EVENT_SOURCE), delivery
            )

    async def _failure(
        self,
        delivery: Delivery,
        command: CreateModel | DeleteModel,
        exc: Exception,
        context: dict[str, object],
    ) -> Outcome:
        if isinstance(command, DeleteModel):
            return await self._delete_unfinished(delivery, command, exc, context)
        transient = not isinstance(exc, CommandRejectedError) and (
            not isinstance(exc, ClusterError) or exc.transient
        )
        if transient and delivery.attempt < self._policy.max_attempts:
            return await self._retry(delivery, command, exc, context)
        reason, message = _reason(exc)
        data = FailedData(**_ref(command), stage="apply", reason=reason, message=message)
        if (unsent := await self._announce_failure(data, delivery, context)) is not None:
            return unsent
        log.error("command failed", extra={**context, "reason": reason, "error": message})
        await delivery.ack()
        metrics.COMMANDS.labels(command.verb, "failed").inc()
        return Outcome(Verdict.ACK)

    async def _retry(
        self,
        delivery: Delivery,
        command: CreateModel | DeleteModel,
        exc: Exception,
        context: dict[str, object],
    ) -> Outcome:
        delay = retry_delay(
            attempt=delivery.attempt,
            base=self._policy.base,
            ceiling=self._policy.ceiling,
            hint=exc.retry_after if isinstance(exc, ClusterError) else None,
        )
        log.warning("failure; will retry", extra={**context, "error": str(exc), "retry_in": delay})
        await delivery.nak(delay)
        metrics.COMMANDS.labels(command.verb, "retried").inc()
        return Outcome(Verdict.NAK, delay)

    async def _delete_unfinished(
        self,
        delivery: Delivery,
        command: DeleteModel,
        exc: Exception,
        context: dict[str, object],
    ) -> Outcome:
        """Say why (now and then), and try again: a delete is never given up."""
        attempt = delivery.attempt
        if attempt & (attempt - 1) == 0:  # 1, 2, 4, 8...
            reason, message = _reason(exc)
            data = FailedData(**_ref(command), stage="delete", reason=reason, message=message)
            try:
                await self._publish(ModelFailed.of(data, source=EVENT_SOURCE), delivery)
            except Exception:
                log.exception("could not publish the delete's failed event", extra=context)
        return await self._retry(delivery, command, exc, context)

    async def _malformed(self, delivery: Delivery, command: MalformedCommand) -> Outcome:
        context = {"msg_id": delivery.msg_id, "stream_seq": delivery.stream_sequence}
        metrics.MALFORMED.labels(str(command.ref is not None).lower()).inc()
        if command.ref is not None:
            data = FailedData(
                **command.ref.model_dump(),
                stage="command",
                reason="MalformedCommand",
                message=command.problem,
            )
            if (unsent := await self._announce_failure(data, delivery, context)) is not None:
                return unsent
            context["public_id"] = command.ref.public_id
        log.error("malformed command dropped", extra={**context, "problem": command.problem})
        await delivery.term()
        metrics.COMMANDS.labels("unknown", "malformed").inc()
        return Outcome(Verdict.TERM)

    async def _announce_failure(
        self, data: FailedData, delivery: Delivery, context: dict[str, object]
    ) -> Outcome | None:
        """Publish `failed`; when that fails, nak the command so it comes back and is
        announced again (the NAK is the outcome), else None: the caller settles it."""
        try:
            await self._publish(ModelFailed.of(data, source=EVENT_SOURCE), delivery)
        except Exception:
            log.exception("could not publish the failed event; will retry", extra=context)
            await delivery.nak(self._policy.base)
            return Outcome(Verdict.NAK, self._policy.base)
        return None

    async def _publish(self, event: CloudEvent, delivery: Delivery) -> None:
        """Publish with an id derived from the command's: carrying the same command out
        again (a redelivery after a crash or a refused publish) publishes nothing new,
        JetStream drops it. A `failed` event is per delivery, since a delete that keeps
        failing says so again on later deliveries."""
        msg_id = f"{delivery.msg_id}:{event.event_type.value}"
        if event.event_type is EventType.FAILED:
            msg_id += f":{delivery.attempt}"
        stamped = event.model_copy(
            update={"id": str(uuid5(NAMESPACE_URL, msg_id)), "traceparent": tracing.current.get()}
        )
        await self._events.publish(stamped, msg_id=msg_id)

    @contextlib.asynccontextmanager
    async def _keepalive(self, delivery: Delivery) -> AsyncIterator[None]:
        """In-progress beats while the body runs: a timer, not a task, per command.

        Nearly every apply ends long before the first beat is due, and a cancelled timer
        costs far less than starting and cancelling a task at hundreds of commands a second.
        """
        loop = asyncio.get_running_loop()
        interval = self._policy.keepalive_interval
        beats: set[asyncio.Task[None]] = set()
        timers: list[asyncio.TimerHandle] = []

        async def beat() -> None:
            with contextlib.suppress(Exception):
                await delivery.in_progress()

        def due() -> None:
            task = loop.create_task(beat())
            beats.add(task)
            task.add_done_callback(beats.discard)
            timers[0] = loop.call_later(interval, due)

        timers.append(loop.call_later(interval, due))
        try:
            yield
        finally:
            timers[0].cancel()
            for task in beats:
                task.cancel()


_REF_FIELDS: Final = frozenset(ModelRef.model_fields)


def _ref(command: CreateModel | DeleteModel) -> dict[str, Any]:
    return command.model_dump(include=set(_REF_FIELDS))


def _reason(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ClusterError | CommandRejectedError):
        return exc.reason, exc.message
    return "InternalError", f"{type(exc).__name__}: {exc}"[:1000]
