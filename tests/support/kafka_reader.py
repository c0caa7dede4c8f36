"""Write to and read from topics on the real broker, for assertions."""

from aiokafka import AIOKafkaProducer

from toolbox.topic_reader import read_all

__all__ = ["produce", "read_all"]


async def produce(
    bootstrap: str, topic: str, values: list[bytes], key: bytes | None = None
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
