"""The chaos clients' tokens, whatever the machine's uptime."""

from benchmarks.chaos_faults import Tokens


def minted_names() -> Tokens:
    count = iter(range(1, 100))
    return Tokens(mint=lambda client: f"{client}-{next(count)}", clock=lambda: 0.0)


def test_a_machine_booted_seconds_ago_still_gets_a_token_at_once() -> None:
    # The monotonic clock counts from boot: 12 s after it, a zero start must not pass for a fresh token.
    tokens = Tokens(mint=lambda client: f"token for {client}", clock=lambda: 12.0)
    assert tokens.get("gp") == "token for gp"


def test_a_token_is_reused_until_it_is_due_again() -> None:
    now = [1000.0]
    count = iter(range(1, 100))
    tokens = Tokens(
        mint=lambda client: f"{client}-{next(count)}",
        clock=lambda: now[0],
        refresh_s=300,
    )
    assert tokens.get("gp") == "gp-1"
    now[0] += 299
    assert tokens.get("gp") == "gp-1"
    now[0] += 2
    assert tokens.get("gp") == "gp-2"


def test_each_client_has_its_own_token() -> None:
    tokens = minted_names()
    assert tokens.get("gp") != tokens.get("pharmacy")
