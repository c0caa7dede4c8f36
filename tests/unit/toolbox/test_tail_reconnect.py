"""How ``audit tail`` waits before reconnecting, and what it says when its token is refused."""

import json

from toolbox.audit_tail import (
    MAX_RETRY_AFTER_S,
    RECONNECT_S,
    refusal,
    wait_before_retry,
)


def test_the_services_retry_after_is_honoured_up_to_a_minute() -> None:
    assert wait_before_retry(attempt=0, retry_after="5") == 5.0
    assert wait_before_retry(attempt=0, retry_after="3600") == MAX_RETRY_AFTER_S


def test_without_a_retry_after_the_backoff_grows_then_repeats_its_last_step() -> None:
    assert [wait_before_retry(a, None) for a in range(6)] == [
        *RECONNECT_S,
        RECONNECT_S[-1],
        RECONNECT_S[-1],
    ]
    assert wait_before_retry(1, "soon") == RECONNECT_S[1], (
        "a Retry-After that is not seconds is ignored"
    )


def test_a_refused_token_is_explained_in_the_services_words_with_where_to_resume() -> (
    None
):
    said = refusal(
        401,
        json.dumps({"detail": "the token has expired"}).encode(),
        last_event_id="812",
    )
    assert (
        said
        == "the audit service refused the token (401: the token has expired); resume with --since-id 812"
    )
    assert (
        refusal(403, b"<html>", None)
        == "the audit service refused the token (403: no reason given)"
    )
