"""The HTTP server every service runs (``signpost.service.run``): read deadlines, concurrency cap, TLS.

A real uvicorn process started through ``run()`` with the settings a service
gets, serving a small app (the limits are the server's, not a route's), so no
broker or database is needed.
"""

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy import tls
from tests.support.running_stack import eventually

REPO = Path(__file__).resolve().parents[2]
PORT = int(os.environ.get("SIGNPOST_TEST_PORT_BASE", "18000")) + 90
APP = """
import asyncio
from fastapi import FastAPI, Request
from signpost.service import run

app = FastAPI()

@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}

@app.post("/echo")
async def echo(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}

@app.get("/slow")
async def slow() -> dict[str, str]:
    await asyncio.sleep(3)
    return {"status": "slow"}

run("intake", app)
"""


def _serve(port: int, log: Path | None = None, **env: str) -> subprocess.Popen[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SIGNPOST_")}
    base.update(
        SIGNPOST_DEVELOPMENT_MODE="1",
        SIGNPOST_INTAKE_PORT=str(port),
        SIGNPOST_HTTP_READ_TIMEOUT_S="1.5",
        **env,
    )
    out = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-c", APP],
        cwd=REPO,
        env=base,
        stdout=out,
        stderr=out,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _answers(url: str, **kwargs: object) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2, **kwargs).status_code == 200  # type: ignore[arg-type]
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc = _serve(PORT, SIGNPOST_HTTP_LIMIT_CONCURRENCY="20")
    url = f"http://127.0.0.1:{PORT}"
    try:
        eventually(
            lambda: proc.poll() is None and _answers(url),
            timeout=30,
            what="the server to answer",
        )
        yield url
    finally:
        _stop(proc)


def _closed_within(sock: socket.socket, seconds: float) -> tuple[float, bytes]:
    """Read until the server closes; how long that took and what it said."""
    started = time.monotonic()
    sock.settimeout(seconds)
    said = b""
    while chunk := sock.recv(4096):
        said += chunk
    return time.monotonic() - started, said


def test_a_slowloris_head_gets_408_and_is_closed_while_others_are_answered(
    server: str,
) -> None:
    sock = socket.create_connection(("127.0.0.1", PORT))
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    for header in (
        b"X-A: 1\r\n",
        b"X-B: 2\r\n",
        b"X-C: 3\r\n",
    ):  # a header a while, never the blank line
        time.sleep(0.3)
        assert _answers(server), (
            "another client must be answered while the slow one dribbles"
        )
        sock.sendall(header)
    _, said = _closed_within(sock, 10)
    took = time.monotonic() - started
    sock.close()
    assert said.startswith(b"HTTP/1.1 408"), said
    assert 1.4 <= took < 5, f"closed after {took:.1f}s; the read timeout is 1.5s"
    assert _answers(server)


def test_a_connection_that_never_speaks_is_closed(server: str) -> None:
    sock = socket.create_connection(("127.0.0.1", PORT))
    took, said = _closed_within(sock, 10)
    sock.close()
    assert said.startswith(b"HTTP/1.1 408"), said
    assert took < 5, took


def test_a_slow_body_is_cut_off(server: str) -> None:
    sock = socket.create_connection(("127.0.0.1", PORT))
    sock.sendall(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    )
    took, _ = _closed_within(sock, 10)
    sock.close()
    assert took < 5, f"a body promised and never sent held the connection {took:.1f}s"
    assert _answers(server)


def test_a_whole_request_is_answered_and_kept_alive_past_the_read_timeout(
    server: str,
) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        assert client.post("/echo", content=b"x" * 5000).json() == {"bytes": 5000}
        time.sleep(
            2
        )  # longer than the read timeout: an idle kept-alive connection is keep-alive's to close
        assert client.get("/slow").json() == {
            "status": "slow"
        }  # a slow handler is not a slow client


def test_past_the_concurrency_cap_the_server_answers_503(server: str) -> None:
    socks = [socket.create_connection(("127.0.0.1", PORT)) for _ in range(25)]
    try:
        busy = httpx.get(f"{server}/healthz", timeout=5)
        assert busy.status_code == 503, busy.text
    finally:
        for s in socks:
            s.close()
    eventually(
        lambda: _answers(server),
        timeout=10,
        what="the server to answer again once the crowd leaves",
    )


def test_given_a_certificate_the_server_speaks_only_tls(tmp_path: Path) -> None:
    certs = tls.ensure(tmp_path / "tls")
    port = PORT + 1
    proc = _serve(
        port,
        SIGNPOST_TLS_CERTFILE=str(certs.cert_file),
        SIGNPOST_TLS_KEYFILE=str(certs.key_file),
    )
    try:
        https = f"https://127.0.0.1:{port}"
        verify = ssl.create_default_context(cafile=str(certs.ca_file))
        eventually(
            lambda: proc.poll() is None and _answers(https, verify=verify),
            timeout=30,
            what="https to answer",
        )
        assert _answers(f"https://localhost:{port}", verify=verify)
        with pytest.raises(
            httpx.HTTPError
        ):  # plain HTTP on the same port gets no answer
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3).raise_for_status()
        with pytest.raises(
            httpx.ConnectError
        ):  # nor does a client that does not trust the local CA
            httpx.get(f"{https}/healthz", timeout=3)
    finally:
        _stop(proc)


def test_on_sigterm_an_idle_tls_connection_does_not_hold_the_shutdown(
    tmp_path: Path,
) -> None:
    """A client that keeps its TLS connection idle in its pool never answers close_notify.

    uvicorn used to wait for it until its graceful timeout ran out (20 s, "timeout graceful shutdown
    exceeded") before the service even began to drain: 60 s of one test module's teardown.
    """
    certs = tls.ensure(tmp_path / "tls")
    port = PORT + 2
    log = tmp_path / "server.log"
    proc = _serve(
        port,
        log,
        SIGNPOST_TLS_CERTFILE=str(certs.cert_file),
        SIGNPOST_TLS_KEYFILE=str(certs.key_file),
    )
    verify = ssl.create_default_context(cafile=str(certs.ca_file))
    https = f"https://127.0.0.1:{port}"
    try:
        eventually(
            lambda: proc.poll() is None and _answers(https, verify=verify),
            timeout=30,
            what="https to answer",
        )
        with httpx.Client(verify=verify, timeout=5) as client:
            assert (
                client.get(f"{https}/healthz").status_code == 200
            )  # now idle in the pool
            proc.terminate()
            proc.wait(60)
    finally:
        _stop(proc)
    said = log.read_text()
    assert proc.returncode is not None, "the server stopped"
    assert "graceful shutdown exceeded" not in said, said[-2000:]
