"""A deadline for reading each HTTP request: slow clients cannot hold connections open.

uvicorn closes an idle keep-alive connection, but only once a response has
been sent: a client that connects and sends nothing, or sends its request
head or body a byte at a time (slowloris), keeps its connection, and enough
of them fill ``limit_concurrency``. So each request must arrive whole, head
and body, within ``read_timeout`` of its connection or of its first byte.
A request still in its head then gets 408 and the connection is closed; one
whose body is late is cut off (its handler sees the client disconnect).
"""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)


class ReadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a read deadline per request (set by ``with_read_timeout``)."""

    read_timeout: float = 15.0
    _read_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """At shutdown, drop an idle kept-alive connection at once instead of closing it politely.

        Over TLS, ``close()`` sends close_notify and waits (up to 30 s) for the client's reply, which a
        client holding the connection idle in its pool never sends: uvicorn then waited out its whole
        graceful timeout (20 s) before draining. A connection with no request in flight and nothing left to
        write loses nothing by an abort; the client finds it gone and connects again.
        """
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            super().shutdown()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._read_deadline is None:  # the next request on a kept-alive connection
            self._arm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def _arm(self) -> None:
        self._disarm()
        self._read_deadline = self.loop.call_later(
            self.read_timeout, self._read_timed_out
        )

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        # No handler is answering yet (still in the head, or between requests): say why before closing.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(TIMED_OUT)
        self.transport.close()


def with_read_timeout(seconds: float) -> type[ReadDeadlineProtocol]:
    """The protocol class for uvicorn's ``http=``, with this deadline."""
    return type(
        "ReadDeadlineProtocol", (ReadDeadlineProtocol,), {"read_timeout": seconds}
    )
