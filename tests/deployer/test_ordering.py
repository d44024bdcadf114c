"""Per-model order, cross-model concurrency, and holding a model behind a nak'ed command."""

import asyncio

from services.deployer.delivery import Delivery
from services.deployer.ordering import KeyedDispatcher
from services.deployer.processing import Outcome, Verdict
from tests.deployer.fakes import FakeDelivery


class Recorder:
    def __init__(self, *, nak: set[int] | None = None, pause: float = 0.0) -> None:
        self.seen: list[tuple[str, int]] = []
        self.running = 0
        self.most_running = 0
        self.nak = nak or set()
        self.pause = pause

    async def handle(self, delivery: Delivery, key: str) -> Outcome:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        self.seen.append((key, delivery.stream_sequence))
        await asyncio.sleep(self.pause)
        self.running -= 1
        if delivery.stream_sequence in self.nak:
            self.nak.discard(delivery.stream_sequence)
            await delivery.nak(1.0)
            return Outcome(Verdict.NAK, 1.0)
        await delivery.ack()
        return Outcome(Verdict.ACK)


def dispatcher(recorder: Recorder, concurrency: int = 4) -> KeyedDispatcher[str]:
    return KeyedDispatcher(
        handle=recorder.handle, concurrency=concurrency, capacity=100, hold_grace=5.0
    )


async def test_one_models_commands_run_in_stream_order_while_models_run_in_parallel() -> None:
    recorder = Recorder(pause=0.01)
    dispatch = dispatcher(recorder)
    for sequence in range(1, 13):
        key = f"m{sequence % 3}"
        await dispatch.submit(key, FakeDelivery(stream_sequence=sequence), key)
    await asyncio.wait_for(dispatch.wait_idle(), 5)
    for key in ("m0", "m1", "m2"):
        order = [seq for k, seq in recorder.seen if k == key]
        assert order == sorted(order)
        assert len(order) == 4
    assert recorder.most_running == 3


async def test_concurrency_is_bounded() -> None:
    recorder = Recorder(pause=0.01)
    dispatch = dispatcher(recorder, concurrency=2)
    for sequence in range(1, 11):
        await dispatch.submit(
            f"m{sequence}", FakeDelivery(stream_sequence=sequence), f"m{sequence}"
        )
    await asyncio.wait_for(dispatch.wait_idle(), 5)
    assert recorder.most_running == 2
    assert len(recorder.seen) == 10


async def test_commands_behind_a_nakked_one_wait_for_it_instead_of_overtaking() -> None:
    recorder = Recorder(nak={1})
    dispatch = dispatcher(recorder)
    first, second, third = (FakeDelivery(stream_sequence=s) for s in (1, 2, 3))
    for delivery in (first, second, third):
        await dispatch.submit("m", delivery, "m")
    other = FakeDelivery(stream_sequence=4)
    await dispatch.submit("n", other, "n")
    await asyncio.wait_for(dispatch.wait_idle(), 5)
    assert recorder.seen == [("m", 1), ("n", 4)]
    assert first.settled == [("nak", 1.0)]
    assert second.settled[0][0] == "nak"
    assert third.settled[0][0] == "nak"
    assert first.settled[0][1] < second.settled[0][1] < third.settled[0][1]
    assert other.settled == [("ack", 0.0)]
    # The held command comes back first: it runs and releases the model.
    redelivered = FakeDelivery(stream_sequence=1, attempt=2)
    await dispatch.submit("m", redelivered, "m")
    for sequence in (2, 3):
        await dispatch.submit("m", FakeDelivery(stream_sequence=sequence, attempt=2), "m")
    await asyncio.wait_for(dispatch.wait_idle(), 5)
    assert [seq for key, seq in recorder.seen if key == "m"] == [1, 1, 2, 3]
