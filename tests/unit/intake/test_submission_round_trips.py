"""How many statements intake sends to PostgreSQL to accept one referral: the round trips were the cost.

With an X-Request-Id: the replay look-up, the patient link, and one statement
that stores the referral, its event and the first answer together. No
BEGIN/COMMIT: that statement is atomic by itself.
"""

from types import SimpleNamespace
from typing import Any

from pydantic import SecretStr

from schemas.events import ReferralSubmitted
from services.intake.api.referrals import accept
from services.intake.store.referrals import SUBMISSION, SUBMISSION_ANSWERED
from signpost.clients import Principal
from tests.unit.schemas.factories import referral

GP = Principal("gp-h81001", "H81001", "referrer")


class RecordingConnection:
    """Answers like an empty intake schema and keeps every statement sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        self.sent.append(sql)
        if "patient_links" in sql:
            return {"patient_key": args[1], "conflicting": False}
        return None

    async def execute(self, sql: str, *args: Any) -> str:
        self.sent.append(sql)
        return "INSERT 0 1"

    def transaction(self) -> Any:
        self.sent.append("BEGIN")
        raise AssertionError("accepting a referral needs no transaction")


class Acquired:
    def __init__(self, conn: RecordingConnection) -> None:
        self.conn = conn

    async def __aenter__(self) -> RecordingConnection:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None


def request_for(conn: RecordingConnection) -> Any:
    settings = SimpleNamespace(pseudonym_key=SecretStr("unit-test-pseudonym-key"))
    runtime = SimpleNamespace(
        settings=settings, pool=SimpleNamespace(acquire=lambda: Acquired(conn))
    )
    return SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(runtime=runtime)),
        state=SimpleNamespace(correlation_id="c-1"),
    )


def answer(event: ReferralSubmitted) -> dict[str, Any]:
    return {"referral_id": str(event.referral_id)}


async def test_a_referral_with_a_request_id_is_three_statements_and_no_transaction() -> (
    None
):
    conn = RecordingConnection()
    status, _ = await accept(  # type: ignore[misc]
        request_for(conn), GP, referral(), "r-1", source="json", answer=answer
    )
    assert status == 202
    assert len(conn.sent) == 3
    assert "idempotency_keys" in conn.sent[0]
    assert "patient_links" in conn.sent[1]
    assert conn.sent[2] == SUBMISSION_ANSWERED


async def test_a_referral_without_a_request_id_is_the_link_and_one_statement() -> None:
    conn = RecordingConnection()
    await accept(request_for(conn), GP, referral(), None, source="json", answer=answer)
    assert len(conn.sent) == 2
    assert conn.sent[1] == SUBMISSION
