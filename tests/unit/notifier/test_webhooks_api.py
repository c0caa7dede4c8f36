"""What an agency may register as its webhook, and how its URL is shown back."""

import pytest
from pydantic import ValidationError

from services.notifier.api.webhooks import Retry, Webhook, shown_url

SECRET = "s" * 32


def test_retries_may_be_spread_from_seconds_up_to_days() -> None:
    bank_holiday = Retry(
        initial_seconds=60, max_seconds=6 * 3600, give_up_after_seconds=4 * 86_400
    )
    assert bank_holiday.give_up_after_seconds == 4 * 86_400


@pytest.mark.parametrize(
    "retry",
    [
        {
            "initial_seconds": 600,
            "max_seconds": 60,
        },  # the longest wait shorter than the first
        {"initial_seconds": 0},
        {
            "give_up_after_seconds": 31 * 86_400
        },  # longer than anyone should wait for a referral
        {"initial_seconds": 60, "factor": 3},  # unknown fields are refused, not ignored
    ],
)
def test_a_retry_policy_that_makes_no_sense_is_refused(retry: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        Retry.model_validate(retry)


def test_a_short_secret_or_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValidationError):
        Webhook.model_validate(
            {"url": "https://agency.example/hook", "secret": "short"}
        )
    with pytest.raises(ValidationError):
        Webhook.model_validate({"url": "ftp://agency.example/hook", "secret": SECRET})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://user:pw@agency.example:8443/hook?token=t0p#x",
            "https://agency.example:8443/hook",
        ),
        ("http://[::1]:9000/in", "http://[::1]:9000/in"),
        ("https://agency.example/hook", "https://agency.example/hook"),
    ],
)
def test_the_url_is_shown_without_what_may_carry_a_credential(
    url: str, shown: str
) -> None:
    assert shown_url(url) == shown
