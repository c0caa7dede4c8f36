"""Look up a webhook's host and apply the rules in ``domain.webhooks.targets``.

Run at registration and before every delivery (DNS may have changed since).
A lookup that fails or takes too long counts as "does not resolve": at
registration that is a 422, at delivery a failed attempt that is retried.
"""

import asyncio
import socket
from ipaddress import ip_address
from urllib.parse import urlsplit

from services.notifier.domain.webhooks.targets import (
    Address,
    address_refusal,
    url_refusal,
)

LOOKUP_TIMEOUT_S = 5.0


async def addresses_of(host: str, port: int) -> set[Address]:
    try:
        async with asyncio.timeout(LOOKUP_TIMEOUT_S):
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError):  # socket.gaierror is an OSError
        return set()
    # An IPv6 link-local answer may carry a zone ("fe80::1%eth0"); the address is what is judged.
    return {ip_address(str(info[4][0]).split("%")[0]) for info in found}


async def refusal(url: str, *, allow_private: bool) -> str | None:
    """Why this URL may not be sent to now, or None."""
    problem = url_refusal(url, allow_private=allow_private)
    if problem is not None:
        return problem
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return address_refusal(
        host, await addresses_of(host, port), allow_private=allow_private
    )
