"""The live stream's limits: slots per client and in all, and when an open stream must end."""

from services.audit.domain.streams import StreamSlots, reason_to_end
from signpost.clients import load_clients
from toolbox.tokens import DEV_DIR

CLIENTS = load_clients(DEV_DIR / "clients.yaml")
OPS = CLIENTS["operations"]


def test_a_client_over_its_stream_cap_is_refused_until_it_gives_one_back() -> None:
    slots = StreamSlots(per_client=2, total=10)
    assert slots.take("operations") is None
    assert slots.take("operations") is None
    refusal = slots.take("operations")
    assert refusal is not None
    assert "2 live streams" in refusal
    assert slots.take("agency-demo-pharmacy") is None  # another client has its own
    slots.give_back("operations")
    assert slots.take("operations") is None


def test_the_total_cap_holds_whoever_asks() -> None:
    slots = StreamSlots(per_client=5, total=3)
    for client in ("a", "b", "c"):
        assert slots.take(client) is None
    assert slots.take("d") is not None
    slots.give_back("b")
    assert slots.take("d") is None
    assert dict(slots.held) == {"a": 1, "c": 1, "d": 1}


def test_a_stream_ends_at_its_tokens_expiry_and_not_before() -> None:
    assert (
        reason_to_end(now=99.9, expires_at=100.0, connected=OPS, registry=None) is None
    )
    assert (
        reason_to_end(now=100.0, expires_at=100.0, connected=OPS, registry=None)
        == "the token expired"
    )


def test_a_stream_ends_when_its_client_is_revoked_at_a_recheck() -> None:
    assert reason_to_end(now=0, expires_at=100, connected=OPS, registry=CLIENTS) is None
    without = {k: v for k, v in CLIENTS.items() if k != "operations"}
    assert (
        reason_to_end(now=0, expires_at=100, connected=OPS, registry=without)
        == "the client is no longer registered"
    )
