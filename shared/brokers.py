"""The FastStream broker of the deployer and the inventory, and the one NATS connection
each of them has.

The broker connects; the service's runtime then does its work on that connection (the
deployer fetches commands and publishes events, the inventory answers queries, publishes
events and reads deletions), so `/healthz`, which pings the broker (`shared.probes`),
reports on the connection that does the work. It reconnects as every connection of the
project does (`shared.messaging`).
"""

import logging

from faststream.nats import NatsBroker

from shared import messaging


def nats_broker(url: str, *, name: str, log_level: int = logging.INFO) -> NatsBroker:
    """Not connected yet: `await broker.connect()` gives the connection (the same one every
    time, and the one `broker.start()` keeps); `broker.stop()` drains it."""
    return NatsBroker(
        messaging.server_urls(url),
        name=name,
        max_reconnect_attempts=messaging.MAX_RECONNECT_ATTEMPTS,
        reconnect_time_wait=messaging.RECONNECT_TIME_WAIT,  # type: ignore[arg-type]  # nats-py sleeps a float
        connect_timeout=messaging.CONNECT_TIMEOUT,
        log_level=log_level,
    )
