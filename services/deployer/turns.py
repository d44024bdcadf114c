"""One model's commands in order across every deployer replica.

Inside one process `ordering.KeyedDispatcher` runs a model's commands one after another.
Several deployer replicas share one pull consumer, so two commands of one model can be
in the hands of two replicas at once (a create still being applied by one while the
other receives its delete, or a redelivery after a crash). Each model therefore has a
*turn* record in a replicated store (a NATS KV bucket, see `adapters.turns`):

- a replica acts on a model only while it holds the model's turn: `holder` and a lease
  (`until`), so the turn of a replica that died comes free when the lease runs out;
- the record keeps the rank of the last command carried out, `done`. A command's rank is
  (generation, 0 for create / 1 for delete): a create of generation 2 outranks one of
  generation 1, and the delete of a generation outranks its create. A command ranked below
  `done` is superseded: what it asked for was already overtaken, so it is acknowledged
  without touching the cluster (a create arriving after the model's delete never
  resurrects it). A command of the same rank (a repair, a redelivery, a second DELETE)
  runs again, as it always could;
- the record also names the message whose cluster writes were made last, `applied` (a
  create's msg id). A redelivery of that very message does not write again: if it was
  also reported (`done` reached its rank) it is a duplicate and is only acknowledged, and
  if its events had not got out (NATS lost a node between the apply and the publish) only
  the events are published. So each command writes its objects once, whichever replica
  gets the redelivery; a repair is a new message and always writes.

The decision is pure (`decide`); the adapter only reads and compare-and-sets the record.
"""

from dataclasses import dataclass, field
from typing import Protocol

from shared.commands import CreateModel, DeleteModel

Rank = tuple[int, int]
NOTHING_DONE: Rank = (0, 0)


def rank_of(command: CreateModel | DeleteModel) -> Rank:
    return (command.generation, 1 if isinstance(command, DeleteModel) else 0)


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """The stored state of one model's turn."""

    done: Rank = NOTHING_DONE
    holder: str | None = None
    until: float = 0.0
    applied: str | None = None
    """The msg id of the last command whose cluster writes were all made."""


@dataclass(frozen=True, slots=True)
class Granted:
    public_id: str
    rank: Rank
    msg_id: str = ""
    applied: bool = False
    """This very message's cluster writes were made by an earlier delivery."""
    until: float = field(default=0.0, compare=False)
    """When the lease runs out (0: no lease, a deployer known to be alone)."""


@dataclass(frozen=True, slots=True)
class Busy:
    holder: str
    retry_in: float


@dataclass(frozen=True, slots=True)
class Superseded:
    done: Rank


@dataclass(frozen=True, slots=True)
class Repeated:
    """This very message was carried out and reported already: a duplicate delivery (an
    ack lost with a NATS node)."""

    msg_id: str


Turn = Granted | Busy | Superseded | Repeated


def decide(
    record: TurnRecord | None,
    *,
    public_id: str,
    rank: Rank,
    me: str,
    now: float,
    lease: float,
    msg_id: str = "",
) -> tuple[Turn, TurnRecord | None]:
    """What a replica asking for a model's turn gets, and the record to write (None: write
    nothing)."""
    current = record or TurnRecord()
    if current.holder not in (None, me) and current.until > now:
        return Busy(holder=current.holder or "", retry_in=current.until - now), None
    if rank < current.done:
        return Superseded(done=current.done), None
    applied = bool(msg_id) and current.applied == msg_id
    if applied and rank == current.done:
        return Repeated(msg_id=msg_id), None
    until = now + lease
    granted = Granted(public_id=public_id, rank=rank, msg_id=msg_id, applied=applied, until=until)
    return granted, TurnRecord(done=current.done, holder=me, until=until, applied=current.applied)


def given_back(
    record: TurnRecord | None, turn: Granted, *, me: str, done: bool, applied: bool = False
) -> TurnRecord:
    """The record once `me` ends its turn (a lease someone else took over is left to them,
    but a command carried out still counts). `applied`: this turn's message made all its
    cluster writes, whether or not it was reported."""
    current = record or TurnRecord()
    finished = max(current.done, turn.rank) if done else current.done
    last_applied = turn.msg_id if applied and turn.msg_id else current.applied
    if current.holder != me:
        return TurnRecord(
            done=finished, holder=current.holder, until=current.until, applied=last_applied
        )
    return TurnRecord(done=finished, applied=last_applied)


class ModelTurns(Protocol):
    async def take(self, public_id: str, rank: Rank, *, msg_id: str = "") -> Turn: ...

    async def give_back(self, turn: Granted, *, done: bool, applied: bool = False) -> None: ...


class EveryTurnGranted:
    """For a deployer known to be alone (tests of the processing logic, the benchmarks of
    one replica): never asks anyone."""

    async def take(self, public_id: str, rank: Rank, *, msg_id: str = "") -> Turn:
        return Granted(public_id=public_id, rank=rank, msg_id=msg_id)

    async def give_back(self, turn: Granted, *, done: bool, applied: bool = False) -> None:
        return None
