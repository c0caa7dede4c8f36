"""Where a webhook may point: a public https endpoint, never into Signpost's own network.

An agency (or an operator acting for it) chooses the URL, and the notifier
then POSTs patient data to it from inside our network. Without a rule, a URL
such as ``http://169.254.169.254/`` or ``http://10.0.0.5:5432/`` turns the
notifier into a way in (server-side request forgery). So every address the
host resolves to must be public, and the scheme must be https. The check runs
when the webhook is registered and again before every delivery, because DNS
may change in between. Local development and tests may allow http and
private addresses (``SIGNPOST_WEBHOOK_ALLOW_PRIVATE``), since their receivers
run on the same machine.
"""

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from urllib.parse import urlsplit

Address = IPv4Address | IPv6Address
_NAT64 = IPv6Network("64:ff9b::/96")  # an IPv4 address behind a NAT64 gateway


def _underlying(address: Address) -> Address:
    """The IPv4 address an IPv6 one stands for (mapped, or NAT64), else itself."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return IPv4Address(int(address) & 0xFFFF_FFFF)
    return address


def is_public(address: Address) -> bool:
    real = _underlying(address)
    return real.is_global and not real.is_multicast


def url_refusal(url: str, *, allow_private: bool) -> str | None:
    """What is wrong with the URL itself, before any lookup; None if nothing."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return "the webhook URL must not carry a user name or password; the shared secret signs each delivery"
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        return "a webhook must use https"
    if not parts.hostname:
        return "the webhook URL has no host"
    return None


def address_refusal(
    host: str, addresses: Iterable[Address], *, allow_private: bool
) -> str | None:
    """Why the host's addresses may not be sent to; None if every one is public (or private ones are allowed)."""
    found = list(addresses)
    if not found:
        return f"the webhook host {host} does not resolve"
    if allow_private:
        return None
    private = [a for a in found if not is_public(a)]
    if private:
        return f"the webhook host {host} resolves to {private[0]}, which is not a public address"
    return None
