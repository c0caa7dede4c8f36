"""Abuse limits on the running stack, each played with the offending client's own token.

Per-client rate limits (429 + Retry-After, nothing changed), a cap on live
audit streams per client, streams that end when their token expires or the
client is revoked, and streams that read from their own connections, never
the recorder's.
"""

import asyncio
import contextlib
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.infrastructure import Infrastructure
from tests.support.running_stack import bearer, eventually, running
from toolbox.stack import Stack
from toolbox.tokens import DEV_DIR, dev_token

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
BUNDLE = (
    Path(__file__).parents[1] / "support" / "data" / "bars_servicerequest_bundle.json"
).read_text()
THROTTLED = "gp-h81002"  # the one client given a tiny allowance here; every other keeps the defaults
PER_CLIENT = 2
TOTAL = 5
STREAM_POOL = 2
RECHECK_S = 1.0


@pytest.fixture(scope="module")
def clients_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry of the stack's own that a test may edit (revoke a client, change its key)."""
    path = tmp_path_factory.mktemp("registry") / "clients.yaml"
    shutil.copy(DEV_DIR / "clients.yaml", path)
    return path


@pytest.fixture(scope="module")
def stack(infrastructure: Infrastructure, clients_file: Path) -> Iterator[Stack]:
    env = {
        "SIGNPOST_CLIENTS_FILE": str(clients_file),
        "SIGNPOST_RATE_LIMIT_CLIENTS": json.dumps({THROTTLED: "3/minute"}),
        "SIGNPOST_AUDIT_STREAMS_PER_CLIENT": str(PER_CLIENT),
        "SIGNPOST_AUDIT_STREAMS_TOTAL": str(TOTAL),
        "SIGNPOST_AUDIT_STREAM_POOL_SIZE": str(STREAM_POOL),
        "SIGNPOST_AUDIT_STREAM_RECHECK_S": str(RECHECK_S),
    }
    with running(infrastructure, "e2e_abuse_limits", extra_env=env) as s:
        yield s


@contextlib.contextmanager
def edited_registry(path: Path, edit: Any) -> Iterator[None]:
    """Rewrite the registry with ``edit`` applied to its client list; put the original back afterwards."""
    original = path.read_text()
    clients = yaml.safe_load(original)["clients"]
    path.write_text(yaml.safe_dump({"clients": edit(clients)}, sort_keys=False))
    try:
        yield
    finally:
        path.write_text(original)


async def _fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def rows(stack: Stack, sql: str, *args: object) -> list[asyncpg.Record]:
    return asyncio.run(_fetch(stack.database_url, sql, *args))


def submit(
    stack: Stack, client: str, ods: str, request_id: str | None = None
) -> httpx.Response:
    body = json.loads(json.dumps(REFERRAL))
    body["referrer"]["ods_code"] = ods
    headers = {**bearer(client), "X-Request-Id": request_id or str(uuid.uuid4())}
    return httpx.post(
        f"{stack.url('intake')}/v1/referrals", json=body, headers=headers, timeout=10
    )


def stream_url(stack: Stack) -> str:
    return f"{stack.url('audit')}/v1/audit/stream"


def open_stream(
    http: httpx.Client, stack: Stack, token: str, **headers: str
) -> httpx.Response:
    request = http.build_request(
        "GET",
        stream_url(stack),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "text/event-stream",
            **headers,
        },
    )
    return http.send(request, stream=True)


def read_until_closed(
    stream: Iterator[str], within_s: float
) -> tuple[list[str], float]:
    """Every line until the server ends the stream, and when it ended; fails if it is still open after ``within_s``."""
    deadline = time.monotonic() + within_s
    lines: list[str] = []
    try:
        for line in stream:
            lines.append(line)
            assert time.monotonic() < deadline, (
                f"the stream was still open after {within_s:.0f}s: {lines[-5:]}"
            )
    except httpx.ReadTimeout:
        raise AssertionError(
            f"the stream was still open after {within_s:.0f}s (read timed out): {lines[-5:]}"
        ) from None
    return lines, time.monotonic()


def ids_in(lines: list[str]) -> list[str]:
    return [
        line.removeprefix("id:").strip() for line in lines if line.startswith("id:")
    ]


# ---- per-client rate limits -------------------------------------------------------------------


def test_a_client_over_its_rate_gets_429_with_retry_after_and_its_referral_is_not_stored(
    stack: Stack,
) -> None:
    for _ in range(3):
        assert submit(stack, THROTTLED, "H81002").status_code == 202
    before = rows(stack, "SELECT count(*) AS n FROM intake.referrals")[0]["n"]
    refused_id = str(uuid.uuid4())

    refused = submit(stack, THROTTLED, "H81002", request_id=refused_id)

    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    problem = refused.json()
    assert (problem["status"], problem["title"]) == (429, "Too Many Requests")
    assert "3 requests a minute" in problem["detail"]
    assert rows(stack, "SELECT count(*) AS n FROM intake.referrals")[0]["n"] == before
    assert (
        rows(
            stack,
            "SELECT 1 FROM intake.idempotency_keys WHERE request_id = $1",
            refused_id,
        )
        == []
    )
    # Another client, at the same moment, is not held back by the first one's limit.
    assert submit(stack, "gp-h81001", "H81001").status_code == 202


def test_the_fhir_endpoint_refuses_an_over_rate_client_with_an_operation_outcome(
    stack: Stack,
) -> None:
    for _ in range(
        4
    ):  # whatever the earlier test left, this client is over its 3 a minute after these
        httpx.get(
            f"{stack.url('intake')}/v1/referrals/{uuid.uuid4()}",
            headers=bearer(THROTTLED),
            timeout=10,
        )
    headers = {
        **bearer(THROTTLED),
        "Content-Type": "application/fhir+json",
        "X-Request-Id": str(uuid.uuid4()),
    }

    refused = httpx.post(
        f"{stack.url('intake')}/v1/fhir/$process-message",
        content=BUNDLE,
        headers=headers,
        timeout=10,
    )

    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/fhir+json")
    assert int(refused.headers["retry-after"]) >= 1
    outcome = refused.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert (issue["severity"], issue["code"]) == ("error", "throttled")
    assert issue["details"]["coding"][0]["code"] == "REC_TOO_MANY_REQUESTS"


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("router", "/v1/directory/services"),
        ("notifier", f"/v1/assignments/{uuid.UUID(int=1)}"),
        ("audit", f"/v1/referrals/{uuid.UUID(int=1)}/audit"),
    ],
)
def test_every_service_limits_each_client_and_leaves_the_others_alone(
    stack: Stack, service: str, path: str
) -> None:
    url = f"{stack.url(service)}{path}"
    statuses = [
        httpx.get(url, headers=bearer(THROTTLED), timeout=10).status_code
        for _ in range(5)
    ]
    assert 429 not in statuses[:3], statuses
    assert statuses[3:] == [429, 429], statuses
    assert httpx.get(url, headers=bearer("operations"), timeout=10).status_code != 429
    metrics = httpx.get(f"{stack.url(service)}/metrics", timeout=10).text
    assert f'signpost_rate_limited_total{{client_id="{THROTTLED}"}} 2.0' in metrics


def test_unauthenticated_probes_are_never_limited(stack: Stack) -> None:
    for path in ["/healthz", "/readyz", "/metrics"] * 3:
        assert httpx.get(f"{stack.url('intake')}{path}", timeout=10).status_code == 200


# ---- live streams ----------------------------------------------------------------------------


def test_streams_over_the_per_client_cap_are_refused_until_one_closes(
    stack: Stack,
) -> None:
    with httpx.Client(timeout=httpx.Timeout(10.0)) as http:
        held = [
            open_stream(http, stack, dev_token("operations")) for _ in range(PER_CLIENT)
        ]
        try:
            assert [r.status_code for r in held] == [200] * PER_CLIENT
            over = open_stream(http, stack, dev_token("operations"))
            assert over.status_code == 429, (
                "a stream over the per-client cap was opened"
            )
            over.read()
            assert int(over.headers["retry-after"]) >= 1
            assert "streams" in over.json()["detail"]
            # Another client still gets its own.
            other = open_stream(http, stack, dev_token("agency-demo-pharmacy"))
            assert other.status_code == 200
            other.close()
            held.pop().close()
            # The closed stream's place is free again (the server notices the hang-up within a poll).
            held.append(
                eventually(
                    lambda: _stream_or_none(http, stack, "operations"),
                    timeout=10,
                    what="a freed slot",
                )
            )
        finally:
            for r in held:
                r.close()


def _stream_or_none(
    http: httpx.Client, stack: Stack, client: str
) -> httpx.Response | None:
    response = open_stream(http, stack, dev_token(client))
    if response.status_code == 200:
        return response
    response.close()
    return None


def test_a_stream_ends_when_its_token_expires_and_resumes_with_a_new_token(
    stack: Stack,
) -> None:
    lifetime = 4
    token = dev_token("operations", lifetime_s=lifetime)
    expires = time.monotonic() + lifetime
    with httpx.Client(timeout=httpx.Timeout(10.0, read=lifetime + 8.0)) as http:
        response = open_stream(http, stack, token)
        assert response.status_code == 200
        lines, ended = read_until_closed(response.iter_lines(), within_s=lifetime + 6.0)
        assert ended >= expires - 1.5, "the stream ended well before its token expired"
        last_id = ids_in(lines)[-1]

        # The expired token cannot reopen it (though other endpoints allow a little clock skew) ...
        stale = open_stream(http, stack, token, **{"Last-Event-ID": last_id})
        stale.read()
        assert stale.status_code == 401
        assert "expired" in stale.json()["detail"]

        # ... a fresh one resumes from the last id, missing nothing recorded in between.
        referral_id = submit(stack, "gp-h81001", "H81001").json()["referral_id"]
        resumed = open_stream(
            http, stack, dev_token("operations"), **{"Last-Event-ID": last_id}
        )
        assert resumed.status_code == 200
        seen: list[dict[str, Any]] = []
        for line in resumed.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line.removeprefix("data:")))
                if any(e.get("referral_id") == referral_id for e in seen):
                    break
        resumed.close()
        assert all(int(e["seq"]) > int(last_id) for e in seen)


def _without(client_id: str) -> Any:
    return lambda clients: [c for c in clients if c["client_id"] != client_id]


def _rekeyed(client_id: str) -> Any:
    public = Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return lambda clients: [
        {**c, "public_key": pem} if c["client_id"] == client_id else c for c in clients
    ]


@pytest.mark.parametrize(
    ("client", "edit"),
    [("agency-demo-pharmacy", _without), ("operations", _rekeyed)],
    ids=["removed", "key-changed"],
)
def test_a_revoked_clients_stream_is_closed(
    stack: Stack, clients_file: Path, client: str, edit: Any
) -> None:
    with httpx.Client(timeout=httpx.Timeout(10.0, read=20.0)) as http:
        response = open_stream(http, stack, dev_token(client))
        assert response.status_code == 200
        stream = response.iter_lines()
        assert next(stream).startswith(
            ":"
        )  # the stream's start (a comment, then its id): it is open
        with edited_registry(clients_file, edit(client)):
            revoked = time.monotonic()
            _, ended = read_until_closed(stream, within_s=RECHECK_S + 8.0)
            assert ended - revoked <= RECHECK_S + 8.0
            metrics = httpx.get(f"{stack.url('audit')}/metrics", timeout=10).text
            assert 'signpost_audit_streams_ended_total{reason="the client' in metrics
            # And the client's next request is refused too.
            again = httpx.get(
                f"{stack.url('audit')}/v1/operations/escalations",
                headers=bearer(client),
                timeout=10,
            )
            assert again.status_code == 401


def test_the_recorder_keeps_recording_while_every_stream_slot_is_taken(
    stack: Stack,
) -> None:
    holders = (
        ["operations"] * PER_CLIENT
        + ["agency-demo-pharmacy"] * PER_CLIENT
        + ["agency-social-services-croydon-north"]
    )
    assert len(holders) == TOTAL
    with httpx.Client(timeout=httpx.Timeout(10.0)) as http:
        held = [open_stream(http, stack, dev_token(c)) for c in holders]
        try:
            assert [r.status_code for r in held] == [200] * TOTAL
            over = open_stream(
                http, stack, dev_token("agency-social-services-croydon-north")
            )
            assert over.status_code == 429, "a stream over the total cap was opened"
            over.read()

            started = time.monotonic()
            referral_id = submit(stack, "gp-h81001", "H81001").json()["referral_id"]
            recorded = "SELECT event_type FROM audit.audit_log WHERE referral_id = $1"
            eventually(
                lambda: rows(stack, recorded, uuid.UUID(referral_id)),
                timeout=15,
                what="the recorder to record",
            )
            assert time.monotonic() - started < 15
            # The streams read through their own connections: none of the recorder's pool ran a stream's poll.
            by_pool = rows(
                stack,
                "SELECT application_name, query FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name LIKE 'signpost-audit%'",
            )
            stream_connections = [
                r for r in by_pool if r["application_name"] == "signpost-audit-stream"
            ]
            assert 1 <= len(stream_connections) <= STREAM_POOL, by_pool
            polled_by_recorder_pool = [
                # A stream's poll is the one query that selects "stream_tx" (services/audit/store/stream.py).
                r
                for r in by_pool
                if r["application_name"] == "signpost-audit"
                and "stream_tx" in r["query"]
            ]
            assert polled_by_recorder_pool == [], polled_by_recorder_pool
        finally:
            for r in held:
                r.close()


def test_the_tail_carries_on_across_token_expiry_with_a_fresh_token_and_misses_nothing(
    stack: Stack,
) -> None:
    from toolbox.audit_tail import follow

    start = rows(stack, "SELECT coalesce(max(seq), 0) AS seq FROM audit.audit_log")[0][
        "seq"
    ]
    minted: list[str] = []

    def token() -> (
        str
    ):  # as `audit tail` does: a new token at every connection, here one that lasts 3 seconds
        minted.append(dev_token("operations", lifetime_s=3))
        return minted[-1]

    lines: list[str] = []
    params = {"event_type": ["referral.submitted"]}
    follower = threading.Thread(
        target=follow,
        args=(stack.url("audit"), token, params, lines.append),
        kwargs={"last_event_id": str(start), "max_events": 3},
        daemon=True,
    )
    follower.start()
    first = submit(stack, "gp-h81001", "H81001").json()["referral_id"]
    eventually(
        lambda: any(first in line for line in lines),
        what="the first referral in the tail",
    )
    # The stream ends at its token's expiry; the next referral is recorded across the reconnection.
    eventually(
        lambda: any("the service ended the stream" in line for line in lines),
        timeout=15,
        what="the expiry",
    )
    later = [
        submit(stack, "gp-h81001", "H81001").json()["referral_id"] for _ in range(2)
    ]
    follower.join(timeout=30)

    assert not follower.is_alive(), f"the tail stopped short: {lines}"
    shown = [line for line in lines if line.startswith("#")]
    assert [line.split("referral ")[1].split()[0] for line in shown] == [
        first,
        *later,
    ], "each once, in order"
    assert len(minted) >= 2, "it reconnected with a new token"
