"""A service's Kafka broker that cannot connect must not leave clients behind at each retry.

FastStream's broker made an AIOKafkaProducer at every ``start()`` and lost it when
the connection failed, so a service that waited for Kafka ("kafka not reachable
yet", every restart of the broker in the chaos run) logged "Unclosed
AIOKafkaProducer" for each try. The services publish only through their outbox
relay, so their broker consumes and holds no producer at all.
"""

import asyncio
import contextlib
import gc
import socket
from typing import Any

from signpost import service
from signpost.settings import Settings


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_a_broker_that_cannot_reach_kafka_leaves_no_producer_unclosed() -> None:
    leaked: list[str] = []

    def note(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        leaked.append(str(context.get("message")))

    asyncio.get_running_loop().set_exception_handler(note)
    broker = service.kafka_broker(
        Settings(kafka_bootstrap=f"127.0.0.1:{closed_port()}")
    )
    for _ in range(3):  # as _start_broker retries
        with contextlib.suppress(Exception):
            await broker.start()
        with contextlib.suppress(Exception):
            await broker.stop()
    gc.collect()
    await asyncio.sleep(0)

    assert "Unclosed AIOKafkaProducer" not in leaked
