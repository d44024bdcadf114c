"""One delivered message, as the deployer's logic sees it (the NATS adapter wraps `Msg`)."""

from typing import Protocol


class Delivery(Protocol):
    @property
    def data(self) -> bytes: ...

    @property
    def stream_sequence(self) -> int: ...

    @property
    def attempt(self) -> int:
        """1 on first delivery, 2 on the first redelivery..."""

    @property
    def msg_id(self) -> str: ...

    async def ack(self) -> None: ...

    async def nak(self, delay: float) -> None: ...

    async def term(self) -> None: ...

    async def in_progress(self) -> None: ...
