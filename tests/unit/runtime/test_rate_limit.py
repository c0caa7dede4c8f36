"""Per-client rate limits, decided with the `limits` package's in-memory sliding window counter (no service needed)."""

import contextlib

import pytest
from limits import parse_many
from pydantic import ValidationError

from services.intake.api.fhir.throttle import throttled_outcome
from signpost.clients import Principal
from signpost.rate_limit import (
    Allowances,
    RateLimited,
    RateLimiter,
    describe,
    retry_after,
)
from signpost.settings import Settings

GP = Principal("gp-h81001", "H81001", "referrer")
OTHER_GP = Principal("gp-h81002", "H81002", "referrer")
OPERATIONS = Principal("operations", "QWU", "operations")


def limiter(
    referrer: str = "3/minute", operations: str = "5/minute", **clients: str
) -> RateLimiter:
    by_role = {"referrer": referrer, "agency": "3/minute", "operations": operations}
    return RateLimiter(
        Allowances.parse(by_role, {k.replace("_", "-"): v for k, v in clients.items()})
    )


async def test_a_client_over_its_allowance_is_refused_with_when_to_come_back() -> None:
    limits = limiter()
    for _ in range(3):
        await limits.check(GP)
    with pytest.raises(RateLimited) as refused:
        await limits.check(GP)
    assert refused.value.status_code == 429
    assert 1 <= refused.value.retry_after_s <= 60
    assert refused.value.headers == {"Retry-After": str(refused.value.retry_after_s)}
    assert "3 requests a minute" in str(refused.value.detail)


async def test_each_client_has_its_own_count_and_each_role_its_own_allowance() -> None:
    limits = limiter()
    for _ in range(3):
        await limits.check(GP)
    with pytest.raises(RateLimited):
        await limits.check(GP)
    await limits.check(OTHER_GP)  # same role, its own window
    for _ in range(5):
        await limits.check(OPERATIONS)
    with pytest.raises(RateLimited):
        await limits.check(OPERATIONS)


async def test_a_client_given_its_own_allowance_uses_it_instead_of_its_roles() -> None:
    limits = limiter(gp_h81002="1/minute")
    await limits.check(OTHER_GP)
    with pytest.raises(RateLimited):
        await limits.check(OTHER_GP)
    for _ in range(3):
        await limits.check(GP)


async def test_every_limit_of_several_must_hold_and_a_refused_request_is_not_counted() -> (
    None
):
    limits = limiter(referrer="2/second;3/minute")
    await limits.check(GP)
    await limits.check(GP)
    with pytest.raises(RateLimited) as per_second:
        await limits.check(GP)
    assert "2 requests a second" in str(per_second.value.detail)
    # Refused by the per-second limit, so not counted against the per-minute one either.
    assert (
        await limits._window.get_window_stats(parse_many("3/minute")[0], GP.client_id)
    ).remaining == 1


def test_retry_after_rounds_up_and_is_never_zero() -> None:
    assert retry_after(reset_at=100.2, now=100.0) == 1
    assert retry_after(reset_at=100.0, now=100.0) == 1
    assert retry_after(reset_at=130.5, now=100.0) == 31


def test_limits_read_as_a_developer_would_say_them() -> None:
    said = [describe(i) for i in parse_many("300/minute;20 per 5 seconds")]
    assert said == ["300 requests a minute", "20 requests per 5 seconds"]


def test_the_fhir_refusal_is_a_throttled_operation_outcome_with_the_bars_code() -> None:
    outcome = throttled_outcome("over this client's limit")
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert (issue["severity"], issue["code"]) == ("error", "throttled")
    assert issue["details"]["coding"][0]["code"] == "REC_TOO_MANY_REQUESTS"
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    OperationOutcome.model_validate(outcome)  # a valid FHIR R4 resource


def test_settings_refuse_a_limit_the_limiter_could_not_read() -> None:
    with pytest.raises(ValidationError, match="not a rate limit"):
        Settings(rate_limit_referrer="lots")
    with pytest.raises(ValidationError, match="not a rate limit"):
        Settings(rate_limit_clients={"gp-h81001": "fast"})
    assert (
        Settings(rate_limit_clients={"gp-h81001": "1200/minute"}).rate_limits_by_role()[
            "referrer"
        ]
        == "300/minute"
    )


async def test_a_full_window_still_counts_just_after_its_boundary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fixed window would let a client spend its allowance at 59.9 s and again at 60.1 s: six in 0.2 s.
    clock = [1_000_000 * 60 + 59.9]
    monkeypatch.setattr("time.time", lambda: clock[0])
    limits = limiter()
    for _ in range(3):
        await limits.check(GP)
    clock[0] += 0.2
    let_through = 0
    for _ in range(3):
        with contextlib.suppress(RateLimited):
            await limits.check(GP)
            let_through += 1
    # The counter rounds the weighted count down (2.99 -> 2): one more, never a fresh allowance.
    assert let_through <= 1
    clock[0] += 45  # three quarters of the full window has left the last minute
    await limits.check(GP)
