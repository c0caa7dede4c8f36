"""Audit: queries, who-viewed, the live stream and append-only storage, on the running services."""

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.running_stack import audit_trail, bearer, eventually
from toolbox.stack import Stack

REFERRAL = json.loads(
    (
        Path(__file__).parents[1] / "support" / "data" / "pharmacy_first_referral.json"
    ).read_text()
)
NHS_NUMBER = REFERRAL["patient"]["nhs_number"]


def submit(stack: Stack) -> str:
    response = httpx.post(
        f"{stack.url('intake')}/v1/referrals",
        json=REFERRAL,
        headers=bearer(),
        timeout=10,
    )
    assert response.status_code == 202
    referral_id: str = response.json()["referral_id"]
    return referral_id


def delivered(stack: Stack, referral_id: str) -> list[dict[str, Any]]:
    trail: list[dict[str, Any]] = eventually(
        lambda: (
            (t := audit_trail(stack, referral_id))
            and "assignment.delivered" in [e["event_type"] for e in t]
            and t
        ),
        what="delivery in the audit trail",
    )
    return trail


def search(stack: Stack, client: str, **body: object) -> httpx.Response:
    return httpx.post(
        f"{stack.url('audit')}/v1/audit/search",
        json=body,
        headers=bearer(client),
        timeout=10,
    )


def test_who_viewed_lists_each_read_of_the_patient_with_who_and_what(
    shared_stack: Stack,
) -> None:
    referral_id = submit(shared_stack)
    delivered(shared_stack, referral_id)
    read = httpx.get(
        f"{shared_stack.url('intake')}/v1/referrals/{referral_id}",
        headers=bearer("gp-h81001"),
        timeout=10,
    )
    assert read.status_code == 200

    def report() -> list[dict[str, Any]]:
        response = httpx.post(
            f"{shared_stack.url('audit')}/v1/audit/who-viewed",
            json={"nhs_number": NHS_NUMBER},
            headers=bearer("operations"),
        )
        assert response.status_code == 200
        accesses: list[dict[str, Any]] = response.json()["accesses"]
        return [a for a in accesses if a["referral_id"] == referral_id]

    accesses = eventually(report, what="the read to be recorded")
    assert accesses[0]["client_id"] == "gp-h81001"
    assert accesses[0]["organisation"] == "H81001"
    assert accesses[0]["function"] == "read referral"
    assert accesses[0]["outcome"] == "granted"


def test_search_by_nhs_number_finds_the_patients_events_without_storing_the_number(
    shared_stack: Stack,
) -> None:
    referral_id = submit(shared_stack)
    delivered(shared_stack, referral_id)
    response = search(
        shared_stack,
        "operations",
        nhs_number=NHS_NUMBER,
        event_types=["referral.submitted"],
        limit=1000,
    )
    assert response.status_code == 200
    events = response.json()["events"]
    assert referral_id in {e["referral_id"] for e in events}
    assert NHS_NUMBER not in response.text


def test_search_rejects_an_invalid_nhs_number_with_a_specific_error(
    shared_stack: Stack,
) -> None:
    response = search(shared_stack, "operations", nhs_number="3478526985")
    assert response.status_code == 422
    assert "modulus 11" in response.json()["detail"]


@pytest.mark.hazard("HAZ-014")
def test_an_agency_sees_only_its_own_events_and_a_referrer_none(
    shared_stack: Stack,
) -> None:
    delivered(shared_stack, submit(shared_stack))
    mine = search(shared_stack, "agency-demo-pharmacy")
    assert mine.status_code == 200
    assert mine.json()["events"]
    assert {e["agency_id"] for e in mine.json()["events"]} == {"demo-pharmacy"}
    assert (
        search(
            shared_stack, "agency-demo-pharmacy", agency_id="other-agency"
        ).status_code
        == 403
    )
    assert search(shared_stack, "gp-h81001").status_code == 403


def test_live_stream_delivers_new_events_and_resumes_from_last_event_id(
    shared_stack: Stack,
) -> None:
    url = f"{shared_stack.url('audit')}/v1/audit/stream"
    headers = bearer("operations")

    def read_events(
        extra: dict[str, str], stop_when: str, limit: int = 200
    ) -> list[tuple[int, dict[str, Any]]]:
        got: list[tuple[int, dict[str, Any]]] = []
        with httpx.stream(
            "GET",
            url,
            headers={**headers, **extra},
            params={"event_type": ["referral.submitted", "assignment.delivered"]},
            timeout=httpx.Timeout(30.0),
        ) as response:
            assert response.status_code == 200
            seq = 0
            # The stream's heartbeats keep every read inside its timeout, so without a deadline of its own a stream
            # that never brings the awaited event holds the test until pytest's 300 s (seen once at load 15).
            deadline = time.monotonic() + 60
            for line in response.iter_lines():
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"no assignment.delivered of {stop_when} on the stream within 60 s;"
                        f" {len(got)} events came: {[(s, r['event_type'], r['referral_id']) for s, r in got][-10:]}"
                    )
                if line.startswith("id:"):
                    seq = int(line[3:].strip())
                elif line.startswith("data:"):
                    row = json.loads(line[5:].strip())
                    got.append((seq, row))
                    if (
                        row["referral_id"] == stop_when
                        and row["event_type"] == "assignment.delivered"
                    ) or len(got) >= limit:
                        return got
        return got

    first_id = submit(shared_stack)
    delivered(shared_stack, first_id)
    # Audit numbers events in the order it reads them, across topics: a delivery read in the same batch as its
    # submission can stand before it. So resume from before the first of this referral's events.
    first_seq = min(
        e["seq"]
        for e in audit_trail(shared_stack, first_id)
        if e["event_type"] in {"referral.submitted", "assignment.delivered"}
    )
    resumed = read_events({"Last-Event-ID": str(first_seq - 1)}, stop_when=first_id)
    assert any(
        r["referral_id"] == first_id and r["event_type"] == "assignment.delivered"
        for _, r in resumed
    ), f"the stream never brought the delivery of {first_id} within 60 s"
    seqs = [s for s, _ in resumed]
    assert seqs == sorted(set(seqs)), "events must arrive once each, in order"
    assert resumed[0][0] == first_seq
    assert {r["event_type"] for _, r in resumed} <= {
        "referral.submitted",
        "assignment.delivered",
    }


def test_a_stream_opened_before_any_event_gives_a_resume_point_that_misses_nothing(
    shared_stack: Stack,
) -> None:
    url = f"{shared_stack.url('audit')}/v1/audit/stream"
    params = {"event_type": ["referral.submitted"]}
    with httpx.stream(
        "GET",
        url,
        headers=bearer("operations"),
        params=params,
        timeout=httpx.Timeout(30.0),
    ) as response:
        assert response.status_code == 200
        first = []
        for line in response.iter_lines():
            if not line:
                break
            first.append(line)
    # The link dropped before any event arrived; what came next must still be found from the id the stream gave.
    ids = [line.removeprefix("id:").strip() for line in first if line.startswith("id:")]
    assert len(ids) == 1, first
    assert not any(line.startswith("data:") for line in first), (
        "the start names a point, not an event"
    )
    referral_id = submit(shared_stack)
    delivered(shared_stack, referral_id)
    submitted = next(
        e["seq"]
        for e in audit_trail(shared_stack, referral_id)
        if e["event_type"] == "referral.submitted"
    )
    assert int(ids[0]) < submitted
    with httpx.stream(
        "GET",
        url,
        headers={**bearer("operations"), "Last-Event-ID": ids[0]},
        params=params,
        timeout=httpx.Timeout(30.0),
    ) as response:
        first_shown = None
        for line in (
            response.iter_lines()
        ):  # the event is already in the log: it comes first unless skipped
            if line.startswith("data:"):
                first_shown = json.loads(line[5:])
                break
    assert first_shown is not None
    assert (first_shown["referral_id"], first_shown["seq"]) == (
        referral_id,
        submitted,
    ), "the next event, nothing skipped"


def test_the_audit_table_refuses_update_and_delete(shared_stack: Stack) -> None:
    delivered(shared_stack, submit(shared_stack))

    async def tamper(sql: str) -> None:
        conn = await asyncpg.connect(shared_stack.database_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    for sql in (
        "UPDATE audit.audit_log SET event_type = 'x'",
        "DELETE FROM audit.audit_log",
        "TRUNCATE audit.audit_log",
    ):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            asyncio.run(tamper(sql))


def test_a_sequence_number_past_the_logs_range_is_refused_with_a_specific_error(
    shared_stack: Stack,
) -> None:
    # Found by the OpenAPI fuzz: seq is a PostgreSQL bigint, and a larger after_seq was a 500 (a broken stream).
    beyond, audit, operations = 2**63, shared_stack.url("audit"), bearer("operations")
    asked: dict[str, Any] = {
        "search": lambda: search(shared_stack, "operations", after_seq=beyond),
        "trail": lambda: httpx.get(
            f"{audit}/v1/referrals/{uuid.uuid4()}/audit",
            params={"after_seq": beyond},
            headers=operations,
            timeout=10,
        ),
        "stream": lambda: httpx.get(
            f"{audit}/v1/audit/stream",
            params={"after_seq": beyond},
            headers=operations,
            timeout=10,
        ),
    }
    for name, ask in asked.items():
        try:
            response = ask()
        except httpx.HTTPError as broken:
            raise AssertionError(f"{name}: {type(broken).__name__}: {broken}") from None
        assert response.status_code == 422, (
            f"{name}: {response.status_code} {response.text[:200]}"
        )
        assert response.headers["content-type"].startswith(
            "application/problem+json"
        ), name
        assert "after_seq" in response.text, name
