"""Where a webhook may point: public https only, unless local development allows otherwise."""

from ipaddress import ip_address

import pytest

from services.notifier.domain.webhooks.targets import (
    address_refusal,
    is_public,
    url_refusal,
)

NOT_PUBLIC = [
    "127.0.0.1",  # this machine
    "10.0.0.5",  # a private network: the database, the broker
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",  # the cloud metadata service
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.1",  # multicast
    "::1",
    "fe80::1",
    "fc00::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.5",
    "64:ff9b::a9fe:a9fe",  # the metadata service through NAT64
]
PUBLIC = [
    "8.8.8.8",
    "151.101.0.1",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_addresses_inside_a_network_are_not_public(address: str) -> None:
    assert not is_public(ip_address(address))
    refusal = address_refusal(
        "agency.example",
        [ip_address("8.8.8.8"), ip_address(address)],
        allow_private=False,
    )
    assert (
        refusal
        == f"the webhook host agency.example resolves to {ip_address(address)}, which is not a public address"
    )


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(ip_address(address))
    assert (
        address_refusal("agency.example", [ip_address(address)], allow_private=False)
        is None
    )


def test_local_development_may_send_to_this_machine() -> None:
    assert (
        address_refusal("localhost", [ip_address("127.0.0.1")], allow_private=True)
        is None
    )


def test_a_host_that_does_not_resolve_is_refused_even_in_development() -> None:
    assert (
        address_refusal("nowhere.invalid", [], allow_private=True)
        == "the webhook host nowhere.invalid does not resolve"
    )


@pytest.mark.parametrize(
    ("url", "allow_private", "refusal"),
    [
        ("https://agency.example/hook", False, None),
        ("http://agency.example/hook", False, "a webhook must use https"),
        ("http://127.0.0.1:9000/hook", True, None),
        ("ftp://agency.example/hook", True, "a webhook must use https"),
        (
            "https://user:token@agency.example/hook",
            False,
            "the webhook URL must not carry a user name or password; the shared secret signs each delivery",
        ),
        (
            "https://token@agency.example/hook",
            True,
            "the webhook URL must not carry a user name or password; the shared secret signs each delivery",
        ),
        ("https:///hook", False, "the webhook URL has no host"),
    ],
)
def test_the_url_itself(url: str, allow_private: bool, refusal: str | None) -> None:
    assert url_refusal(url, allow_private=allow_private) == refusal
